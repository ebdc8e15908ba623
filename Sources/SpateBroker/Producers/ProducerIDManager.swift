import NIOConcurrencyHelpers
import NIOCore
import SpateStorage

/// Hands out producer IDs, never the same one twice, even across restarts.
///
/// IDs come in blocks (Kafka's controller hands brokers blocks of 1000 through `AllocateProducerIds`). The file
/// `producer-id-block` in the data directory holds the first ID of the next block; it is replaced atomically (and
/// fsynced) *before* any ID of a new block is handed out, so a crash can only skip IDs, never reuse one.
final class ProducerIDManager: Sendable {
    static let fileName = "producer-id-block"
    static let blockSize: Int64 = 1000

    private let path: String
    private let fileSystem: any StorageFileSystem
    /// The next ID to hand out, and the end (exclusive) of the block on disk.
    private let state: NIOLockedValueBox<(next: Int64, blockEnd: Int64)>

    private init(path: String, fileSystem: any StorageFileSystem, nextBlock: Int64) {
        self.path = path
        self.fileSystem = fileSystem
        self.state = NIOLockedValueBox((nextBlock, nextBlock))
    }

    /// Reads the next block's start from `dataDirectory` (0 when there is no file yet).
    static func load(dataDirectory: String, fileSystem: any StorageFileSystem) throws -> ProducerIDManager {
        let path = dataDirectory + "/" + Self.fileName
        var next: Int64 = 0
        if let buffer = try fileSystem.readWholeFile(path) {
            var values: [String: String] = [:]
            for line in String(buffer: buffer).split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            guard values["version"] == "1", let value = values["next.block.start"].flatMap({ Int64($0) }), value >= 0 else {
                throw StorageError(.corrupt, "\(path) has no valid next.block.start")
            }
            next = value
        }
        return ProducerIDManager(path: path, fileSystem: fileSystem, nextBlock: next)
    }

    /// A new producer ID. Does file I/O when a block is used up: call it on the storage thread pool.
    /// - Throws: A ``StorageError`` when the next block cannot be recorded (no ID is handed out then).
    func generate() throws -> Int64 {
        try self.state.withLockedValue { state in
            if state.next >= state.blockEnd {
                let end = state.next + Self.blockSize
                try self.fileSystem.writeFileAtomically(
                    self.path, contents: ByteBuffer(string: "version=1\nnext.block.start=\(end)\n"))
                state.blockEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
