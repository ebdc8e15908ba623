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
}
