import NIOCore

/// Kafka's offset checkpoint files at the data-directory root (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`): a version line (0), a count line, then `topic partition offset` lines.
/// Written atomically (temporary file, fsync, rename, directory fsync).
struct OffsetCheckpointFile {
    let path: String
    let fileSystem: any StorageFileSystem

    func write(_ offsets: [TopicPartition: Int64]) throws {
        var text = "0\n\(offsets.count)\n"
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            text += "\(partition.topic) \(partition.partition) \(offset)\n"
        }
        try self.fileSystem.writeFileAtomically(self.path, contents: ByteBuffer(string: text))
    }

    /// The offsets in the file; empty when it is missing. A malformed file is an error: the caller treats every
    /// partition as unchecked (full recovery), as Kafka does.
    func read() throws -> [TopicPartition: Int64] {
        guard let buffer = try self.fileSystem.readWholeFile(self.path) else { return [:] }
        let lines = String(buffer: buffer).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.isEmpty }
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), lines.count == count + 2 else {
            throw StorageError(.corrupt, "malformed checkpoint file \(self.path)")
        }
        var offsets: [TopicPartition: Int64] = [:]
        for line in lines.dropFirst(2) {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let partition = Int32(parts[1]), let offset = Int64(parts[2]) else {
                throw StorageError(.corrupt, "malformed line in \(self.path): \(line)")
            }
            offsets[TopicPartition(topic: String(parts[0]), partition: partition)] = offset
        }
        return offsets
    }
}
