public import Logging
import NIOConcurrencyHelpers
import NIOCore
import SpateRecords

/// What one ``LogCleaner/clean(log:nowMs:)`` call did.
public struct CleanerStats: Sendable, Hashable {
    /// Whether a pass ran (false: the policy is not `compact`, or nothing was cleanable, or the dirty ratio was below
    /// `min.cleanable.dirty.ratio`).
    public var cleaned = false
    /// The first uncleaned offset before the pass, and the end of the dirty section it cleaned (the new checkpoint,
    /// exclusive). Offsets at or above `dirtyEndOffset` were not looked at.
    public var firstDirtyOffset: Int64 = 0
    public var dirtyEndOffset: Int64 = 0
    /// Bytes in the clean part (below the first dirty offset) and in the cleanable dirty part, and their ratio.
    public var cleanBytes: Int64 = 0
    public var dirtyBytes: Int64 = 0
    public var dirtyRatio: Double = 0
    /// Distinct keys in the offset map built over the dirty section.
    public var offsetMapSize = 0
    /// Bytes read to build the offset map, and bytes read and written rewriting segments.
    public var mapBytesRead: Int64 = 0
    public var bytesRead: Int64 = 0
    public var bytesWritten: Int64 = 0
    /// Segments scanned for rewriting, and those actually replaced (the others had nothing to remove).
    public var segmentsScanned = 0
    public var segmentsReplaced = 0
    /// Segments that went away or changed during the pass (retention, truncation, the log closing) and were left
    /// alone. When there are any, the checkpoint does not move, so the next pass looks at the same dirty section.
    public var segmentsSkipped = 0
    /// Records looked at while rewriting, and those removed: superseded by a later value, expired tombstones, and
    /// records without a key (invalid in a compacted topic).
    public var recordsRead = 0
    public var recordsRemoved = 0
    public var tombstonesRemoved = 0
    public var keylessRecordsRemoved = 0
    /// Batches copied byte for byte, rebuilt without some records, and dropped because no record was left.
    public var batchesCopied = 0
    public var batchesRebuilt = 0
    public var batchesRemoved = 0

    public init() {}
}

/// Log compaction (`cleanup.policy=compact` and `compact,delete`), after Kafka's `LogCleaner`.
///
/// A pass over one partition:
/// 1. **Dirty section.** The non-active segments from the first dirty offset (the cleaner checkpoint; the log start
///    offset when there is none) up to, not including, the first segment whose largest timestamp is within
///    `min.compaction.lag.ms` of `nowMs`, or the active segment. Nothing happens unless
///    `dirtyBytes / (cleanBytes + dirtyBytes) >= min.cleanable.dirty.ratio`.
/// 2. **Offset map.** key → offset of its latest record in the dirty section. Control and transactional batches do
///    not contribute (transactions are not handled yet: their records never hide older ones).
/// 3. **Rewrite.** Every non-active segment from the log start up to the end of the dirty section is scanned. A
///    record is kept unless (a) its key is in the map with a larger offset, (b) it has no key (Kafka rejects keyless
///    records for compacted topics at produce time; the cleaner removes any that got in, as Kafka's does), or (c) it
///    is a tombstone (null value) whose batch's max timestamp is older than `nowMs - delete.retention.ms`. Control
///    and transactional batches are kept byte for byte. A batch that keeps every record is copied byte for byte; one
///    that keeps none is dropped; otherwise it is rebuilt with the kept records at their original offsets (gaps in
///    the offsets), timestamps, headers, producer ID/epoch, leader epoch and timestamp type, `baseSequence` advanced
///    by the records dropped in front, and recompressed with its original codec.
/// 4. **Swap.** Each segment that changed is replaced crash-safely under the log's lock (see ``CleanerSwap``); it
///    keeps its base offset. Segments are not merged, so a segment may shrink to nothing (an empty file).
/// 5. The checkpoint moves to the end of the dirty section and is written to the checkpoint file.
///
/// **Tombstone rule.** Simpler than Kafka's delete horizon (which stamps the horizon into the batch on the first
/// pass that sees the tombstone): a tombstone is removed by the first pass after its batch's max timestamp is more
/// than `delete.retention.ms` old. Consumers therefore have `delete.retention.ms` from the tombstone's timestamp,
/// not from its compaction, to see it. Because every pass rewrites from the log start with a map of the newer
/// keys, the older records a tombstone hides are always removed in the same pass or an earlier one.
///
/// **Checkpoint file.** Kafka's `cleaner-offset-checkpoint` at the data-directory root, in the format of the other
/// checkpoint files (`0`, a count, then `topic partition offset` lines), written atomically after every pass that
/// cleaned. A missing or malformed file only means re-cleaning from the log start, which is harmless.
///
/// Not handled yet: transactions (aborted records are not removed), keeping the last batch of a producer for
/// producer-state rebuilds, merging small segments, resetting the checkpoint when a follower truncates below it.
///
/// Thread-safe; one pass at a time per cleaner (a lock serialises ``clean(log:nowMs:)``). It runs alongside appends,
/// fetches and retention: segments are read without the log's lock, which is taken only to snapshot the segment
/// list and to swap a cleaned segment in. A segment deleted or changed meanwhile is left alone and the checkpoint
/// stays where it was (``CleanerStats/segmentsSkipped``). Synchronous and blocking: run it on the storage thread
/// pool.
public final class LogCleaner: @unchecked Sendable {
    public static let checkpointFileName = "cleaner-offset-checkpoint"
    /// The largest decompressed batch the cleaner reads.
    static let maxDecompressedBatchSize = 64 << 20

    /// Cleaner-wide limits.
    public struct Configuration: Sendable, Hashable {
        /// The most distinct keys one pass maps (Kafka bounds the map by `log.cleaner.dedupe.buffer.size`). The dirty
        /// section ends after the first segment that fills it, so a pass always makes progress.
        public var maxOffsetMapEntries: Int = 4_000_000

        public init() {}
    }

    let fileSystem: any StorageFileSystem
    let checkpointPath: String?
    let configuration: Configuration
    let logger: Logger
    private let passLock = NIOLock()
    private let checkpointLock = NIOLock()
    private var checkpoints: [TopicPartition: Int64]

    /// - Parameters:
    ///   - checkpointPath: Where to keep the first dirty offset of each partition (normally
    ///     `<data dir>/cleaner-offset-checkpoint`); nil keeps it in memory only.
    public init(
        fileSystem: any StorageFileSystem, checkpointPath: String?, configuration: Configuration = Configuration(),
        logger: Logger
    ) {
        self.fileSystem = fileSystem
        self.checkpointPath = checkpointPath
        self.configuration = configuration
        self.logger = logger
        var checkpoints: [TopicPartition: Int64] = [:]
        if let checkpointPath {
            do {
                checkpoints = try OffsetCheckpointFile(path: checkpointPath, fileSystem: fileSystem).read()
            } catch {
                logger.warning(
                    "Ignored a malformed cleaner checkpoint; compacted logs are cleaned from their start",
                    metadata: ["spate.error": "\(error)"])
            }
        }
        self.checkpoints = checkpoints
    }

    /// The first uncleaned offset recorded for a partition, if any.
    public func firstDirtyOffset(for partition: TopicPartition) -> Int64? {
        self.checkpointLock.withLock { self.checkpoints[partition] }
    }

    /// Forgets the checkpoints of partitions not in `partitions` (deleted logs) and rewrites the file.
    public func retainCheckpoints(for partitions: Set<TopicPartition>) throws {
        try self.passLock.withLock { () throws in
            let changed = self.checkpointLock.withLock { () -> Bool in
                let before = self.checkpoints.count
                self.checkpoints = self.checkpoints.filter { partitions.contains($0.key) }
                return before != self.checkpoints.count
            }
            if changed { try self.writeCheckpoints() }
        }
    }

    /// Call with `passLock` held (one writer of the file at a time).
    private func writeCheckpoints() throws {
        guard let checkpointPath = self.checkpointPath else { return }
        let snapshot = self.checkpointLock.withLock { self.checkpoints }
        try OffsetCheckpointFile(path: checkpointPath, fileSystem: self.fileSystem).write(snapshot)
    }

    // MARK: A pass

    /// Compacts `log` if its policy includes `compact` and enough of it is dirty; see the type's documentation.
    @discardableResult
    public func clean(log: PartitionLog, nowMs: Int64) throws -> CleanerStats {
        try self.passLock.withLock { () throws -> CleanerStats in try self.cleanLocked(log: log, nowMs: nowMs) }
    }

    private func cleanLocked(log: PartitionLog, nowMs: Int64) throws -> CleanerStats {
        var stats = CleanerStats()
        let snapshot = try log.cleanerSnapshot()
        let config = snapshot.config
        guard config.cleanupPolicy.contains(.compact), !snapshot.segments.isEmpty else { return stats }

        // 1. The dirty section.
        let recorded = self.firstDirtyOffset(for: log.topicPartition) ?? snapshot.logStartOffset
        let firstDirty = min(max(recorded, snapshot.logStartOffset), snapshot.activeBaseOffset)
        let lagHorizon = nowMs - config.minCompactionLag.inMilliseconds
        var dirtyEnd = snapshot.activeBaseOffset
        var dirtySegments: [CleanerSegmentSnapshot] = []
        for segment in snapshot.segments {
            if segment.endOffset <= firstDirty {
                stats.cleanBytes += segment.size
                continue
            }
            if lagHorizon < nowMs, segment.largestTimestamp > lagHorizon {
                dirtyEnd = segment.baseOffset
                break
            }
            dirtySegments.append(segment)
            stats.dirtyBytes += segment.size
        }
        stats.firstDirtyOffset = firstDirty
        stats.dirtyEndOffset = max(dirtyEnd, firstDirty)
        let total = stats.cleanBytes + stats.dirtyBytes
        stats.dirtyRatio = total > 0 ? Double(stats.dirtyBytes) / Double(total) : 0
        guard !dirtySegments.isEmpty, stats.dirtyBytes > 0, stats.dirtyRatio >= config.minCleanableDirtyRatio else {
            return stats
        }

        // 2. The offset map (which may end the dirty section early when it fills up).
        var map: [ByteBuffer: Int64] = [:]
        for (index, segment) in dirtySegments.enumerated() {
            do {
                try self.addToMap(&map, segment: segment, from: firstDirty, compressor: log.compressor, stats: &stats)
            } catch let error as StorageError where error.code == .closed {
                // Deleted by retention (or the log closed) meanwhile: its records are gone, older ones with them.
                stats.segmentsSkipped += 1
                continue
            }
            if map.count >= self.configuration.maxOffsetMapEntries, index + 1 < dirtySegments.count {
                dirtyEnd = segment.endOffset
                stats.dirtyEndOffset = dirtyEnd
                break
            }
        }
        stats.offsetMapSize = map.count
        stats.cleaned = true

        // 3 and 4. Rewrite and swap every non-active segment below the end of the dirty section.
        let deleteHorizon = nowMs - config.deleteRetention.inMilliseconds
        for segment in snapshot.segments where segment.endOffset <= dirtyEnd {
            stats.segmentsScanned += 1
            do {
                try self.cleanSegment(
                    segment, log: log, map: map, deleteHorizon: deleteHorizon, config: config, nowMs: nowMs,
                    stats: &stats)
            } catch let error as StorageError where error.code == .closed {
                stats.segmentsSkipped += 1
            }
        }

        // 5. The checkpoint, unless part of the log changed under the pass.
        if stats.segmentsSkipped == 0 {
            self.checkpointLock.withLock { self.checkpoints[log.topicPartition] = dirtyEnd }
            try self.writeCheckpoints()
        }
        log.logger.debug(
            "Compacted the log",
            metadata: [
                "spate.first_dirty_offset": "\(firstDirty)", "spate.dirty_end_offset": "\(dirtyEnd)",
                "spate.dirty_ratio": "\(stats.dirtyRatio)", "spate.keys": "\(stats.offsetMapSize)",
                "spate.bytes_read": "\(stats.bytesRead)", "spate.bytes_written": "\(stats.bytesWritten)",
                "spate.records_removed": "\(stats.recordsRemoved)",
                "spate.segments_replaced": "\(stats.segmentsReplaced)",
            ])
        return stats
    }

    /// Records the latest offset of every key in the segment at or above `from`.
    private func addToMap(
        _ map: inout [ByteBuffer: Int64], segment: CleanerSegmentSnapshot, from: Int64,
        compressor: (any RecordsCompressor)?, stats: inout CleanerStats
    ) throws {
        var scanner = BatchScanner(file: segment.file, from: 0, end: segment.size)
        while let (header, batch) = try scanner.nextBatch() {
            stats.mapBytesRead += Int64(header.size)
            guard header.lastOffset >= from, !batch.isControl, !batch.isTransactional else { continue }
            for record in try Self.records(of: batch, compressor: compressor) where record.offset >= from {
                guard let key = record.key else { continue }
                if let index = map.index(forKey: key) {
                    map.values[index] = record.offset
                } else {
                    // A copy: the slice would keep the whole read chunk or decompressed section alive.
                    var copy = ByteBufferAllocator().buffer(capacity: key.readableBytes)
                    copy.writeImmutableBuffer(key)
                    map[copy] = record.offset
                }
            }
        }
    }

    /// Rewrites one segment into `.cleaned` files and swaps them in, unless nothing is to be removed.
    private func cleanSegment(
        _ segment: CleanerSegmentSnapshot, log: PartitionLog, map: [ByteBuffer: Int64], deleteHorizon: Int64,
        config: LogConfig, nowMs: Int64, stats: inout CleanerStats
    ) throws {
        var writer = try CleanedSegmentWriter(
            fileSystem: log.fileSystem, directory: log.directory, baseOffset: segment.baseOffset, config: config)
        var changed = false
        do {
            var scanner = BatchScanner(file: segment.file, from: 0, end: segment.size)
            while let (header, batch) = try scanner.nextBatch() {
                stats.bytesRead += Int64(header.size)
                if batch.isControl || batch.isTransactional {
                    try writer.append(batch.buffer, lastOffset: header.lastOffset, maxTimestamp: header.maxTimestamp)
                    stats.batchesCopied += 1
                    continue
                }
                let records = try Self.records(of: batch, compressor: log.compressor)
                stats.recordsRead += records.count
                var kept: [Record] = []
                kept.reserveCapacity(records.count)
                for record in records {
                    guard let key = record.key else {
                        stats.keylessRecordsRemoved += 1
                        continue
                    }
                    if let latest = map[key], record.offset < latest { continue }
                    if record.value == nil, header.maxTimestamp < deleteHorizon {
                        stats.tombstonesRemoved += 1
                        continue
                    }
                    kept.append(record)
                }
                stats.recordsRemoved += records.count - kept.count
                if kept.count == records.count {
                    try writer.append(batch.buffer, lastOffset: header.lastOffset, maxTimestamp: header.maxTimestamp)
                    stats.batchesCopied += 1
                } else if kept.isEmpty {
                    changed = true
                    stats.batchesRemoved += 1
                } else {
                    changed = true
                    let rebuilt = try Self.rebuild(batch, keeping: kept, compressor: log.compressor)
                    let rebuiltBatch = try RecordBatch(buffer: rebuilt)
                    try writer.append(
                        rebuilt, lastOffset: rebuiltBatch.lastOffset, maxTimestamp: rebuiltBatch.maxTimestamp)
                    stats.batchesRebuilt += 1
                }
            }
            guard changed else {
                writer.abandon()
                return
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        let swapped = try log.replaceWithCleanedSegment(
            segment.segment, expectedSize: segment.size, config: config, nowMs: nowMs)
        if swapped {
            stats.segmentsReplaced += 1
            stats.bytesWritten += writer.size
        } else {
            stats.segmentsSkipped += 1
        }
    }

    // MARK: Batches

    static func records(of batch: RecordBatch, compressor: (any RecordsCompressor)?) throws -> [Record] {
        do {
            return try batch.records(using: compressor, maxDecompressedSize: Self.maxDecompressedBatchSize)
        } catch {
            throw StorageError(.corrupt, "cannot read the records of the batch at offset \(batch.baseOffset): \(error)")
        }
    }

    /// A copy of `batch` holding only `kept` (a non-empty, ordered subset of its records), at their original offsets,
    /// recompressed with the batch's codec.
    static func rebuild(_ batch: RecordBatch, keeping kept: [Record], compressor: (any RecordsCompressor)?) throws
        -> ByteBuffer
    {
        let firstOffset = kept[0].offset
        var baseSequence: Int32 = -1
        if batch.baseSequence >= 0 {
            let sequence = Int64(batch.baseSequence) + (firstOffset - batch.baseOffset)
            let wrapped = sequence > Int64(Int32.max) ? sequence - Int64(Int32.max) - 1 : sequence
            baseSequence = Int32(truncatingIfNeeded: wrapped)
        }
        let attributes = batch.attributes
        var builder = RecordBatchBuilder(
            baseOffset: firstOffset, producerID: batch.producerID, producerEpoch: batch.producerEpoch,
            baseSequence: baseSequence, partitionLeaderEpoch: batch.partitionLeaderEpoch,
            compression: attributes.compression ?? .none, timestampType: attributes.timestampType)
        for record in kept {
            // The stored (create) timestamp, not the log append time that replaces it on reads.
            builder.append(
                offsetDelta: Int32(truncatingIfNeeded: record.offset - firstOffset), key: record.key,
                value: record.value, headers: record.headers,
                timestamp: record.baseTimestamp &+ record.timestampDelta)
        }
        var bytes: ByteBuffer
        do {
            bytes = try builder.build(compressor: compressor)
        } catch {
            throw StorageError(.corrupt, "cannot rebuild the batch at offset \(batch.baseOffset): \(error)")
        }
        if attributes.timestampType == .logAppendTime {
            var rebuilt = try RecordBatch(buffer: bytes)
            rebuilt.setMaxTimestamp(batch.maxTimestamp, timestampType: .logAppendTime)
            bytes = rebuilt.buffer
        }
        return bytes
    }
}
