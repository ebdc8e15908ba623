import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

@Suite struct LogCleanerTests {
    /// Appends `rounds` batches that each overwrite keys `k0…k(keys-1)`, one segment per `rollEvery` batches.
    func fill(_ log: PartitionLog, rounds: Int, keys: Int = 4, timestamp: Int64 = 1_000, rollEvery: Int? = nil,
        compression: CompressionType = .none) throws
    {
        for round in 0..<rounds {
            let records = (0..<keys).map { (key: Optional("k\($0)"), value: Optional("r\(round)-\($0)")) }
            _ = try log.append(
                try CleanerTests.batch(records, timestamp: timestamp + Int64(round), compression: compression),
                leaderEpoch: 0, nowMs: timestamp)
            if let rollEvery, (round + 1) % rollEvery == 0 { try log.roll(nowMs: timestamp) }
        }
    }

    func cleaner() -> LogCleaner { LogCleaner(fileSystem: PosixFileSystem(), checkpointPath: nil, logger: testLogger) }

    @Test func deletePolicyIsNotCompacted() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig()
        config.cleanupPolicy = .delete
        let log = try CleanerTests.open(directory.path, config: config)
        try self.fill(log, rounds: 10, rollEvery: 2)
        let before = try CleanerTests.records(log)
        #expect(try !self.cleaner().clean(log: log, nowMs: 5_000).cleaned)
        #expect(try CleanerTests.records(log) == before)
    }

    @Test func compactAndDeletePolicyIsCompacted() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig()
        config.cleanupPolicy = [.compact, .delete]
        let log = try CleanerTests.open(directory.path, config: config)
        try self.fill(log, rounds: 10, rollEvery: 2)
        let stats = try self.cleaner().clean(log: log, nowMs: 5_000)
        #expect(stats.cleaned)
        // 10 rounds × 4 keys, all in non-active segments: 4 survive.
        #expect(try CleanerTests.records(log).map(\.value) == ["r9-0", "r9-1", "r9-2", "r9-3"])
        #expect(stats.recordsRemoved == 36)
    }

    @Test func belowTheDirtyRatioNothingIsCleaned() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig()
        config.minCleanableDirtyRatio = 0.5
        let log = try CleanerTests.open(directory.path, config: config)
        let cleaner = self.cleaner()
        try self.fill(log, rounds: 10, keys: 20, rollEvery: 1)
        // All dirty: ratio 1.
        let first = try cleaner.clean(log: log, nowMs: 5_000)
        #expect(first.cleaned && first.dirtyRatio == 1)
        #expect(cleaner.firstDirtyOffset(for: CleanerTests.partition) == 200)
        // One small new segment over a clean section of one segment (20 records) is below 0.5.
        _ = try log.append(
            try CleanerTests.batch([("k0", "late")], timestamp: 2_000), leaderEpoch: 0, nowMs: 2_000)
        try log.roll(nowMs: 2_000)
        let before = try CleanerTests.records(log)
        let second = try cleaner.clean(log: log, nowMs: 5_000)
        #expect(!second.cleaned)
        #expect(second.dirtyRatio < 0.5 && second.dirtyRatio > 0)
        #expect(try CleanerTests.records(log) == before)
        #expect(cleaner.firstDirtyOffset(for: CleanerTests.partition) == 200)
        // At ratio 0 the same log is cleaned: k0's old value goes.
        log.config.minCleanableDirtyRatio = 0.01
        let third = try cleaner.clean(log: log, nowMs: 5_000)
        #expect(third.cleaned)
        #expect(third.recordsRemoved == 1)
        #expect(try CleanerTests.records(log).count == before.count - 1)
    }

    @Test func recordsYoungerThanTheCompactionLagAreNotCleaned() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig()
        config.minCompactionLag = .seconds(60)
        let log = try CleanerTests.open(directory.path, config: config)
        let cleaner = self.cleaner()
        // Segments with timestamps 1_000… and 100_000….
        try self.fill(log, rounds: 4, timestamp: 1_000, rollEvery: 2)
        try self.fill(log, rounds: 4, timestamp: 100_000, rollEvery: 2)
        let before = try CleanerTests.records(log)
        // At 50_000 even the oldest segments are younger than 60 s: nothing.
        let none = try cleaner.clean(log: log, nowMs: 50_000)
        #expect(!none.cleaned)
        #expect(try CleanerTests.records(log) == before)
        // At 100_000 the first two segments (offsets 0..<16) are old enough; the rest is not touched.
        let some = try cleaner.clean(log: log, nowMs: 100_000)
        #expect(some.cleaned)
        #expect(some.dirtyEndOffset == 16)
        let afterSome = try CleanerTests.records(log)
        #expect(afterSome.filter { $0.offset < 16 }.map(\.value) == ["r3-0", "r3-1", "r3-2", "r3-3"])
        #expect(afterSome.filter { $0.offset >= 16 } == before.filter { $0.offset >= 16 })
        // Once everything is old enough, the older values hidden by the newer segments go too.
        let all = try cleaner.clean(log: log, nowMs: 200_000)
        #expect(all.cleaned)
        #expect(try CleanerTests.records(log).map(\.offset) == [28, 29, 30, 31])
    }

    @Test func theActiveSegmentIsNeverTouched() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig(segmentBytes: 1 << 20))
        try self.fill(log, rounds: 4, rollEvery: 2)
        try self.fill(log, rounds: 5, timestamp: 2_000)  // stays in the active segment
        let activeBase = try #require(log.segmentBaseOffsets.last)
        #expect(activeBase == 16)
        let activePath = directory.path + "/compacted-0/" + LogSegment.fileName(activeBase, ".log")
        let activeBytes = try CleanerTests.fileBytes(activePath)
        let stats = try self.cleaner().clean(log: log, nowMs: 10_000)
        #expect(stats.cleaned && stats.dirtyEndOffset == 16)
        #expect(try CleanerTests.fileBytes(activePath) == activeBytes)
        let records = try CleanerTests.records(log)
        // The non-active part keeps only its last values; every active record is still there.
        #expect(records.filter { $0.offset < 16 }.map(\.offset) == [12, 13, 14, 15])
        #expect(records.filter { $0.offset >= 16 }.count == 20)
    }

    @Test(arguments: CompressionType.allCases)
    func rebuiltBatchesKeepTheirCodecAndHeaderFields(codec: CompressionType) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig(segmentBytes: 1 << 20))
        // One batch a,b,c,a,b (idempotent, sequence 10…), then a later batch that overwrites b.
        _ = try log.append(
            try CleanerTests.batch(
                [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4"), ("b", "5")], timestamp: 1_000, compression: codec,
                producerID: 7, baseSequence: 10),
            leaderEpoch: 5, nowMs: 1_000)
        _ = try log.append(try CleanerTests.batch([("b", "6")], timestamp: 2_000), leaderEpoch: 5, nowMs: 2_000)
        // An untouched batch is copied byte for byte.
        _ = try log.append(
            try CleanerTests.batch([("z", "untouched")], timestamp: 2_500, compression: codec), leaderEpoch: 5,
            nowMs: 2_500)
        try log.roll(nowMs: 3_000)
        let untouchedBefore = try CleanerTests.batches(log)[2]

        let stats = try self.cleaner().clean(log: log, nowMs: 3_000)
        #expect(stats.batchesRebuilt == 1 && stats.batchesCopied == 2 && stats.recordsRemoved == 3)
        let batches = try CleanerTests.batches(log)
        #expect(batches.count == 3)
        let rebuilt = batches[0]
        #expect(rebuilt.compression == codec)
        #expect(rebuilt.baseOffset == 2)
        #expect(rebuilt.lastOffset == 3)
        #expect(rebuilt.recordCount == 2)
        #expect(rebuilt.producerID == 7 && rebuilt.producerEpoch == 0)
        #expect(rebuilt.baseSequence == 12)
        #expect(rebuilt.partitionLeaderEpoch == 5)
        #expect(rebuilt.maxTimestamp == 1_003)
        let records = try rebuilt.records(using: cleanerCompressor, maxDecompressedSize: 1 << 20)
        #expect(records.map(\.offset) == [2, 3])
        #expect(records.map(\.timestamp) == [1_002, 1_003])
        #expect(records.map { $0.value.map { String(buffer: $0) } } == ["3", "4"])
        #expect(batches[2] == untouchedBefore)
    }

    @Test func logAppendTimeBatchesKeepTheirAppendTime() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig(segmentBytes: 1 << 20))
        _ = try log.append(
            try CleanerTests.batch([("a", "1"), ("b", "2")], timestamp: 1_000, compression: .lz4), leaderEpoch: 0,
            timestampType: .logAppendTime, nowMs: 7_777)
        _ = try log.append(try CleanerTests.batch([("a", "3")], timestamp: 8_000), leaderEpoch: 0, nowMs: 8_000)
        try log.roll(nowMs: 9_000)
        try self.cleaner().clean(log: log, nowMs: 9_000)
        let batch = try CleanerTests.batches(log)[0]
        #expect(batch.timestampType == .logAppendTime)
        #expect(batch.maxTimestamp == 7_777)
        #expect(batch.compression == .lz4)
        #expect(try CleanerTests.records(log).map(\.timestamp) == [7_777, 8_000])
    }

    @Test func readsBoundedByAHighWatermarkStillStopInsideACleanedSegment() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig(segmentBytes: 1 << 20))
        // Distinct keys (nothing to remove) except one overwritten key, so segment 0 is rewritten.
        for round in 0..<10 {
            _ = try log.append(
                try CleanerTests.batch([("k\(round)", "v"), ("dup", "\(round)")], timestamp: 1_000), leaderEpoch: 0,
                nowMs: 1_000)
        }
        try log.roll(nowMs: 1_000)
        #expect(try self.cleaner().clean(log: log, nowMs: 2_000).segmentsReplaced == 1)
        let slice = try #require(try log.read(from: 0, maxBytes: 1 << 20, maxOffset: 10))
        let batches = Array(RecordSet(buffer: try slice.readBytes()).batches)
        #expect(batches.allSatisfy { $0.baseOffset < 10 })
        #expect(batches.last?.lastOffset == 8)
    }

    @Test func keylessRecordsAreRemovedAndControlBatchesKept() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig(segmentBytes: 1 << 20))
        _ = try log.append(
            try CleanerTests.batch([(nil, "keyless"), ("a", "1")], timestamp: 1_000), leaderEpoch: 0, nowMs: 1_000)
        let marker = try RecordBatchBuilder.makeEndTransactionBatch(
            marker: EndTransactionMarker(type: .commit, coordinatorEpoch: 1), producerID: 9, producerEpoch: 0,
            timestamp: 1_500)
        _ = try log.append(RecordSet(buffer: marker), leaderEpoch: 0, nowMs: 1_500)
        try log.roll(nowMs: 2_000)
        let stats = try self.cleaner().clean(log: log, nowMs: 2_000)
        #expect(stats.keylessRecordsRemoved == 1)
        let batches = try CleanerTests.batches(log)
        #expect(batches.count == 2)
        #expect(batches[1].isControl)
        #expect(try CleanerTests.records(log).map(\.offset) == [1, 2])
    }

    @Test func checkpointFileIsKafkasFormat() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try CleanerTests.open(directory.path, config: CleanerTests.compactConfig())
        try self.fill(log, rounds: 6, rollEvery: 3)
        let path = directory.path + "/" + LogCleaner.checkpointFileName
        let cleaner = LogCleaner(fileSystem: PosixFileSystem(), checkpointPath: path, logger: testLogger)
        try cleaner.clean(log: log, nowMs: 5_000)
        let text = String(buffer: try #require(try CleanerTests.fileBytes(path)))
        #expect(text == "0\n1\ncompacted 0 24\n")
        try cleaner.retainCheckpoints(for: [])
        #expect(String(buffer: try #require(try CleanerTests.fileBytes(path))) == "0\n0\n")
    }

    @Test func aSegmentDeletedDuringThePassIsNotSwappedIn() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig()
        config.cleanupPolicy = [.compact, .delete]
        let log = try CleanerTests.open(directory.path, config: config)
        try self.fill(log, rounds: 6, rollEvery: 2)
        let snapshot = try log.cleanerSnapshot()
        let first = snapshot.segments[0]
        // Write a cleaned copy, then let retention delete the segment before the swap.
        var writer = try CleanedSegmentWriter(
            fileSystem: PosixFileSystem(), directory: log.directory, baseOffset: first.baseOffset, config: config)
        try writer.finish()
        try log.deleteRecords(before: first.endOffset, nowMs: 5_000)
        let swapped = try log.replaceWithCleanedSegment(
            first.segment, expectedSize: first.size, config: config, nowMs: 5_000)
        #expect(!swapped)
        let names = try PosixFileSystem().contentsOfDirectory(log.directory)
        #expect(!names.contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") })
        #expect(log.logStartOffset == 8)
    }

    @Test func logManagerRunsCompactionOverCompactedLogs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let compacted = CleanerTests.compactConfig()
        var deleting = compacted
        deleting.cleanupPolicy = .delete
        let plain = deleting
        let manager = try LogManager.open(
            dataDirectory: directory.path, compressor: cleanerCompressor,
            config: { $0 == "compacted" ? compacted : plain }, nowMs: 0, logger: testLogger)
        let a = try manager.getOrCreateLog(for: CleanerTests.partition, config: compacted, nowMs: 0)
        let b = try manager.getOrCreateLog(for: TopicPartition(topic: "plain", partition: 0), config: plain, nowMs: 0)
        try self.fill(a, rounds: 6, rollEvery: 3)
        try self.fill(b, rounds: 6, rollEvery: 3)
        let results = try manager.runCompaction(nowMs: 5_000)
        #expect(results.keys.sorted() == [CleanerTests.partition])
        #expect(try CleanerTests.records(a).count == 4)
        #expect(try CleanerTests.records(b).count == 24)
        let text = String(buffer: try #require(try CleanerTests.fileBytes(manager.cleanerCheckpointPath)))
        #expect(text == "0\n1\ncompacted 0 24\n")
    }
}
