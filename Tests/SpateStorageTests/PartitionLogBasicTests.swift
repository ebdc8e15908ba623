import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

@Suite struct PartitionLogBasicTests {
    func open(_ directory: String, config: LogConfig = LogConfig(), clean: Bool, recoveryPoint: Int64 = 0) throws -> PartitionLog {
        try PartitionLog.open(
            directory: directory + "/orders-0", topicPartition: TopicPartition(topic: "orders", partition: 0),
            config: config, fileSystem: PosixFileSystem(), compressor: nil, recoveryPoint: recoveryPoint,
            logStartOffset: 0, hadCleanShutdown: clean, nowMs: 0, logger: testLogger)
    }

    @Test func appendReadAndReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = LogConfig()
        config.segmentBytes = 4096
        config.indexIntervalBytes = 256
        let log = try self.open(directory.path, config: config, clean: false)
        var expected: [String] = []
        for round in 0..<50 {
            let result = try log.append(RecordSet(buffer: try makeBatch(count: 10, prefix: "r\(round)")), leaderEpoch: 0, nowMs: 0)
            #expect(result.firstOffset == Int64(round * 10))
            #expect(result.lastOffset == Int64(round * 10 + 9))
            expected += (0..<10).map { "r\(round)-\($0)" }
        }
        #expect(log.logEndOffset == 500)
        #expect(log.segmentCount > 1)
        #expect(try readAll(log).map(\.value) == expected)
        #expect(try readAll(log).map(\.offset) == (0..<500).map(Int64.init))
        // A read from the middle of a batch starts at that batch.
        let slice = try #require(try log.read(from: 255, maxBytes: 1))
        #expect(slice.firstBatchOffset == 250)
        try log.close(nowMs: 0)

        let reopened = try self.open(directory.path, config: config, clean: true)
        #expect(reopened.logEndOffset == 500)
        #expect(try readAll(reopened).map(\.value) == expected)
        try reopened.close(nowMs: 0)

        let recovered = try self.open(directory.path, config: config, clean: false)
        #expect(recovered.logEndOffset == 500)
        #expect(try readAll(recovered).map(\.value) == expected)
    }

    @Test func tornTailIsTruncatedOnRecovery() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = try self.open(directory.path, clean: false)
        for _ in 0..<5 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 3)), leaderEpoch: 1, nowMs: 0) }
        try log.close(nowMs: 0)
        // Append half a batch by hand, as a crash mid-write would leave it.
        let file = try PosixFileSystem().open(directory.path + "/orders-0/00000000000000000000.log", create: false)
        let size = try file.size()
        var half = try makeBatch(count: 3)
        half = half.getSlice(at: 0, length: half.readableBytes / 2)!
        try file.write(half, at: size)
        try file.close()

        let recovered = try self.open(directory.path, clean: false)
        #expect(recovered.logEndOffset == 15)
        #expect(try readAll(recovered).count == 15)
        _ = try recovered.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 1, nowMs: 0)
        #expect(recovered.logEndOffset == 16)
    }
}
