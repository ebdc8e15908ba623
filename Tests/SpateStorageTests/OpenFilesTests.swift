import SpateRecords
import Testing

@testable import SpateStorage

/// Regression test, found by the crash test: start-up opened three files per segment and ran out of descriptors with
/// a few hundred segments. Index files now open on first use, as in Kafka.
@Suite struct OpenFilesTests {
    @Test func startUpOpensOneFilePerSegment() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        var config = LogConfig()
        config.segmentBytes = 200
        let log = try PartitionLog.open(
            directory: "/d/t-0", topicPartition: TopicPartition(topic: "t", partition: 0), config: config,
            fileSystem: fs, compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: false, nowMs: 0,
            logger: testLogger)
        for _ in 0..<50 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 0, nowMs: 0) }
        let segments = log.segmentCount
        #expect(segments > 20)
        try log.close(nowMs: 0)
        fs.resetCounts()
        let reopened = try PartitionLog.open(
            directory: "/d/t-0", topicPartition: TopicPartition(topic: "t", partition: 0), config: config,
            fileSystem: fs, compressor: nil, recoveryPoint: 50, logStartOffset: 0, hadCleanShutdown: true, nowMs: 0,
            logger: testLogger)
        // One .log per segment, plus a few metadata files (the active segment's two index files, the leader-epoch
        // checkpoint, the producer-state snapshot) — not three files per segment.
        #expect(fs.counts.opens <= segments + 5)
        #expect(reopened.logEndOffset == 50)
    }

    /// Issue 3 (clean restart of 1,000 segments in < 200 ms with a cold page cache): after a clean shutdown only the
    /// active segment's files are opened; older segments are known from the directory listing and open on first use,
    /// and then serve reads, retention and crash recovery as before.
    @Test func cleanStartOpensOnlyTheActiveSegment() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        var config = LogConfig()
        config.segmentBytes = 200
        let partition = TopicPartition(topic: "t", partition: 0)
        func open(clean: Bool, recoveryPoint: Int64) throws -> PartitionLog {
            try PartitionLog.open(
                directory: "/d/t-0", topicPartition: partition, config: config, fileSystem: fs, compressor: nil,
                recoveryPoint: recoveryPoint, logStartOffset: 0, hadCleanShutdown: clean, nowMs: 0, logger: testLogger)
        }
        let log = try open(clean: false, recoveryPoint: 0)
        for _ in 0..<50 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 0, nowMs: 0) }
        let segments = log.segmentCount
        let bytes = try log.sizeInBytes
        #expect(segments > 20)
        try log.close(nowMs: 0)

        fs.resetCounts()
        let reopened = try open(clean: true, recoveryPoint: 50)
        // The active segment's .log, .index and .timeindex, the leader-epoch checkpoint and the producer snapshot at
        // most: nothing per older segment.
        #expect(fs.counts.opens <= 5)
        #expect(reopened.logEndOffset == 50)
        #expect(reopened.segmentCount == segments)
        try reopened.withSegments { segments in
            #expect(segments.dropLast().allSatisfy { !$0.isLogFileOpen })
        }
        // Reads from every segment, oldest first, find every record where it was.
        var offset: Int64 = 0
        while offset < 50 {
            let slice = try #require(try reopened.read(from: offset, maxBytes: 1))
            #expect(slice.firstBatchOffset == offset)
            offset += 1
        }
        #expect(try reopened.sizeInBytes == bytes)
        // Retention by size deletes the oldest segments (opening them only to learn their sizes).
        var limited = config
        limited.retentionBytes = bytes / 2
        reopened.config = limited
        #expect(try reopened.enforceRetention(nowMs: 0) > 0)
        #expect(reopened.logStartOffset > 0)
        try reopened.close(nowMs: 0)

        // A crash (no clean shutdown) from an old recovery point validates every segment from there on, lazily
        // opened or not, and keeps everything.
        let afterCrash = try open(clean: false, recoveryPoint: 30)
        #expect(afterCrash.logEndOffset == 50)
        #expect(try afterCrash.read(from: 49, maxBytes: 1)?.firstBatchOffset == 49)
        try afterCrash.close(nowMs: 0)
    }

    /// A segment closed (deleted by retention) before it was ever opened refuses later opens instead of reopening a
    /// file that may be gone.
    @Test func closedLazySegmentStaysClosed() throws {
        let memory = InMemoryFileSystem()
        var config = LogConfig()
        config.segmentBytes = 200
        try memory.createDirectoryDurably("/d")
        let segment = try LogSegment.create(fileSystem: memory, directory: "/d", baseOffset: 0, config: config, nowMs: 0)
        segment.close()
        let lazy = LogSegment.lazy(fileSystem: memory, directory: "/d", baseOffset: 0, config: config, nowMs: 0)
        #expect(!lazy.isLogFileOpen)
        #expect(try lazy.size == 0)
        #expect(lazy.isLogFileOpen)
        lazy.close()
        #expect(throws: StorageError.self) { try lazy.logFile() }
        let neverOpened = LogSegment.lazy(fileSystem: memory, directory: "/d", baseOffset: 0, config: config, nowMs: 0)
        neverOpened.close()
        #expect(throws: StorageError.self) { try neverOpened.size }
    }
}
