public import Logging
public import NIOCore
import NIOConcurrencyHelpers
public import SpateRecords

/// What an append did.
public struct AppendResult: Sendable, Hashable {
    /// The offset given to the first record, and to the last.
    public var firstOffset: Int64
    public var lastOffset: Int64
    /// The largest timestamp appended (after LogAppendTime stamping), and the broker time used for LogAppendTime
    /// (-1 for CreateTime topics).
    public var maxTimestamp: Int64
    public var logAppendTime: Int64
    public var logStartOffset: Int64
    public var batchCount: Int
    public var recordCount: Int
    public var byteCount: Int
    /// True when the batch was a retry of one of the producer's last five batches: nothing was appended, and the
    /// offsets (and timestamp) are the original batch's (Kafka answers such retries with the original offsets).
    public var isDuplicate = false
}

/// Bytes to serve for a fetch: a range of one segment file, suitable for `sendfile`.
public struct FetchSlice: @unchecked Sendable {
    /// The segment's log file (kept open while the slice lives, even if the segment is deleted meanwhile).
    public let file: any SegmentFile
    public let position: Int64
    public let length: Int
    /// The base offset of the first batch in the range.
    public let firstBatchOffset: Int64

    /// Reads the range (for TLS connections and tests; plaintext connections send the file range directly).
    public func readBytes() throws -> ByteBuffer {
        try self.file.read(at: self.position, length: self.length)
    }
}

/// A partition's log: an ordered, durable sequence of record batches in segment files, in Kafka's layout.
///
/// Thread-safe (one lock); every method is synchronous and does file I/O, so call it from the storage thread pool
/// (``StorageIO``), never from an event loop. `fsync` runs outside the lock (see ``flush(nowMs:)``) so appends and
/// reads continue while a flush is in progress.
public final class PartitionLog: @unchecked Sendable {
    public let topicPartition: TopicPartition
    public let directory: String
    let fileSystem: any StorageFileSystem
    let compressor: (any RecordsCompressor)?
    let logger: Logger

    private let lock = NIOLock()
    private var _config: LogConfig
    /// Sorted by base offset; never empty; the last one is active.
    private var segments: [LogSegment]
    private var _logStartOffset: Int64
    /// Everything below this offset is fsynced.
    private var _recoveryPoint: Int64
    private var unflushedMessages: Int64 = 0
    private var lastFlushMs: Int64
    private var epochs: LeaderEpochCache
    private var pendingDeletes: [(path: String, dueMs: Int64)] = []
    private var isClosed = false
    /// Producer IDs, epochs and last batches, for idempotence; changed only with appends, under the lock.
    private var producers: ProducerStateManager
    /// The offset of the newest snapshot written or loaded, and whether the state changed since.
    private var lastSnapshotOffset: Int64?
    private var producersChangedSinceSnapshot = false

    private init(
        topicPartition: TopicPartition, directory: String, fileSystem: any StorageFileSystem,
        compressor: (any RecordsCompressor)?, logger: Logger, config: LogConfig, segments: [LogSegment],
        logStartOffset: Int64, recoveryPoint: Int64, epochs: LeaderEpochCache, producers: ProducerStateManager,
        lastSnapshotOffset: Int64?, nowMs: Int64
    ) {
        self.producers = producers
        self.lastSnapshotOffset = lastSnapshotOffset
        self.topicPartition = topicPartition
        self.directory = directory
        self.fileSystem = fileSystem
        self.compressor = compressor
        self.logger = logger
        self._config = config
        self.segments = segments
        self._logStartOffset = logStartOffset
        self._recoveryPoint = recoveryPoint
        self.epochs = epochs
        self.lastFlushMs = nowMs
    }

    // MARK: Opening and recovery

    /// Opens (or creates) the log in `directory`.
    ///
    /// After a clean shutdown nothing is scanned: segments open lazily and only the active segment's tail is read.
    /// After a crash, every segment from the one holding `recoveryPoint` on is validated batch by batch (length,
    /// magic, CRC-32C); the log is cut at the first invalid batch (logged with the offsets and bytes dropped), later
    /// segments are removed, and indexes are rebuilt.
    public static func open(
        directory: String, topicPartition: TopicPartition, config: LogConfig, fileSystem: any StorageFileSystem,
        compressor: (any RecordsCompressor)?, recoveryPoint: Int64, logStartOffset: Int64,
        hadCleanShutdown: Bool, nowMs: Int64, logger: Logger
    ) throws -> PartitionLog {
        try config.validate()
        var logger = logger
        logger[metadataKey: LogKey.topic] = "\(topicPartition.topic)"
        logger[metadataKey: LogKey.partition] = "\(topicPartition.partition)"
        try fileSystem.createDirectoryDurably(directory)
        // One directory listing serves the whole open (unless a cleaner swap had to be completed, which renames).
        var names = try fileSystem.contentsOfDirectory(directory)
        // A compaction swap interrupted by a crash is completed or rolled back first (see CleanerSwap).
        if try completeInterruptedCleanerSwaps(fileSystem: fileSystem, directory: directory, names: names) {
            names = try fileSystem.contentsOfDirectory(directory)
        }
        // Leftovers of interrupted operations: deletions finish, temporary and half-cleaned files go.
        var bases: [Int64] = []
        var snapshotOffsets: [Int64] = []
        for name in names {
            let path = joinPath(directory, name)
            if name.hasSuffix(".deleted") || name.hasSuffix(".cleaned") || name.hasSuffix(".tmp") {
                try fileSystem.remove(path)
            } else if name.hasSuffix(".swap") {
                try fileSystem.rename(path, to: String(path.dropLast(".swap".count)))
                if let base = LogSegment.baseOffset(fromFileName: String(name.dropLast(".swap".count))) {
                    bases.append(base)
                }
            } else if let base = LogSegment.baseOffset(fromFileName: name) {
                bases.append(base)
            } else if let offset = ProducerStateManager.snapshotOffset(fromFileName: name) {
                snapshotOffsets.append(offset)
            }
        }
        bases = Array(Set(bases)).sorted()
        snapshotOffsets.sort()
        // Only the last (active) segment is opened now; older ones open their files when first used, so start-up
        // costs one directory listing however many segments there are. (Crash recovery below opens the segments it
        // validates.)
        var segments: [LogSegment] = []
        segments.reserveCapacity(bases.count)
        for base in bases.dropLast() {
            segments.append(
                LogSegment.lazy(fileSystem: fileSystem, directory: directory, baseOffset: base, config: config, nowMs: nowMs))
        }
        if let last = bases.last {
            segments.append(
                try LogSegment.open(fileSystem: fileSystem, directory: directory, baseOffset: last, config: config, nowMs: nowMs))
        }
        if segments.isEmpty {
            segments.append(
                try LogSegment.create(
                    fileSystem: fileSystem, directory: directory, baseOffset: max(0, logStartOffset), config: config,
                    nowMs: nowMs))
            try fileSystem.syncDirectory(directory)
        }

        var recoveryPoint = recoveryPoint
        var needsRecovery = !hadCleanShutdown
        if hadCleanShutdown {
            do {
                try segments.last!.loadTail()
            } catch {
                guard error.code == .corrupt else { throw error }
                // Spate writes nothing after a clean shutdown, so this is outside damage: recover this log rather
                // than refuse to start.
                logger.warning(
                    "The active segment is damaged despite a clean shutdown; recovering the log",
                    metadata: ["spate.segment": "\(segments.last!.baseOffset)", "spate.error": "\(error)"])
                needsRecovery = true
                recoveryPoint = segments.last!.baseOffset
            }
        }
        if needsRecovery {
            let startIndex = segments.lastIndex { $0.baseOffset <= recoveryPoint } ?? 0
            var index = startIndex
            while index < segments.count {
                let segment = segments[index]
                let dropped = try segment.recover()
                if dropped > 0 {
                    logger.warning(
                        "Truncated a torn or corrupt log tail during recovery",
                        metadata: [
                            "spate.segment": "\(segment.baseOffset)", "spate.valid_end_offset": "\(segment.nextOffset)",
                            "spate.bytes_dropped": "\(dropped)",
                        ])
                    // Nothing after a corrupt batch can be trusted: later segments go.
                    for later in segments[(index + 1)...] {
                        logger.warning(
                            "Removed a segment after a corrupt one", metadata: ["spate.segment": "\(later.baseOffset)"])
                        _ = try later.markDeleted(fileSystem: fileSystem)
                    }
                    segments.removeSubrange((index + 1)...)
                    break
                }
                index += 1
            }
            // An empty trailing segment left by a crash right after a roll is fine; an empty segment in the middle
            // cannot occur because rolls create the next segment only at the end.
            recoveryPoint = min(recoveryPoint, segments.last!.nextOffset)
            if let first = segments.first, recoveryPoint < first.baseOffset { recoveryPoint = first.baseOffset }
        }
        let logEnd = segments.last!.nextOffset
        let start = min(max(logStartOffset, segments.first!.baseOffset), logEnd)

        var epochs = LeaderEpochCache()
        if let bytes = try fileSystem.readWholeFile(joinPath(directory, LeaderEpochCache.fileName)) {
            if let parsed = LeaderEpochCache(parsing: bytes) {
                epochs = parsed
            } else {
                logger.warning("Ignored a malformed leader-epoch-checkpoint")
            }
        }
        epochs.truncateFromEnd(logEnd + 1)

        let (producers, snapshotOffset) = try Self.loadProducerState(
            directory: directory, fileSystem: fileSystem, segments: segments, upTo: logEnd, logger: logger,
            snapshotOffsets: snapshotOffsets)

        let log = PartitionLog(
            topicPartition: topicPartition, directory: directory, fileSystem: fileSystem, compressor: compressor,
            logger: logger, config: config, segments: segments, logStartOffset: start,
            recoveryPoint: needsRecovery ? recoveryPoint : logEnd, epochs: epochs, producers: producers,
            lastSnapshotOffset: snapshotOffset, nowMs: nowMs)
        log.producersChangedSinceSnapshot = snapshotOffset != logEnd && !producers.producers.isEmpty
        logger.debug(
            "Opened partition log",
            metadata: [
                "spate.log_start_offset": "\(start)", "spate.log_end_offset": "\(logEnd)",
                "spate.segments": "\(segments.count)", "spate.clean_shutdown": "\(hadCleanShutdown)",
            ])
        return log
    }

    // MARK: State

    public var config: LogConfig {
        get { self.lock.withLock { self._config } }
        set { self.lock.withLock { self._config = newValue } }
    }

    /// The offset the next appended record gets.
    public var logEndOffset: Int64 { self.lock.withLock { self.segments.last!.nextOffset } }
    /// The first offset a reader may fetch.
    public var logStartOffset: Int64 { self.lock.withLock { self._logStartOffset } }
    /// Everything below this offset is durable (fsynced).
    public var recoveryPoint: Int64 { self.lock.withLock { self._recoveryPoint } }
    /// The bytes in all segments (opening the files of segments not yet used, to read their sizes).
    public var sizeInBytes: Int64 {
        get throws {
            try self.lock.withLock { () throws -> Int64 in try self.segments.reduce(0) { try $0 + $1.size } }
        }
    }
    public var segmentCount: Int { self.lock.withLock { self.segments.count } }
    /// The base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { self.lock.withLock { self.segments.map(\.baseOffset) } }
    /// The latest leader epoch appended, if any.
    public var latestEpoch: Int32? { self.lock.withLock { self.epochs.latestEpoch } }

    /// The end offset of `epoch` for OffsetForLeaderEpoch.
    public func endOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
        self.lock.withLock { self.epochs.endOffset(for: epoch, logEndOffset: self.segments.last!.nextOffset) }
    }

    // MARK: Append

    /// Appends the batches of a produce request, giving them the next offsets.
    ///
    /// Each batch is validated (magic 2, lengths, CRC-32C), must fit `max.message.bytes`, and is stamped: its
    /// `baseOffset`, `partitionLeaderEpoch` and, with `LogAppendTime`, timestamp type, max timestamp and CRC are set
    /// in a copy of its 61-byte header, and the records follow as received — one gather write, no copy of the
    /// payload, nothing decompressed.
    /// - Throws: ``StorageError`` (`.corrupt` for an invalid batch, `.recordTooLarge`, or an I/O error, after which
    ///   the log is unchanged).
    public func append(
        _ records: RecordSet, leaderEpoch: Int32, timestampType: TimestampType = .createTime, nowMs: Int64
    ) throws -> AppendResult {
        let batches: [RecordBatch]
        do {
            batches = try records.validateBatches()
        } catch {
            throw StorageError(.corrupt, "invalid record batch: \(error)")
        }
        return try self.append(validated: batches, leaderEpoch: leaderEpoch, timestampType: timestampType, nowMs: nowMs)
    }

    /// Appends batches the caller has already validated with `RecordSet.validateBatches()` (the broker does, to
    /// answer with Kafka's error codes), so that their CRCs are not computed a second time. Otherwise as
    /// ``append(_:leaderEpoch:timestampType:nowMs:)``.
    public func append(
        validated batches: [RecordBatch], leaderEpoch: Int32, timestampType: TimestampType = .createTime, nowMs: Int64
    ) throws -> AppendResult {
        guard !batches.isEmpty else { throw StorageError(.corrupt, "no record batch in the records") }
        let result = try self.lock.withLock { () throws -> AppendResult in
            guard !self.isClosed else { throw StorageError(.closed, "\(self.topicPartition) is closed") }
            for batch in batches where batch.sizeInBytes > self._config.maxMessageBytes {
                throw StorageError(
                    .recordTooLarge,
                    "a batch of \(batch.sizeInBytes) bytes exceeds max.message.bytes (\(self._config.maxMessageBytes))")
            }
            for batch in batches where Int64(batch.sizeInBytes) > self._config.segmentBytes {
                throw StorageError(
                    .recordTooLarge,
                    "a batch of \(batch.sizeInBytes) bytes exceeds segment.bytes (\(self._config.segmentBytes))")
            }
            let totalBytes = batches.reduce(0) { $0 + $1.sizeInBytes }
            var offset = self.segments.last!.nextOffset
            let firstOffset = offset
            // Idempotence: a retry of one of the producer's last batches is answered with the original offsets and
            // not appended; otherwise epochs and sequences are checked (Kafka `analyzeAndValidateProducerState`).
            var producerUpdates: [Int64: ProducerStateEntry] = [:]
            do {
                var next = offset
                for batch in batches {
                    let last = next + Int64(batch.lastOffsetDelta)
                    defer { next = last + 1 }
                    let id = batch.producerID
                    guard id >= 0, !batch.isControl else { continue }
                    if producerUpdates[id] == nil, let entry = self.producers.entry(for: id),
                        let original = entry.duplicate(
                            epoch: batch.producerEpoch, firstSequence: batch.baseSequence, lastSequence: batch.lastSequence)
                    {
                        return AppendResult(
                            firstOffset: original.firstOffset, lastOffset: original.lastOffset,
                            maxTimestamp: original.timestamp,
                            logAppendTime: timestampType == .logAppendTime ? original.timestamp : -1,
                            logStartOffset: self._logStartOffset, batchCount: 0, recordCount: 0, byteCount: 0,
                            isDuplicate: true)
                    }
                    let batchTimestamp = timestampType == .logAppendTime ? nowMs : batch.maxTimestamp
                    producerUpdates[id] = try self.producers.validated(
                        pending: producerUpdates[id], producerID: id, epoch: batch.producerEpoch,
                        firstSequence: batch.baseSequence,
                        batch: ProducerBatchMetadata(
                            firstSequence: batch.baseSequence, lastSequence: batch.lastSequence, firstOffset: next,
                            lastOffset: last, timestamp: batchTimestamp))
                }
            }
            var headers: [StoredBatchHeader] = []
            headers.reserveCapacity(batches.count)
            // What is written: per batch, a stamped copy of its 61-byte header, then its records exactly as received
            // (a slice of the request, not copied), in one gather write. The stamped headers are copied side by side
            // into one buffer (one allocation per append, not one per batch) and stamped there; slices of it are taken
            // only once every header is in (a slice shares the storage, so writing after it would copy the buffer).
            var stampedHeaders = ByteBufferAllocator().buffer(capacity: batches.count * RecordBatch.headerSize)
            var position = 0
            var maxTimestamp: Int64 = -1
            var recordCount = 0
            let appendTime = timestampType == .logAppendTime ? nowMs : -1
            for batch in batches {
                let bytes = batch.buffer
                let head = stampedHeaders.writerIndex
                stampedHeaders.writeImmutableBuffer(
                    bytes.getSlice(at: bytes.readerIndex, length: RecordBatch.headerSize)!)
                stampedHeaders.setInteger(offset, at: head + RecordBatch.FieldOffset.baseOffset)
                stampedHeaders.setInteger(leaderEpoch, at: head + RecordBatch.FieldOffset.partitionLeaderEpoch)
                var batchMax = batch.maxTimestamp
                if timestampType == .logAppendTime {
                    var attributes = batch.attributes
                    attributes.timestampType = .logAppendTime
                    stampedHeaders.setInteger(attributes.rawValue, at: head + RecordBatch.FieldOffset.attributes)
                    stampedHeaders.setInteger(nowMs, at: head + RecordBatch.FieldOffset.maxTimestamp)
                    // The CRC covers attributes through the end: the stamped header's tail, then the records.
                    let covered = stampedHeaders.getSlice(
                        at: head + RecordBatch.FieldOffset.attributes,
                        length: RecordBatch.headerSize - RecordBatch.FieldOffset.attributes)!
                    stampedHeaders.setInteger(
                        CRC32C.update(CRC32C.checksum(covered), batch.recordsSection),
                        at: head + RecordBatch.FieldOffset.crc)
                    batchMax = nowMs
                }
                let last = offset + Int64(batch.lastOffsetDelta)
                headers.append(
                    StoredBatchHeader(
                        position: Int64(position), baseOffset: offset, size: batch.sizeInBytes, lastOffset: last,
                        maxTimestamp: batchMax, magic: batch.magic))
                maxTimestamp = max(maxTimestamp, batchMax)
                recordCount += Int(batch.recordCount)
                offset = last + 1
                position += batch.sizeInBytes
            }
            var parts: [ByteBuffer] = []
            parts.reserveCapacity(batches.count * 2)
            for (index, batch) in batches.enumerated() {
                parts.append(
                    stampedHeaders.getSlice(at: index * RecordBatch.headerSize, length: RecordBatch.headerSize)!)
                parts.append(batch.recordsSection)
            }
            let lastOffset = offset - 1
            try self.maybeRoll(incomingBytes: totalBytes, maxTimestamp: maxTimestamp, lastOffset: lastOffset, nowMs: nowMs)
            try self.segments.last!.append(parts: parts, byteCount: position, headers: headers)
            if !producerUpdates.isEmpty {
                self.producers.commit(producerUpdates)
                self.producersChangedSinceSnapshot = true
            }
            if self.epochs.assign(epoch: leaderEpoch, startOffset: firstOffset) { try self.writeEpochCheckpoint() }
            self.unflushedMessages += Int64(recordCount)
            let result = AppendResult(
                firstOffset: firstOffset, lastOffset: lastOffset, maxTimestamp: maxTimestamp, logAppendTime: appendTime,
                logStartOffset: self._logStartOffset, batchCount: batches.count, recordCount: recordCount,
                byteCount: position)
            return result
        }
        // flush.messages: fsync once that many messages are unflushed (outside the lock, like every flush).
        if self.needsFlushByMessages { try self.flush(nowMs: nowMs) }
        return result
    }

    /// Whether `flush.messages` asks for an fsync now.
    public var needsFlushByMessages: Bool {
        self.lock.withLock { self._config.flushMessages.map { self.unflushedMessages >= $0 } ?? false }
    }

    /// Rolls to a new segment when the active one is full (`segment.bytes`), old (`segment.ms`), has a full index,
    /// or cannot hold the offsets relative to its base. Call with the lock held.
    private func maybeRoll(incomingBytes: Int, maxTimestamp: Int64, lastOffset: Int64, nowMs: Int64) throws {
        let active = self.segments.last!
        let activeSize = try active.size
        guard activeSize > 0 else { return }
        let full = activeSize + Int64(incomingBytes) > self._config.segmentBytes
        let reference = active.rollingBasedTimestamp.map { (maxTimestamp >= 0 ? maxTimestamp : nowMs) - $0 }
            ?? (nowMs - active.createdMs)
        let old = reference >= self._config.segmentTime.inMilliseconds
        let overflow = lastOffset - active.baseOffset > Int64(Int32.max)
        guard full || old || overflow || active.isIndexFull else { return }
        try self.rollLocked(nowMs: nowMs)
    }

    /// Closes the active segment for appends and starts a new one at the log end offset. Call with the lock held.
    ///
    /// The old segment is fsynced first, so a newer segment only ever exists on disk once every older one is whole:
    /// otherwise a power loss could keep the new segment but lose the old one's tail, leaving a gap in the offsets
    /// that recovery (which checks each segment on its own) would not notice. Rolls are rare (1 GiB by default).
    private func rollLocked(nowMs: Int64) throws {
        let active = self.segments.last!
        try active.onBecomeInactive()
        try active.flushIncludingIndexes()
        // Older segments were fsynced at their own rolls, unless they came out of a crash recovery unflushed: the
        // recovery point may only move past this segment if it had already reached its start.
        if self._recoveryPoint >= active.baseOffset {
            self._recoveryPoint = max(self._recoveryPoint, active.nextOffset)
        }
        let segment = try LogSegment.create(
            fileSystem: self.fileSystem, directory: self.directory, baseOffset: active.nextOffset, config: self._config,
            nowMs: nowMs)
        self.segments.append(segment)
        try self.fileSystem.syncDirectory(self.directory)
        // Kafka snapshots producer state at every roll, so recovery never replays more than the active segment.
        try self.writeProducerSnapshotLocked()
        self.logger.debug("Rolled a new segment", metadata: ["spate.segment": "\(segment.baseOffset)"])
    }

    /// Rolls now (if the active segment holds anything); for tests and administrative use.
    public func roll(nowMs: Int64) throws {
        try self.lock.withLock { () throws in
            guard try self.segments.last!.size > 0 else { return }
            try self.rollLocked(nowMs: nowMs)
        }
    }

    // MARK: Flush

    /// Makes everything appended so far durable and advances the recovery point; returns the offset now durable.
    ///
    /// The fsyncs run outside the lock, so appends continue meanwhile; a flush covers at least everything appended
    /// before it started. Concurrent callers should share flushes through ``GroupCommit``.
    @discardableResult
    public func flush(nowMs: Int64) throws -> Int64 {
        let (target, dirty) = self.lock.withLock { () -> (Int64, [LogSegment]) in
            let target = self.segments.last!.nextOffset
            let dirty = self.segments.filter { $0.nextOffset > self._recoveryPoint || $0 === self.segments.last! }
            self.unflushedMessages = 0
            return (target, dirty)
        }
        for segment in dirty {
            do {
                try segment.flush()
            } catch {
                // A segment deleted or replaced meanwhile (retention, compaction) has nothing left to flush.
                if error.code != .closed { throw error }
            }
        }
        self.lock.withLock {
            self._recoveryPoint = max(self._recoveryPoint, target)
            self.lastFlushMs = nowMs
        }
        return target
    }

    /// Whether `flush.ms` asks for an fsync now.
    public func needsFlushByTime(nowMs: Int64) -> Bool {
        self.lock.withLock {
            guard let interval = self._config.flushInterval else { return false }
            return self._recoveryPoint < self.segments.last!.nextOffset && nowMs - self.lastFlushMs >= interval.inMilliseconds
        }
    }

    // MARK: Read

    /// The bytes to serve for a fetch at `offset`: from the start of the batch holding it, up to `maxBytes` (but at
    /// least one whole batch when `minOneBatch`), never past `maxOffset` (exclusive; e.g. the high watermark).
    /// Returns nil when there is nothing to read yet.
    /// - Throws: ``StorageError/Code/offsetOutOfRange`` below the log start or above the log end.
    public func read(from offset: Int64, maxBytes: Int, maxOffset: Int64? = nil, minOneBatch: Bool = true)
        throws -> FetchSlice?
    {
        try self.lock.withLock { () throws -> FetchSlice? in
            let end = self.segments.last!.nextOffset
            guard offset >= self._logStartOffset, offset <= end else {
                throw StorageError(
                    .offsetOutOfRange, "offset \(offset) is outside [\(self._logStartOffset), \(end)] of \(self.topicPartition)")
            }
            let limit = min(maxOffset ?? end, end)
            guard offset < limit else { return nil }
            var index = self.segments.lastIndex { $0.baseOffset <= offset } ?? 0
            while index < self.segments.count {
                let segment = self.segments[index]
                // A segment ends where the next begins; only the active one knows its end from its own tail.
                let segmentEnd = index < self.segments.count - 1 ? self.segments[index + 1].baseOffset : segment.nextOffset
                let maxPosition: Int64
                if limit >= segmentEnd {
                    maxPosition = try segment.size
                } else if let bound = try segment.findBatch(containing: limit) {
                    // Stop before the batch holding `limit` (Kafka translates the bound to that batch's position).
                    maxPosition = bound.position
                } else {
                    maxPosition = try segment.size
                }
                if let range = try segment.readRange(
                    from: offset, maxBytes: maxBytes, maxPosition: maxPosition, minOneBatch: minOneBatch)
                {
                    return FetchSlice(
                        file: try segment.logFile(), position: range.position, length: range.length,
                        firstBatchOffset: range.firstBatch.baseOffset)
                }
                // The offset fell in a gap (compaction) at the end of this segment: continue in the next one.
                index += 1
            }
            return nil
        }
    }

    /// The first record with a timestamp at or after `timestamp` (ListOffsets by timestamp), or nil if none.
    public func offset(forTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        try self.lock.withLock { () throws -> (offset: Int64, timestamp: Int64)? in
            for segment in self.segments {
                guard try segment.size > 0 else { continue }
                guard try segment.largestTimestamp() >= timestamp || segment === self.segments.last! else { continue }
                if let found = try segment.findRecord(
                    atOrAfter: timestamp, from: self._logStartOffset, compressor: self.compressor)
                {
                    return found
                }
            }
            return nil
        }
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets `MAX_TIMESTAMP`), or nil for
    /// an empty log.
    public func maxTimestampRecord() throws -> (offset: Int64, timestamp: Int64)? {
        try self.lock.withLock { () throws -> (offset: Int64, timestamp: Int64)? in
            var best: (segment: LogSegment, timestamp: Int64)?
            for segment in self.segments {
                guard try segment.size > 0 else { continue }
                let largest = try segment.largestTimestamp()
                if largest >= 0, largest > (best?.timestamp ?? -1) { best = (segment, largest) }
            }
            guard let best else { return nil }
            return try best.segment.findRecord(atOrAfter: best.timestamp, from: self._logStartOffset, compressor: self.compressor)
        }
    }

    // MARK: Retention and deletion

    /// Advances the log start offset (DeleteRecords) and deletes the segments wholly below it.
    /// - Throws: ``StorageError/Code/offsetOutOfRange`` beyond the log end offset.
    @discardableResult
    public func deleteRecords(before offset: Int64, nowMs: Int64) throws -> Int64 {
        try self.lock.withLock { () throws -> Int64 in
            let end = self.segments.last!.nextOffset
            guard offset <= end else {
                throw StorageError(.offsetOutOfRange, "offset \(offset) is beyond the log end offset \(end)")
            }
            if offset > self._logStartOffset {
                self._logStartOffset = offset
                self.epochs.truncateFromStart(offset)
                try self.writeEpochCheckpoint()
            }
            try self.deleteSegments(nowMs: nowMs) { segment, next in next != nil && next!.baseOffset <= self._logStartOffset }
            return self._logStartOffset
        }
    }

    /// Applies `retention.ms` and `retention.bytes` (when `cleanup.policy` includes `delete`); returns the number of
    /// segments deleted. The active segment is never deleted.
    @discardableResult
    public func enforceRetention(nowMs: Int64) throws -> Int {
        try self.lock.withLock { () throws -> Int in
            guard self._config.cleanupPolicy.contains(.delete) else { return 0 }
            var deleted = 0
            if let retention = self._config.retentionTime {
                deleted += try self.deleteSegments(nowMs: nowMs) { segment, next in
                    guard next != nil else { return false }
                    return try nowMs - segment.largestTimestamp() > retention.inMilliseconds
                }
            }
            if let limit = self._config.retentionBytes {
                var excess = try self.segments.reduce(0) { try $0 + $1.size } - limit
                deleted += try self.deleteSegments(nowMs: nowMs) { segment, next in
                    guard next != nil else { return false }
                    let size = try segment.size
                    guard excess - size >= 0 else { return false }
                    excess -= size
                    return true
                }
            }
            return deleted
        }
    }

    /// Deletes segments from the oldest while `shouldDelete(segment, nextSegment)` holds (never the active one),
    /// moving the log start offset past them. Call with the lock held.
    @discardableResult
    private func deleteSegments(
        nowMs: Int64, while shouldDelete: (LogSegment, LogSegment?) throws -> Bool
    ) throws -> Int {
        var count = 0
        while self.segments.count > 1 {
            let segment = self.segments[0]
            guard try shouldDelete(segment, self.segments[1]) else { break }
            self.segments.removeFirst()
            let renamed = try segment.markDeleted(fileSystem: self.fileSystem)
            let due = nowMs + self._config.fileDeleteDelay.inMilliseconds
            self.pendingDeletes += renamed.map { ($0, due) }
            self._logStartOffset = max(self._logStartOffset, self.segments[0].baseOffset)
            count += 1
            self.logger.debug("Deleted a segment", metadata: ["spate.segment": "\(segment.baseOffset)"])
        }
        if count > 0 {
            self.epochs.truncateFromStart(self._logStartOffset)
            try self.writeEpochCheckpoint()
            try self.deleteProducerSnapshots(below: self.segments[0].baseOffset)
            try self.fileSystem.syncDirectory(self.directory)
        }
        return count
    }

    /// Removes `.deleted` files whose `file.delete.delay.ms` has passed; returns how many were removed.
    @discardableResult
    public func removeDeletedFiles(nowMs: Int64) -> Int {
        let due = self.lock.withLock { () -> [String] in
            let due = self.pendingDeletes.filter { $0.dueMs <= nowMs }.map(\.path)
            self.pendingDeletes.removeAll { $0.dueMs <= nowMs }
            return due
        }
        for path in due { try? self.fileSystem.remove(path) }
        return due.count
    }

    /// Removes every record at or after `offset` (a follower truncating diverging history).
    public func truncate(to offset: Int64) throws {
        try self.lock.withLock { () throws in
            guard offset < self.segments.last!.nextOffset else { return }
            while self.segments.count > 1, self.segments.last!.baseOffset >= offset {
                let segment = self.segments.removeLast()
                _ = try segment.markDeleted(fileSystem: self.fileSystem)
            }
            let active = self.segments.last!
            _ = try active.truncate(to: offset)
            self.epochs.truncateFromEnd(active.nextOffset)
            try self.writeEpochCheckpoint()
            self._recoveryPoint = min(self._recoveryPoint, active.nextOffset)
            self._logStartOffset = min(self._logStartOffset, active.nextOffset)
            // Forget what the removed batches did: reload from the newest snapshot below the cut and replay.
            let (producers, snapshotOffset) = try Self.loadProducerState(
                directory: self.directory, fileSystem: self.fileSystem, segments: self.segments,
                upTo: active.nextOffset, logger: self.logger)
            self.producers = producers
            self.lastSnapshotOffset = snapshotOffset
            self.producersChangedSinceSnapshot = snapshotOffset != active.nextOffset && !producers.producers.isEmpty
        }
    }

    private func writeEpochCheckpoint() throws {
        try self.fileSystem.writeFileAtomically(
            joinPath(self.directory, LeaderEpochCache.fileName), contents: self.epochs.encoded())
    }

    // MARK: Lifecycle

    /// Flushes, records the active segment's max timestamp, and closes every file.
    public func close(nowMs: Int64) throws {
        let alreadyClosed = self.lock.withLock { () -> Bool in
            defer { self.isClosed = true }
            return self.isClosed
        }
        guard !alreadyClosed else { return }
        try self.flush(nowMs: nowMs)
        try self.lock.withLock { () throws in
            try self.segments.last!.onBecomeInactive()
            try self.segments.last!.flushIncludingIndexes()
            for segment in self.segments.dropLast() { try segment.syncOpenIndexes() }
            // A clean start then loads producer state without reading the log.
            let end = self.segments.last!.nextOffset
            let nothingToReplay = self.producers.producers.isEmpty && end == self.segments.first!.baseOffset
            if self.producersChangedSinceSnapshot || (self.lastSnapshotOffset != end && !nothingToReplay) {
                try self.writeProducerSnapshotLocked()
            }
            for segment in self.segments { segment.close() }
        }
    }

    /// Closes the log and removes its directory (topic deletion).
    public func deleteAll() throws {
        self.lock.withLock {
            self.isClosed = true
            for segment in self.segments { segment.close() }
        }
        try self.fileSystem.remove(self.directory)
        try self.fileSystem.syncDirectory(parentDirectory(of: self.directory))
    }

    // MARK: For the cleaner

    /// Runs `body` with the segments under the lock (log compaction swaps segments through this).
    func withSegments<T>(_ body: (inout [LogSegment]) throws -> T) throws -> T {
        try self.lock.withLock { () throws -> T in try body(&self.segments) }
    }
}

// MARK: Producer state

extension PartitionLog {
    /// The producer state (for DescribeProducers and tests).
    public var producerState: ProducerStateManager { self.lock.withLock { self.producers } }

    /// The offsets of the producer-state snapshots in the directory, oldest first.
    public var producerSnapshotOffsets: [Int64] {
        (try? Self.snapshotOffsets(directory: self.directory, fileSystem: self.fileSystem)) ?? []
    }

    /// Writes a snapshot at the log end if the producer state changed since the last one (log maintenance calls
    /// this, so that crash recovery replays little). Returns whether one was written.
    @discardableResult
    public func takeProducerSnapshot() throws -> Bool {
        try self.lock.withLock { () throws -> Bool in
            guard !self.isClosed, self.producersChangedSinceSnapshot else { return false }
            try self.writeProducerSnapshotLocked()
            return true
        }
    }

    /// Forgets producers idle for `expiration` (`producer.id.expiration.ms`); returns how many.
    @discardableResult
    public func removeExpiredProducers(nowMs: Int64, expiration: Duration) -> Int {
        self.lock.withLock {
            let removed = self.producers.removeExpired(nowMs: nowMs, expirationMs: expiration.inMilliseconds)
            if removed > 0 { self.producersChangedSinceSnapshot = true }
            return removed
        }
    }

    /// Writes `<log end>.snapshot` and removes the snapshots it supersedes inside the active segment (those at
    /// segment boundaries stay: truncation and retention fall back to them). Call with the lock held.
    func writeProducerSnapshotLocked() throws {
        let end = self.segments.last!.nextOffset
        let activeBase = self.segments.last!.baseOffset
        try self.fileSystem.writeFileAtomically(
            joinPath(self.directory, ProducerStateManager.snapshotFileName(offset: end)),
            contents: self.producers.encodedSnapshot())
        for offset in try Self.snapshotOffsets(directory: self.directory, fileSystem: self.fileSystem)
        where offset > activeBase && offset < end {
            try self.fileSystem.remove(joinPath(self.directory, ProducerStateManager.snapshotFileName(offset: offset)))
        }
        self.lastSnapshotOffset = end
        self.producersChangedSinceSnapshot = false
    }

    /// Removes snapshots below `offset` (the first segment's base, after retention). Call with the lock held.
    func deleteProducerSnapshots(below offset: Int64) throws {
        for snapshot in try Self.snapshotOffsets(directory: self.directory, fileSystem: self.fileSystem)
        where snapshot < offset {
            try self.fileSystem.remove(joinPath(self.directory, ProducerStateManager.snapshotFileName(offset: snapshot)))
        }
    }

    static func snapshotOffsets(directory: String, fileSystem: any StorageFileSystem) throws -> [Int64] {
        try fileSystem.contentsOfDirectory(directory).compactMap(ProducerStateManager.snapshotOffset(fromFileName:))
            .sorted()
    }

    /// Rebuilds producer state up to `end`: removes snapshots beyond it (their batches are gone), loads the newest
    /// readable snapshot (a corrupt one is removed and the next older tried, as Kafka does), then replays the batches
    /// from the snapshot's offset (or the log's first offset) to `end`. Returns the state and the snapshot used.
    static func loadProducerState(
        directory: String, fileSystem: any StorageFileSystem, segments: [LogSegment], upTo end: Int64, logger: Logger,
        snapshotOffsets: [Int64]? = nil
    ) throws -> (ProducerStateManager, Int64?) {
        var state = ProducerStateManager()
        var loadedOffset: Int64?
        let offsets = try snapshotOffsets ?? Self.snapshotOffsets(directory: directory, fileSystem: fileSystem)
        for offset in offsets.reversed() {
            let path = joinPath(directory, ProducerStateManager.snapshotFileName(offset: offset))
            if offset > end {
                try fileSystem.remove(path)
                continue
            }
            if loadedOffset != nil { continue }  // older snapshots stay for later truncations
            do {
                guard let bytes = try fileSystem.readWholeFile(path) else { continue }
                state = try ProducerStateManager(parsingSnapshot: bytes)
                loadedOffset = offset
            } catch {
                logger.warning(
                    "Removed an unreadable producer-state snapshot", metadata: ["spate.snapshot": "\(offset)", "spate.error": "\(error)"])
                try fileSystem.remove(path)
            }
        }
        let from = max(loadedOffset ?? segments.first!.baseOffset, segments.first!.baseOffset)
        var replayed = 0
        for (index, segment) in segments.enumerated() {
            let segmentEnd = index + 1 < segments.count ? segments[index + 1].baseOffset : end
            guard segmentEnd > from else { continue }
            let size = try segment.size
            guard size > 0 else { continue }
            let start = segment.baseOffset >= from ? 0 : (try segment.findBatch(containing: from)?.position ?? size)
            var scanner = BatchScanner(file: try segment.logFile(), from: start, end: size)
            while let header = try scanner.nextHeader() {
                guard header.lastOffset >= from else { continue }
                guard header.baseOffset < end else { break }
                state.replay(header)
                replayed += 1
            }
        }
        if replayed > 0 || loadedOffset != nil {
            logger.debug(
                "Loaded producer state",
                metadata: [
                    "spate.snapshot": "\(loadedOffset.map { "\($0)" } ?? "none")", "spate.batches_replayed": "\(replayed)",
                    "spate.producers": "\(state.producers.count)",
                ])
        }
        return (state, loadedOffset)
    }
}

/// Logger metadata keys (STYLE §3.4).
enum LogKey {
    static let topic = "spate.topic"
    static let partition = "spate.partition"
}
