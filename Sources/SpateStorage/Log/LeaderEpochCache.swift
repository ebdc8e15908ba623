import NIOCore

/// The partition's leader epochs and the first offset of each (`leader-epoch-checkpoint`), so that a follower can ask
/// where an epoch ended (OffsetForLeaderEpoch) and truncate diverging history. Kafka's file format: a version line
/// (0), a count line, then `epoch startOffset` lines.
struct LeaderEpochCache {
    static let fileName = "leader-epoch-checkpoint"

    private(set) var entries: [(epoch: Int32, startOffset: Int64)] = []

    var latestEpoch: Int32? { self.entries.last?.epoch }

    /// Records that `epoch` starts at `offset`; returns whether anything changed. Older or equal epochs are ignored.
    mutating func assign(epoch: Int32, startOffset: Int64) -> Bool {
        guard epoch >= 0 else { return false }
        if let last = self.entries.last, epoch <= last.epoch { return false }
        self.entries.append((epoch, startOffset))
        return true
    }

    /// The end offset of `epoch` for OffsetForLeaderEpoch, by Kafka's rule (`LeaderEpochFileCache.endOffsetFor`): the
    /// latest epoch ends at `logEndOffset`; an older one ends where the next larger epoch starts, reported with the
    /// largest epoch at or below it (or the requested epoch itself if it is below every known epoch); (-1, -1) for
    /// epoch -1 and for an epoch above every known one.
    func endOffset(for epoch: Int32, logEndOffset: Int64) -> (epoch: Int32, endOffset: Int64) {
        if epoch < 0 { return (-1, -1) }
        if self.latestEpoch == epoch { return (epoch, logEndOffset) }
        guard let higher = self.entries.firstIndex(where: { $0.epoch > epoch }) else { return (-1, -1) }
        let floor = self.entries.lastIndex(where: { $0.epoch <= epoch })
        return (floor.map { self.entries[$0].epoch } ?? epoch, self.entries[higher].startOffset)
    }

    /// Drops epochs that start at or after `offset` (after truncating the log's end).
    mutating func truncateFromEnd(_ offset: Int64) {
        self.entries.removeAll { $0.startOffset >= offset }
    }

    /// Moves the first epoch's start up to a new log start offset.
    mutating func truncateFromStart(_ offset: Int64) {
        while self.entries.count > 1 && self.entries[1].startOffset <= offset { self.entries.removeFirst() }
        if !self.entries.isEmpty && self.entries[0].startOffset < offset { self.entries[0].startOffset = offset }
    }

    func encoded() -> ByteBuffer {
        var text = "0\n\(self.entries.count)\n"
        for entry in self.entries { text += "\(entry.epoch) \(entry.startOffset)\n" }
        return ByteBuffer(string: text)
    }

    /// Parses a checkpoint; nil if it is malformed (it is then rebuilt empty, as Kafka does).
    init?(parsing buffer: ByteBuffer) {
        let lines = String(buffer: buffer).split(separator: "\n")
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), lines.count == count + 2 else { return nil }
        for line in lines.dropFirst(2) {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let epoch = Int32(parts[0]), let start = Int64(parts[1]) else { return nil }
            self.entries.append((epoch, start))
        }
    }

    init() {}
}
