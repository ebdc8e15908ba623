import NIOCore

/// A segment's sparse offset index (`<base>.index`): 8-byte entries of a 4-byte offset relative to the segment's base
/// and a 4-byte position in its log file, both big-endian, in increasing order. An entry maps the last offset of a
/// batch to the position where that batch starts, so a lookup gives a position at or before any larger offset.
struct OffsetIndex {
    static let entrySize = 8

    let baseOffset: Int64
    let file: any SegmentFile
    let maxEntries: Int
    private(set) var relativeOffsets: [UInt32] = []
    private(set) var positions: [UInt32] = []
    /// How many of the entries are in the file; the rest are written together by ``writePending()`` once
    /// ``pendingLimit`` accumulate, and before the file is synced or closed. (An index that lacks its newest entries
    /// is still correct, only sparser, and crash recovery rebuilds the indexes it cannot trust anyway: so appends
    /// need not write 8 bytes each, which was one `pwrite` per indexed append.)
    private(set) var writtenCount = 0

    /// Entries buffered before they are written: 512 entries, 4 KiB.
    static let pendingLimit = 512

    var count: Int { self.relativeOffsets.count }
    var hasPendingEntries: Bool { self.writtenCount < self.count }
    var isFull: Bool { self.count >= self.maxEntries }

    init(baseOffset: Int64, file: any SegmentFile, maxIndexBytes: Int) {
        self.baseOffset = baseOffset
        self.file = file
        self.maxEntries = max(1, maxIndexBytes / Self.entrySize)
    }

    /// Loads the entries from the file; returns false (leaving the index empty) if the file fails a sanity check:
    /// a size that is not a whole number of entries, entries out of order, or positions beyond `logSize`.
    mutating func load(logSize: Int64) throws(StorageError) -> Bool {
        let size = try self.file.size()
        guard size % Int64(Self.entrySize) == 0 else { return false }
        var bytes = try self.file.read(at: 0, length: Int(size))
        var offsets: [UInt32] = []
        var positions: [UInt32] = []
        offsets.reserveCapacity(Int(size) / Self.entrySize)
        positions.reserveCapacity(Int(size) / Self.entrySize)
        while let (relative, position) = bytes.readMultipleIntegers(as: (UInt32, UInt32).self) {
            if let last = offsets.last, relative <= last || position <= positions.last! { return false }
            guard Int64(position) < logSize else { return false }
            offsets.append(relative)
            positions.append(position)
        }
        self.relativeOffsets = offsets
        self.positions = positions
        self.writtenCount = offsets.count
        return true
    }

    /// Adds an entry (written to the file with the next ``pendingLimit`` entries, or by ``writePending()``). Entries
    /// must increase in both offset and position.
    mutating func append(offset: Int64, position: Int64) throws(StorageError) {
        let relative = UInt32(truncatingIfNeeded: offset - self.baseOffset)
        if let last = self.relativeOffsets.last, relative <= last || UInt32(truncatingIfNeeded: position) <= self.positions.last! {
            return
        }
        self.relativeOffsets.append(relative)
        self.positions.append(UInt32(truncatingIfNeeded: position))
        if self.count - self.writtenCount >= Self.pendingLimit { try self.writePending() }
    }

    /// Writes the entries not yet in the file, in one write. On failure they stay pending (a partly written tail is
    /// overwritten by the next attempt).
    mutating func writePending() throws(StorageError) {
        guard self.writtenCount < self.count else { return }
        var bytes = ByteBuffer()
        bytes.reserveCapacity((self.count - self.writtenCount) * Self.entrySize)
        for index in self.writtenCount..<self.count {
            bytes.writeMultipleIntegers(self.relativeOffsets[index], self.positions[index])
        }
        try self.file.write(bytes, at: Int64(self.writtenCount * Self.entrySize))
        self.writtenCount = self.count
    }

    /// The entry with the largest offset at or below `offset`, or the segment start.
    func lookup(offset: Int64) -> (offset: Int64, position: Int64) {
        let target = offset - self.baseOffset
        guard target >= 0, let first = self.relativeOffsets.first, Int64(first) <= target else {
            return (self.baseOffset, 0)
        }
        var low = 0
        var high = self.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if Int64(self.relativeOffsets[middle]) <= target { low = middle } else { high = middle - 1 }
        }
        return (self.baseOffset + Int64(self.relativeOffsets[low]), Int64(self.positions[low]))
    }

    /// Removes every entry at or beyond `position` in the log (for log truncation).
    mutating func truncate(toPosition position: Int64) throws(StorageError) {
        let keep = self.positions.firstIndex { Int64($0) >= position } ?? self.count
        self.relativeOffsets.removeSubrange(keep...)
        self.positions.removeSubrange(keep...)
        self.writtenCount = min(self.writtenCount, keep)
        try self.file.truncate(to: Int64(self.writtenCount * Self.entrySize))
    }

    /// Removes every entry and empties the file (before a rebuild).
    mutating func reset() throws(StorageError) {
        self.relativeOffsets = []
        self.positions = []
        self.writtenCount = 0
        try self.file.truncate(to: 0)
    }
}
