import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// Retention, DeleteRecords, lookups and stamping, on real files with explicit clock values (no sleeps).
@Suite struct PartitionLogBehaviourTests {
    static let partition = TopicPartition(topic: "events", partition: 3)

    func open(_ directory: TemporaryDirectory, config: LogConfig, clean: Bool = false, nowMs: Int64 = 0) throws -> PartitionLog {
        try PartitionLog.open(
            directory: directory.path + "/events-3", topicPartition: Self.partition, config: config,
            fileSystem: PosixFileSystem(), compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: clean,
            nowMs: nowMs, logger: testLogger)
    }

    func append(_ log: PartitionLog, count: Int = 5, timestamp: Int64, nowMs: Int64 = 0) throws -> AppendResult {
        try log.append(RecordSet(buffer: try makeBatch(count: count, timestamp: timestamp)), leaderEpoch: 0, nowMs: nowMs)
    }

    @Test func timeRetentionDeletesWholeOldSegmentsButNeverTheActiveOne() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.retentionTime = .milliseconds(10_000)
        config.fileDeleteDelay = .milliseconds(1_000)
        let log = try self.open(directory, config: config)
        // Three segments with newest timestamps 1_004, 2_004 and 3_004 (the last one active).
        for (round, ts) in [1_000, 2_000, 3_000].enumerated() {
            _ = try self.append(log, timestamp: Int64(ts))
            if round < 2 { try log.roll(nowMs: 0) }
        }
        #expect(log.segmentBaseOffsets == [0, 5, 10])
        #expect(try log.enforceRetention(nowMs: 11_004) == 0)  // 1_004 is exactly 10_000 old: kept
        #expect(try log.enforceRetention(nowMs: 11_005) == 1)
        #expect(log.segmentBaseOffsets == [5, 10])
        #expect(log.logStartOffset == 5)
        // Even when everything is expired, the active segment stays.
        #expect(try log.enforceRetention(nowMs: 1_000_000) == 1)
        #expect(log.segmentBaseOffsets == [10])
        #expect(log.logStartOffset == 10)
        #expect(log.logEndOffset == 15)
        // Deleted files linger as .deleted until file.delete.delay.ms has passed.
        let files = try PosixFileSystem().contentsOfDirectory(directory.path + "/events-3")
        #expect(files.contains("00000000000000000000.log.deleted"))
        #expect(log.removeDeletedFiles(nowMs: 1_000_999) == 3)  // the second deletion's files are not due yet
        #expect(log.removeDeletedFiles(nowMs: 1_001_000) == 3)
        #expect(try PosixFileSystem().contentsOfDirectory(directory.path + "/events-3").allSatisfy { !$0.hasSuffix(".deleted") })
        // Reads below the log start are out of range.
        #expect(throws: StorageError.self) { try log.read(from: 4, maxBytes: 100) }
    }

    @Test func sizeRetentionKeepsTheNewestSegmentsWithinTheLimit() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.retentionTime = nil
        let log = try self.open(directory, config: config)
        for _ in 0..<4 {
            _ = try self.append(log, timestamp: 0)
            try log.roll(nowMs: 0)
        }
        _ = try self.append(log, timestamp: 0)
        let segmentSize = try log.sizeInBytes / 5
        var limited = config
        limited.retentionBytes = segmentSize * 2 + 1
        log.config = limited
        // Kafka's rule: delete the oldest segment only while the partition stays at or above the limit without it,
        // so 5 segments of S bytes with a limit of 2S+1 keep 3 (3S ≥ 2S+1 > 2S).
        #expect(try log.enforceRetention(nowMs: 0) == 2)
        #expect(log.segmentCount == 3)
        let total = try log.sizeInBytes
        #expect(total >= segmentSize * 2 + 1 && total - segmentSize < segmentSize * 2 + 1)
        // cleanup.policy=compact alone never deletes by retention.
        var compactOnly = limited
        compactOnly.cleanupPolicy = .compact
        compactOnly.retentionBytes = 0
        log.config = compactOnly
        #expect(try log.enforceRetention(nowMs: 0) == 0)
    }

    @Test func deleteRecordsMovesTheLogStartOffset() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory, config: LogConfig())
        for _ in 0..<3 {
            _ = try self.append(log, timestamp: 0)
            try log.roll(nowMs: 0)
        }
        #expect(try log.deleteRecords(before: 7, nowMs: 0) == 7)
        #expect(log.logStartOffset == 7)
        #expect(log.segmentBaseOffsets == [5, 10, 15])  // segment 0 lies wholly below 7
        #expect(try readAll(log).map(\.offset).first == 7)
        #expect(throws: StorageError.self) { try log.deleteRecords(before: 99, nowMs: 0) }
        // The log start offset survives a reopen through the checkpoint the caller keeps.
        try log.close(nowMs: 0)
        let reopened = try PartitionLog.open(
            directory: directory.path + "/events-3", topicPartition: Self.partition, config: LogConfig(),
            fileSystem: PosixFileSystem(), compressor: nil, recoveryPoint: 15, logStartOffset: 7, hadCleanShutdown: true,
            nowMs: 0, logger: testLogger)
        #expect(reopened.logStartOffset == 7)
        #expect(reopened.logEndOffset == 15)
    }

    @Test func lookupsByTimestampAndMaxTimestamp() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.indexIntervalBytes = 1  // an index entry for every batch
        let log = try self.open(directory, config: config)
        _ = try self.append(log, count: 3, timestamp: 100)  // 100...102 at offsets 0...2
        _ = try self.append(log, count: 3, timestamp: 500)  // 500...502 at offsets 3...5
        try log.roll(nowMs: 0)
        _ = try self.append(log, count: 2, timestamp: 300)  // 300, 301 at offsets 6, 7
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: 101)?.offset == 1)
        #expect(try log.offset(forTimestamp: 103)?.offset == 3)
        #expect(try log.offset(forTimestamp: 502)?.offset == 5)
        #expect(try log.offset(forTimestamp: 503) == nil)
        let max = try #require(try log.maxTimestampRecord())
        #expect(max.offset == 5 && max.timestamp == 502)
    }

    @Test func logAppendTimeRewritesTimestampAndKeepsTheCRCValid() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory, config: LogConfig())
        let result = try log.append(
            RecordSet(buffer: try makeBatch(count: 4, timestamp: 1)), leaderEpoch: 7, timestampType: .logAppendTime,
            nowMs: 123_456)
        #expect(result.logAppendTime == 123_456)
        let bytes = try #require(try log.read(from: 0, maxBytes: 1 << 20)).readBytes()
        let batch = try #require(RecordSet(buffer: bytes).batches.first { _ in true })
        try batch.validate()
        #expect(batch.timestampType == .logAppendTime)
        #expect(batch.maxTimestamp == 123_456)
        #expect(batch.partitionLeaderEpoch == 7)
        #expect(try batch.records(using: nil, maxDecompressedSize: 1 << 20).allSatisfy { $0.timestamp == 123_456 })
        #expect(log.latestEpoch == 7)
    }

    /// Several batches in one append: each gets its own stamped header copy (base offset, leader epoch and, with
    /// LogAppendTime, attributes, max timestamp and CRC) while the caller's bytes stay as they were.
    @Test(arguments: [TimestampType.createTime, .logAppendTime])
    func severalBatchesInOneAppendAreEachStampedAndTheInputIsUntouched(_ timestampType: TimestampType) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory, config: LogConfig())
        _ = try log.append(RecordSet(buffer: try makeBatch(count: 2)), leaderEpoch: 3, nowMs: 0)
        var input = ByteBuffer()
        for (count, prefix) in [(3, "a"), (1, "b"), (5, "c")] {
            var batch = try makeBatch(count: count, prefix: prefix, timestamp: 10)
            input.writeBuffer(&batch)
        }
        let original = Array(input.readableBytesView)
        let result = try log.append(RecordSet(buffer: input), leaderEpoch: 9, timestampType: timestampType, nowMs: 777)
        #expect(result.firstOffset == 2 && result.lastOffset == 10 && result.batchCount == 3)
        #expect(Array(input.readableBytesView) == original)
        let bytes = try #require(try log.read(from: 2, maxBytes: 1 << 20)).readBytes()
        let batches = try RecordSet(buffer: bytes).validateBatches()
        #expect(batches.map(\.baseOffset) == [2, 5, 6])
        #expect(batches.allSatisfy { $0.partitionLeaderEpoch == 9 })
        #expect(batches.allSatisfy { $0.timestampType == timestampType })
        #expect(batches.map(\.maxTimestamp) == (timestampType == .logAppendTime ? [777, 777, 777] : [12, 10, 14]))
        let values = try readAll(log).map(\.value)
        #expect(values == ["value-0", "value-1", "a-0", "a-1", "a-2", "b-0", "c-0", "c-1", "c-2", "c-3", "c-4"])
    }

    @Test func oversizedAndCorruptBatchesAreRefusedAndLeaveTheLogUnchanged() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        let batch = try makeBatch(count: 10)
        config.maxMessageBytes = batch.readableBytes - 1
        let log = try self.open(directory, config: config)
        #expect(throws: StorageError.self) { try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0) }
        config.maxMessageBytes = batch.readableBytes
        log.config = config
        _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0)  // exactly the limit is accepted
        var corrupt = try makeBatch(count: 2)
        corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
        #expect(throws: StorageError.self) { try log.append(RecordSet(buffer: corrupt), leaderEpoch: 0, nowMs: 0) }
        #expect(log.logEndOffset == 10)
        #expect(try readAll(log).count == 10)
    }

    @Test func readsStopAtMaxOffsetAndReturnAtLeastOneBatch() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory, config: LogConfig())
        for _ in 0..<4 { _ = try self.append(log, count: 5, timestamp: 0) }
        let bounded = try #require(try log.read(from: 0, maxBytes: 1 << 20, maxOffset: 10))
        let batches = Array(RecordSet(buffer: try bounded.readBytes()).batches)
        #expect(batches.map(\.baseOffset) == [0, 5])
        #expect(try log.read(from: 10, maxBytes: 1 << 20, maxOffset: 10) == nil)
        #expect(try log.read(from: 20, maxBytes: 1 << 20) == nil)  // at the log end: nothing yet
        #expect(throws: StorageError.self) { try log.read(from: 21, maxBytes: 1) }
        // maxBytes smaller than a batch still returns the whole first batch (KIP-74).
        let tiny = try #require(try log.read(from: 5, maxBytes: 1))
        #expect(Array(RecordSet(buffer: try tiny.readBytes()).batches).count == 1)
    }

    @Test func segmentTimeRollsFromTheFirstBatchTimestamp() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.segmentTime = .milliseconds(1_000)
        let log = try self.open(directory, config: config)
        _ = try self.append(log, count: 1, timestamp: 10_000)
        _ = try self.append(log, count: 1, timestamp: 10_999)
        #expect(log.segmentCount == 1)
        _ = try self.append(log, count: 1, timestamp: 11_000)
        #expect(log.segmentBaseOffsets == [0, 2])
    }

    @Test func missingOrCorruptIndexesAreRebuiltNotTrusted() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.indexIntervalBytes = 64
        let log = try self.open(directory, config: config)
        for round in 0..<20 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 3, prefix: "b\(round)")), leaderEpoch: 0, nowMs: 0) }
        try log.roll(nowMs: 0)
        _ = try self.append(log, timestamp: 0)
        let expected = try readAll(log)
        try log.close(nowMs: 0)
        let fs = PosixFileSystem()
        let segment = directory.path + "/events-3/00000000000000000000"
        // A truncated index (not a whole number of entries), and a missing time index.
        let index = try fs.open(segment + ".index", create: false)
        try index.truncate(to: try index.size() - 3)
        try index.close()
        try fs.remove(segment + ".timeindex")
        let reopened = try self.open(directory, config: config, clean: true)
        #expect(try readAll(reopened).map(\.offset) == expected.map(\.offset))
        #expect(try reopened.offset(forTimestamp: 1_001)?.offset == 1)
        try reopened.close(nowMs: 0)
        // An index whose entries point past the end of the log.
        let bad = try fs.open(segment + ".index", create: false)
        var garbage = ByteBuffer()
        garbage.writeMultipleIntegers(UInt32(1), UInt32(999_999))
        try bad.write(garbage, at: 0)
        try bad.close()
        let again = try self.open(directory, config: config, clean: true)
        #expect(try readAll(again).map(\.offset) == expected.map(\.offset))
    }

    @Test func flushMessagesFsyncsAfterThatManyMessages() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.flushMessages = 10
        let log = try self.open(directory, config: config)
        _ = try self.append(log, count: 6, timestamp: 0)
        #expect(log.recoveryPoint == 0)
        _ = try self.append(log, count: 6, timestamp: 0)
        #expect(log.recoveryPoint == 12)
        config.flushMessages = nil
        config.flushInterval = .milliseconds(500)
        log.config = config
        _ = try self.append(log, count: 1, timestamp: 0, nowMs: 100)
        #expect(!log.needsFlushByTime(nowMs: 499))
        #expect(log.needsFlushByTime(nowMs: 500))
    }

    /// A roll fsyncs the old segment, so the recovery point follows it — but only when everything before that segment
    /// was already durable (segments recovered after a crash are validated, not fsynced).
    @Test func rollsAdvanceTheRecoveryPointOnlyOverDurableHistory() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory, config: LogConfig())
        _ = try self.append(log, count: 3, timestamp: 0)
        try log.roll(nowMs: 0)
        #expect(log.recoveryPoint == 3)
        _ = try self.append(log, count: 2, timestamp: 0)
        try log.roll(nowMs: 0)
        #expect(log.recoveryPoint == 5)
        _ = try self.append(log, count: 2, timestamp: 0)
        try log.close(nowMs: 0)
        // Reopen as after a crash with a stale checkpoint (recovery point 0): rolling the active segment must not
        // vouch for the older, unflushed ones.
        let reopened = try PartitionLog.open(
            directory: directory.path + "/events-3", topicPartition: Self.partition, config: LogConfig(),
            fileSystem: PosixFileSystem(), compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: false,
            nowMs: 0, logger: testLogger)
        #expect(reopened.recoveryPoint == 0)
        try reopened.roll(nowMs: 0)
        #expect(reopened.recoveryPoint == 0)
        try reopened.flush(nowMs: 0)
        #expect(reopened.recoveryPoint == 7)
    }
}
