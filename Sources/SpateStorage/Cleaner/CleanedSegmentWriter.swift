import NIOCore

/// Writes `<base>.log.cleaned` and its `.index.cleaned`/`.timeindex.cleaned` sequentially, indexing batches as
/// `LogSegment.rebuildIndexes` does (one entry per `index.interval.bytes`, plus the max timestamp at the end).
struct CleanedSegmentWriter {
    static let flushThreshold = 1 << 20

    let directory: String
    let baseOffset: Int64
    private let fileSystem: any StorageFileSystem
    private let log: any SegmentFile
    private let offsetIndexFile: any SegmentFile
    private let timeIndexFile: any SegmentFile
    private var offsetIndex: OffsetIndex
    private var timeIndex: TimeIndex
    private let indexIntervalBytes: Int
    private var pending = ByteBuffer()
    private(set) var size: Int64 = 0
    private var sinceLastIndexEntry = 0
    private var maxTimestamp: Int64 = -1
    private var offsetOfMaxTimestamp: Int64 = -1

    init(fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64, config: LogConfig)
        throws(StorageError)
    {
        self.fileSystem = fileSystem
        self.directory = directory
        self.baseOffset = baseOffset
        self.indexIntervalBytes = config.indexIntervalBytes
        func open(_ suffix: String) throws(StorageError) -> any SegmentFile {
            let file = try fileSystem.open(
                CleanerSwap.path(directory, baseOffset, suffix, CleanerSwap.cleanedSuffix), create: true)
            try file.truncate(to: 0)
            return file
        }
        self.log = try open(".log")
        self.offsetIndexFile = try open(".index")
        self.timeIndexFile = try open(".timeindex")
        let maxIndexBytes = config.segmentIndexBytes
        self.offsetIndex = OffsetIndex(baseOffset: baseOffset, file: self.offsetIndexFile, maxIndexBytes: maxIndexBytes)
        self.timeIndex = TimeIndex(baseOffset: baseOffset, file: self.timeIndexFile, maxIndexBytes: maxIndexBytes)
        self.pending.reserveCapacity(Self.flushThreshold + 64 * 1024)
    }

    /// Appends one whole, valid batch.
    mutating func append(_ batch: ByteBuffer, lastOffset: Int64, maxTimestamp: Int64) throws(StorageError) {
        let position = self.size
        if maxTimestamp > self.maxTimestamp {
            self.maxTimestamp = maxTimestamp
            self.offsetOfMaxTimestamp = lastOffset
        }
        if self.sinceLastIndexEntry > self.indexIntervalBytes {
            try self.offsetIndex.append(offset: lastOffset, position: position)
            try self.timeIndex.maybeAppend(timestamp: self.maxTimestamp, offset: self.offsetOfMaxTimestamp)
            self.sinceLastIndexEntry = 0
        }
        self.sinceLastIndexEntry += batch.readableBytes
        self.size += Int64(batch.readableBytes)
        var batch = batch
        self.pending.writeBuffer(&batch)
        if self.pending.readableBytes >= Self.flushThreshold { try self.writePending() }
    }

    private mutating func writePending() throws(StorageError) {
        guard self.pending.readableBytes > 0 else { return }
        try self.log.write(self.pending, at: self.size - Int64(self.pending.readableBytes))
        self.pending.clear()
    }

    /// Writes what is buffered, records the max timestamp in the time index, fsyncs and closes the three files.
    mutating func finish() throws(StorageError) {
        try self.writePending()
        if self.maxTimestamp >= 0 {
            try self.timeIndex.maybeAppend(timestamp: self.maxTimestamp, offset: self.offsetOfMaxTimestamp)
        }
        try self.offsetIndex.writePending()
        try self.timeIndex.writePending()
        for file in [self.log, self.offsetIndexFile, self.timeIndexFile] {
            try file.sync()
            try file.close()
        }
    }

    /// Closes and removes the files (the segment needed no change, or cleaning failed).
    func abandon() {
        for file in [self.log, self.offsetIndexFile, self.timeIndexFile] { try? file.close() }
        CleanerSwap.discard(fileSystem: self.fileSystem, directory: self.directory, baseOffset: self.baseOffset)
    }
}
