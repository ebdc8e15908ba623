import NIOCore

/// A segment's sparse time index (`<base>.timeindex`): 12-byte entries of an 8-byte timestamp and a 4-byte offset
/// relative to the segment's base, both increasing. An entry says "records up to this offset have timestamps up to
/// this one"; lookups by timestamp start from the entry before the target and scan the log forward.
struct TimeIndex {
    static let entrySize = 12

    let baseOffset: Int64
    let file: any SegmentFile
    let maxEntries: Int
    private(set) var timestamps: [Int64] = []
    private(set) var relativeOffsets: [UInt32] = []
    /// How many of the entries are in the file; the rest are written together, as for ``OffsetIndex``.
    private(set) var writtenCount = 0

    var count: Int { self.timestamps.count }
    var hasPendingEntries: Bool { self.writtenCount < self.count }
    var isFull: Bool { self.count >= self.maxEntries }
    var lastEntry: (timestamp: Int64, offset: Int64)? {
        guard let timestamp = self.timestamps.last else { return nil }
        return (timestamp, self.baseOffset + Int64(self.relativeOffsets.last!))
    }

    init(baseOffset: Int64, file: any SegmentFile, maxIndexBytes: Int) {
        self.baseOffset = baseOffset
        self.file = file
        self.maxEntries = max(1, maxIndexBytes / Self.entrySize)
    }

    /// Loads the entries; returns false (leaving the index empty) if the file fails a sanity check.
    mutating func load(maxOffset: Int64) throws(StorageError) -> Bool {
        let size = try self.file.size()
        guard size % Int64(Self.entrySize) == 0 else { return false }
        var bytes = try self.file.read(at: 0, length: Int(size))
        var timestamps: [Int64] = []
        var offsets: [UInt32] = []
        while let (timestamp, relative) = bytes.readMultipleIntegers(as: (Int64, UInt32).self) {
            if let last = timestamps.last, timestamp <= last || relative < offsets.last! { return false }
            guard self.baseOffset + Int64(relative) <= maxOffset else { return false }
            timestamps.append(timestamp)
            offsets.append(relative)
        }
        self.timestamps = timestamps
        self.relativeOffsets = offsets
        self.writtenCount = timestamps.count
        return true
    }

    /// Adds an entry if `timestamp` is newer than the last one (written to the file with the next
    /// ``OffsetIndex/pendingLimit`` entries, or by ``writePending()``).
    mutating func maybeAppend(timestamp: Int64, offset: Int64) throws(StorageError) {
        if let last = self.timestamps.last, timestamp <= last { return }
        let relative = UInt32(truncatingIfNeeded: offset - self.baseOffset)
        if let last = self.relativeOffsets.last, relative < last { return }
        self.timestamps.append(timestamp)
        self.relativeOffsets.append(relative)
        if self.count - self.writtenCount >= OffsetIndex.pendingLimit { try self.writePending() }
    }

    /// Writes the entries not yet in the file, in one write; on failure they stay pending.
    mutating func writePending() throws(StorageError) {
        guard self.writtenCount < self.count else { return }
        var bytes = ByteBuffer()
        bytes.reserveCapacity((self.count - self.writtenCount) * Self.entrySize)
        for index in self.writtenCount..<self.count {
            bytes.writeMultipleIntegers(self.timestamps[index], self.relativeOffsets[index])
        }
        try self.file.write(bytes, at: Int64(self.writtenCount * Self.entrySize))
        self.writtenCount = self.count
    }

    /// The offset to start scanning from for the first record with a timestamp at or after `timestamp`: the offset
    /// of the last entry whose timestamp is below it, or the segment start.
    func lookup(timestamp: Int64) -> Int64 {
        guard let index = self.timestamps.lastIndex(where: { $0 < timestamp }) else { return self.baseOffset }
        return self.baseOffset + Int64(self.relativeOffsets[index])
    }

    mutating func truncate(toOffset offset: Int64) throws(StorageError) {
        let keep = self.relativeOffsets.firstIndex { self.baseOffset + Int64($0) >= offset } ?? self.count
        self.timestamps.removeSubrange(keep...)
        self.relativeOffsets.removeSubrange(keep...)
        self.writtenCount = min(self.writtenCount, keep)
        try self.file.truncate(to: Int64(self.writtenCount * Self.entrySize))
    }

    mutating func reset() throws(StorageError) {
        self.timestamps = []
        self.relativeOffsets = []
        self.writtenCount = 0
        try self.file.truncate(to: 0)
    }
}
