import Logging
import NIOConcurrencyHelpers
import NIOCore
import SpateRecords

/// One segment of a partition's log: `<20-digit base offset>.log` holding v2 batches exactly as appended, with its
/// sparse `.index` and `.timeindex`. Not thread-safe: its ``PartitionLog`` serialises access (only opening the log
/// file has a lock of its own, because flushes and the cleaner reach it outside the log's lock).
///
/// A segment opened after a clean shutdown (``lazy(fileSystem:directory:baseOffset:config:nowMs:)``) knows only its
/// base offset, from the directory listing: its log file is opened (and its size read) on first use, its indexes
/// loaded on first lookup, so that start-up costs nothing per older segment.
final class LogSegment {
    let baseOffset: Int64
    let directory: String
    private let fileSystem: any StorageFileSystem
    /// The log file: not yet opened, open, or closed for good (``close()``, ``markDeleted(fileSystem:)``).
    private enum LogFileState {
        case unopened
        case open(any SegmentFile)
        case closed
    }
    private let logFileLock = NIOLock()
    private var logFileState: LogFileState
    /// The index files, opened on first use so that start-up holds one descriptor per segment, as Kafka does.
    private var openedOffsetIndexFile: (any SegmentFile)?
    private var openedTimeIndexFile: (any SegmentFile)?
    private let indexIntervalBytes: Int
    private let maxIndexBytes: Int
    /// `preallocate`: new log files reserve `segment.bytes` of disk, released past the data when the segment stops
    /// being the active one (also for segments opened from disk, which a crash may have left with blocks reserved).
    private let preallocates: Bool

    /// Loaded on first use (start-up after a clean shutdown does not read index files).
    private var loadedOffsetIndex: OffsetIndex?
    private var loadedTimeIndex: TimeIndex?

    /// Bytes of whole batches in the log file. Readers never see past it, so a failed write is never visible.
    /// Nil until a lazily opened segment's file has been opened.
    private var knownSize: Int64?
    /// One past the last offset in the segment (the base offset when empty). Known once the tail has been read.
    private(set) var nextOffset: Int64
    /// The largest timestamp in the segment and the offset of the batch holding it (-1 when unknown or empty).
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    /// The max timestamp of the first batch, which `segment.ms` counts from (Kafka's rolling-based timestamp).
    private(set) var rollingBasedTimestamp: Int64?
    /// When the segment was created (milliseconds), for `segment.ms` when its first batch has no timestamp.
    let createdMs: Int64
    private var bytesSinceLastIndexEntry = 0
    /// Whether the tail (next offset, max timestamp) has been computed.
    private var tailLoaded: Bool
    /// Whether index entries were written since the index files were last synced.
    private var indexesDirty = false

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The base offset encoded in a segment file name, if it is one.
    static func baseOffset(fromFileName name: String, suffix: String = ".log") -> Int64? {
        guard name.hasSuffix(suffix), name.count == 20 + suffix.count else { return nil }
        return Int64(name.prefix(20))
    }

    private init(
        baseOffset: Int64, directory: String, log: (any SegmentFile)?, fileSystem: any StorageFileSystem,
        offsetIndexFile: (any SegmentFile)?, timeIndexFile: (any SegmentFile)?, config: LogConfig, size: Int64?,
        createdMs: Int64, isNew: Bool
    ) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.logFileState = log.map { .open($0) } ?? .unopened
        self.fileSystem = fileSystem
        self.openedOffsetIndexFile = offsetIndexFile
        self.openedTimeIndexFile = timeIndexFile
        self.indexIntervalBytes = config.indexIntervalBytes
        self.maxIndexBytes = config.segmentIndexBytes
        self.preallocates = config.preallocate
        self.knownSize = size
        self.nextOffset = baseOffset
        self.createdMs = createdMs
        self.tailLoaded = isNew
        if isNew, let offsetIndexFile, let timeIndexFile {
            self.loadedOffsetIndex = OffsetIndex(baseOffset: baseOffset, file: offsetIndexFile, maxIndexBytes: config.segmentIndexBytes)
            self.loadedTimeIndex = TimeIndex(baseOffset: baseOffset, file: timeIndexFile, maxIndexBytes: config.segmentIndexBytes)
        }
    }

    /// Creates an empty segment (and its files; any stale ones are emptied).
    static func create(
        fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64, config: LogConfig, nowMs: Int64
    ) throws(StorageError) -> LogSegment {
        let log = try fileSystem.open(joinPath(directory, Self.fileName(baseOffset, ".log")), create: true)
        let index = try fileSystem.open(joinPath(directory, Self.fileName(baseOffset, ".index")), create: true)
        let timeIndex = try fileSystem.open(joinPath(directory, Self.fileName(baseOffset, ".timeindex")), create: true)
        try log.truncate(to: 0)
        try index.truncate(to: 0)
        try timeIndex.truncate(to: 0)
        // Best effort: without the reservation (a disk too full for it, a file system that cannot), appends allocate
        // as they go, exactly as without `preallocate`.
        if config.preallocate { try? log.preallocate(upTo: config.segmentBytes) }
        return LogSegment(
            baseOffset: baseOffset, directory: directory, log: log, fileSystem: fileSystem, offsetIndexFile: index,
            timeIndexFile: timeIndex, config: config, size: 0, createdMs: nowMs, isNew: true)
    }

    /// Opens an existing segment without reading it: its size comes from the file system, its indexes load on use.
    static func open(
        fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64, config: LogConfig, nowMs: Int64
    ) throws(StorageError) -> LogSegment {
        let log = try fileSystem.open(joinPath(directory, Self.fileName(baseOffset, ".log")), create: false)
        return LogSegment(
            baseOffset: baseOffset, directory: directory, log: log, fileSystem: fileSystem, offsetIndexFile: nil,
            timeIndexFile: nil, config: config, size: try log.size(), createdMs: nowMs, isNew: false)
    }

    /// A segment known only by its base offset (from a directory listing): nothing is opened or read until it is
    /// used. For segments that are not the active one after a clean shutdown.
    static func lazy(
        fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64, config: LogConfig, nowMs: Int64
    ) -> LogSegment {
        LogSegment(
            baseOffset: baseOffset, directory: directory, log: nil, fileSystem: fileSystem, offsetIndexFile: nil,
            timeIndexFile: nil, config: config, size: nil, createdMs: nowMs, isNew: false)
    }

    // MARK: The log file

    /// The log file, opened on first use.
    /// - Throws: ``StorageError/Code/closed`` once the segment is closed or deleted; the open's error otherwise.
    func logFile() throws(StorageError) -> any SegmentFile {
        self.logFileLock.lock()
        defer { self.logFileLock.unlock() }
        switch self.logFileState {
        case .open(let file):
            return file
        case .closed:
            throw StorageError(.closed, "segment \(self.baseOffset) in \(self.directory) is closed")
        case .unopened:
            let file = try self.fileSystem.open(joinPath(self.directory, Self.fileName(self.baseOffset, ".log")), create: false)
            self.logFileState = .open(file)
            return file
        }
    }

    /// The log file if it has been opened (flushes need not open a file nothing was written to).
    private var openedLogFile: (any SegmentFile)? {
        self.logFileLock.withLock {
            if case .open(let file) = self.logFileState { return file }
            return nil
        }
    }

    /// Whether the log file has been opened (for tests of lazy opening).
    var isLogFileOpen: Bool { self.openedLogFile != nil }

    /// Bytes of whole batches in the log file (its size, read when a lazily opened segment is first used).
    var size: Int64 {
        get throws(StorageError) {
            if let size = self.knownSize { return size }
            let size = try self.logFile().size()
            self.knownSize = size
            return size
        }
    }

    // MARK: Indexes

    private var offsetIndexFile: any SegmentFile {
        get throws(StorageError) {
            if let file = self.openedOffsetIndexFile { return file }
            let file = try self.fileSystem.open(joinPath(self.directory, Self.fileName(self.baseOffset, ".index")), create: true)
            self.openedOffsetIndexFile = file
            return file
        }
    }

    private var timeIndexFile: any SegmentFile {
        get throws(StorageError) {
            if let file = self.openedTimeIndexFile { return file }
            let file = try self.fileSystem.open(
                joinPath(self.directory, Self.fileName(self.baseOffset, ".timeindex")), create: true)
            self.openedTimeIndexFile = file
            return file
        }
    }

    /// The offset index, loading it (and rebuilding it from the log if it fails its sanity check) on first use.
    private func offsetIndex() throws(StorageError) -> OffsetIndex {
        if let index = self.loadedOffsetIndex { return index }
        var index = OffsetIndex(baseOffset: self.baseOffset, file: try self.offsetIndexFile, maxIndexBytes: self.maxIndexBytes)
        var time = TimeIndex(baseOffset: self.baseOffset, file: try self.timeIndexFile, maxIndexBytes: self.maxIndexBytes)
        if try index.load(logSize: try self.size), try time.load(maxOffset: Int64.max) {
            self.loadedOffsetIndex = index
            self.loadedTimeIndex = time
            return index
        }
        try self.rebuildIndexes()
        return self.loadedOffsetIndex!
    }

    private func timeIndex() throws(StorageError) -> TimeIndex {
        _ = try self.offsetIndex()
        return self.loadedTimeIndex!
    }

    /// Discards both indexes and rebuilds them by scanning the log, which must be valid up to ``size``.
    func rebuildIndexes() throws(StorageError) {
        var scanner = BatchScanner(file: try self.logFile(), from: 0, end: try self.size)
        var headers: [StoredBatchHeader] = []
        while let header = try scanner.nextHeader() { headers.append(header) }
        try self.rebuildIndexes(from: headers)
    }

    /// Discards both indexes and rebuilds them from the headers of every batch in the segment, in order.
    func rebuildIndexes(from headers: [StoredBatchHeader]) throws(StorageError) {
        var index = OffsetIndex(baseOffset: self.baseOffset, file: try self.offsetIndexFile, maxIndexBytes: self.maxIndexBytes)
        var time = TimeIndex(baseOffset: self.baseOffset, file: try self.timeIndexFile, maxIndexBytes: self.maxIndexBytes)
        try index.reset()
        try time.reset()
        var sinceLast = 0
        var maxTimestamp: Int64 = -1
        var offsetOfMax: Int64 = -1
        var next = self.baseOffset
        var first: Int64?
        for header in headers {
            if first == nil { first = header.maxTimestamp }
            if header.maxTimestamp > maxTimestamp {
                maxTimestamp = header.maxTimestamp
                offsetOfMax = header.lastOffset
            }
            if sinceLast > self.indexIntervalBytes {
                try index.append(offset: header.lastOffset, position: header.position)
                try time.maybeAppend(timestamp: maxTimestamp, offset: offsetOfMax)
                sinceLast = 0
            }
            sinceLast += header.size
            next = header.nextOffset
        }
        if maxTimestamp >= 0 { try time.maybeAppend(timestamp: maxTimestamp, offset: offsetOfMax) }
        self.loadedOffsetIndex = index
        self.loadedTimeIndex = time
        self.indexesDirty = true
        self.bytesSinceLastIndexEntry = sinceLast
        self.nextOffset = next
        self.maxTimestamp = maxTimestamp
        self.offsetOfMaxTimestamp = offsetOfMax
        self.rollingBasedTimestamp = first
        self.tailLoaded = true
    }

    /// Computes the next offset and max timestamp by scanning from the last index entry (cheap: at most an index
    /// interval of log). Needed for the active segment after a clean start.
    func loadTail() throws(StorageError) {
        guard !self.tailLoaded else { return }
        let index = try self.offsetIndex()
        guard !self.tailLoaded else { return }  // loading may have rebuilt everything
        let time = try self.timeIndex()
        let start = index.lookup(offset: Int64.max)
        // Headers only, and at most an index interval of them: small reads (this runs for every partition at
        // start-up).
        var scanner = BatchScanner(
            file: try self.logFile(), from: start.position, end: try self.size, chunkSize: BatchScanner.headerChunkSize)
        var next = self.baseOffset
        var sinceLast = 0
        var firstTimestamp: Int64?
        self.maxTimestamp = time.lastEntry?.timestamp ?? -1
        self.offsetOfMaxTimestamp = time.lastEntry?.offset ?? -1
        while let header = try scanner.nextHeader() {
            if header.position == 0 { firstTimestamp = header.maxTimestamp }
            if header.maxTimestamp > self.maxTimestamp {
                self.maxTimestamp = header.maxTimestamp
                self.offsetOfMaxTimestamp = header.lastOffset
            }
            sinceLast += header.size
            next = header.nextOffset
        }
        if firstTimestamp == nil, try self.size > 0 {
            var first = BatchScanner(
                file: try self.logFile(), from: 0, end: try self.size, chunkSize: RecordBatch.headerSize)
            firstTimestamp = try first.nextHeader()?.maxTimestamp
        }
        self.rollingBasedTimestamp = firstTimestamp
        self.nextOffset = next
        self.bytesSinceLastIndexEntry = sinceLast
        self.tailLoaded = true
    }

    var isIndexFull: Bool {
        (self.loadedOffsetIndex?.isFull ?? false) || (self.loadedTimeIndex?.isFull ?? false)
    }

    // MARK: Append

    /// Appends stamped batches (given as the pieces to write, `byteCount` bytes in all) in one gather write, then
    /// indexes them. All or nothing: on any
    /// failure (disk full on the log or an index file, a short write) the files are cut back and the segment's
    /// state is restored, so no partial batch is ever visible and the next append reuses the same offsets.
    func append(parts: [ByteBuffer], byteCount: Int, headers: [StoredBatchHeader]) throws(StorageError) {
        try self.loadTail()
        let start = try self.size
        let saved = (
            self.nextOffset, self.maxTimestamp, self.offsetOfMaxTimestamp, self.rollingBasedTimestamp,
            self.bytesSinceLastIndexEntry
        )
        do {
            try self.logFile().write(gathering: parts, at: start)
        } catch {
            try? self.logFile().truncate(to: start)
            throw error
        }
        var index = try self.offsetIndex()
        var time = try self.timeIndex()
        // Hold the only reference while appending, so that adding entries does not copy the entry arrays.
        self.loadedOffsetIndex = nil
        self.loadedTimeIndex = nil
        defer {
            self.loadedOffsetIndex = index
            self.loadedTimeIndex = time
        }
        do {
            for header in headers {
                let position = start + header.position
                if self.rollingBasedTimestamp == nil { self.rollingBasedTimestamp = header.maxTimestamp }
                if header.maxTimestamp > self.maxTimestamp {
                    self.maxTimestamp = header.maxTimestamp
                    self.offsetOfMaxTimestamp = header.lastOffset
                }
                if self.bytesSinceLastIndexEntry > self.indexIntervalBytes {
                    self.indexesDirty = true
                    try index.append(offset: header.lastOffset, position: position)
                    try time.maybeAppend(timestamp: self.maxTimestamp, offset: self.offsetOfMaxTimestamp)
                    self.bytesSinceLastIndexEntry = 0
                }
                self.bytesSinceLastIndexEntry += header.size
                self.nextOffset = header.nextOffset
            }
        } catch {
            (
                self.nextOffset, self.maxTimestamp, self.offsetOfMaxTimestamp, self.rollingBasedTimestamp,
                self.bytesSinceLastIndexEntry
            ) = saved
            try? self.logFile().truncate(to: start)
            // Drop the entries this append added, in memory and in the files.
            try? index.truncate(toPosition: start)
            try? time.truncate(toOffset: saved.0)
            throw error
        }
        self.knownSize = start + Int64(byteCount)
    }

    /// Called when the segment stops being the active one: records its max timestamp in the time index so that
    /// time-based retention and lookups need not scan it.
    func onBecomeInactive() throws(StorageError) {
        self.releasePreallocatedBlocks()
        try self.loadTail()
        guard self.maxTimestamp >= 0 else { return }
        var time = try self.timeIndex()
        self.loadedTimeIndex = nil
        defer { self.loadedTimeIndex = time }
        self.indexesDirty = true
        try time.maybeAppend(timestamp: self.maxTimestamp, offset: self.offsetOfMaxTimestamp)
    }

    /// With `preallocate`, cuts the log file to the bytes of its whole batches, which releases the disk blocks reserved
    /// past them (the file's size does not change: the reservation never moved it). Best effort, like the
    /// reservation: a failure costs only disk space until the segment is deleted, so it must not fail a roll.
    private func releasePreallocatedBlocks() {
        guard self.preallocates, let size = self.knownSize, let file = self.openedLogFile else { return }
        try? file.truncate(to: size)
    }

    /// The largest timestamp in the segment, from the time index (no log scan) unless the tail is already known.
    func largestTimestamp() throws(StorageError) -> Int64 {
        if self.tailLoaded { return self.maxTimestamp }
        return try self.timeIndex().lastEntry?.timestamp ?? -1
    }

    // MARK: Read

    /// The header of the first batch whose last offset is at or above `offset`, if any.
    func findBatch(containing offset: Int64) throws(StorageError) -> StoredBatchHeader? {
        let start = try self.offsetIndex().lookup(offset: offset)
        var scanner = BatchScanner(
            file: try self.logFile(), from: start.position, end: try self.size, chunkSize: BatchScanner.headerChunkSize)
        while let header = try scanner.nextHeader() {
            if header.lastOffset >= offset { return header }
        }
        return nil
    }

    /// The byte range to serve for a fetch from `offset`: from the start of the batch holding it, at most `maxBytes`
    /// (but at least that whole first batch when `minOneBatch`), never past `maxPosition`.
    func readRange(from offset: Int64, maxBytes: Int, maxPosition: Int64, minOneBatch: Bool)
        throws(StorageError) -> (position: Int64, length: Int, firstBatch: StoredBatchHeader)?
    {
        guard let first = try self.findBatch(containing: offset), first.position < maxPosition else { return nil }
        let available = maxPosition - first.position
        let wanted = minOneBatch ? max(maxBytes, first.size) : maxBytes
        let length = Int(min(Int64(wanted), available))
        guard length > 0 else { return nil }
        return (first.position, length, first)
    }

    /// The first record at or after `timestamp`: its offset and timestamp. Compressed batches are decompressed with
    /// `compressor` to find the record inside them.
    func findRecord(atOrAfter timestamp: Int64, from startOffset: Int64, compressor: (any RecordsCompressor)?)
        throws(StorageError) -> (offset: Int64, timestamp: Int64)?
    {
        let scanFrom = max(try self.timeIndex().lookup(timestamp: timestamp), startOffset)
        let position = try self.offsetIndex().lookup(offset: scanFrom).position
        var scanner = BatchScanner(file: try self.logFile(), from: position, end: try self.size)
        while let (header, batch) = try scanner.nextBatch() {
            guard header.maxTimestamp >= timestamp, header.lastOffset >= startOffset else { continue }
            let records: [Record]
            do {
                records = try batch.records(using: compressor, maxDecompressedSize: 64 << 20)
            } catch {
                throw StorageError(.corrupt, "cannot read records at offset \(header.baseOffset): \(error)")
            }
            for record in records where record.offset >= startOffset && record.timestamp >= timestamp {
                return (record.offset, record.timestamp)
            }
        }
        return nil
    }

    // MARK: Recovery and truncation

    /// Validates every batch (length, magic, CRC) and rebuilds the indexes. Cuts the log at the first invalid
    /// batch and returns the number of bytes dropped (0 when the segment was intact).
    func recover() throws(StorageError) -> Int64 {
        var scanner = BatchScanner(file: try self.logFile(), from: 0, end: try self.logFile().size())
        var validEnd: Int64 = 0
        var expectedNext = self.baseOffset
        var headers: [StoredBatchHeader] = []
        do {
            while let (header, _) = try scanner.nextBatch() {
                // Offsets only grow (compaction leaves gaps, never overlaps); bytes that break this are not ours.
                guard header.baseOffset >= expectedNext else { break }
                expectedNext = header.nextOffset
                validEnd = header.position + Int64(header.size)
                headers.append(header)
            }
        } catch where error.code == .corrupt {
            // Stop at the first batch that does not validate; everything from it on is dropped.
        }
        let fileSize = try self.logFile().size()
        let dropped = fileSize - validEnd
        if dropped > 0 { try self.logFile().truncate(to: validEnd) }
        self.knownSize = validEnd
        try self.rebuildIndexes(from: headers)
        return dropped
    }

    /// Removes every batch at or after `offset` (the batch holding `offset` goes too, so cut on batch boundaries).
    func truncate(to offset: Int64) throws(StorageError) -> Int64 {
        guard let header = try self.findBatch(containing: offset) else { return 0 }
        let cut = header.baseOffset >= offset ? header.position : header.position + Int64(header.size)
        let dropped = try self.size - cut
        try self.logFile().truncate(to: cut)
        self.knownSize = cut
        try self.rebuildIndexes()
        return dropped
    }

    // MARK: Lifecycle

    /// Makes the log file durable. Index files are not synced here: they are rebuildable, checked when loaded, and
    /// synced when the segment rolls or closes (``flushIncludingIndexes()``), so a flush costs one fsync.
    func flush() throws(StorageError) {
        try self.openedLogFile?.sync()
    }

    /// Writes the index entries still buffered in memory to the index files (before they are synced or closed).
    func writePendingIndexEntries() throws(StorageError) {
        if self.loadedOffsetIndex?.hasPendingEntries == true {
            var index = self.loadedOffsetIndex!
            self.loadedOffsetIndex = nil  // the only reference, so writing does not copy the entry arrays
            defer { self.loadedOffsetIndex = index }
            try index.writePending()
        }
        if self.loadedTimeIndex?.hasPendingEntries == true {
            var time = self.loadedTimeIndex!
            self.loadedTimeIndex = nil
            defer { self.loadedTimeIndex = time }
            try time.writePending()
        }
    }

    /// Makes the index files durable if they are open (they may have been rebuilt or written since start-up).
    func syncOpenIndexes() throws(StorageError) {
        guard self.indexesDirty else { return }
        try self.writePendingIndexEntries()
        try self.openedOffsetIndexFile?.sync()
        try self.openedTimeIndexFile?.sync()
        self.indexesDirty = false
    }

    /// Makes the log file and both index files durable (on roll and close).
    func flushIncludingIndexes() throws(StorageError) {
        try self.writePendingIndexEntries()
        try self.openedLogFile?.sync()
        try self.openedOffsetIndexFile?.sync()
        try self.openedTimeIndexFile?.sync()
        self.indexesDirty = false
    }

    func close() {
        // Best effort: an index without its newest entries is still correct (only sparser).
        try? self.writePendingIndexEntries()
        let log = self.logFileLock.withLock { () -> (any SegmentFile)? in
            defer { self.logFileState = .closed }
            if case .open(let file) = self.logFileState { return file }
            return nil
        }
        try? log?.close()
        try? self.openedOffsetIndexFile?.close()
        try? self.openedTimeIndexFile?.close()
    }

    /// The suffixes of the files a segment owns.
    static let suffixes = [".log", ".index", ".timeindex"]

    /// Renames the segment's files to `*.deleted` (they are removed later) and closes them.
    func markDeleted(fileSystem: any StorageFileSystem) throws(StorageError) -> [String] {
        self.close()
        var renamed: [String] = []
        for suffix in Self.suffixes {
            let path = joinPath(self.directory, Self.fileName(self.baseOffset, suffix))
            guard fileSystem.fileExists(path) else { continue }
            try fileSystem.rename(path, to: path + ".deleted")
            renamed.append(path + ".deleted")
        }
        return renamed
    }
}
