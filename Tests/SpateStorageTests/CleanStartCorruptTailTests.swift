import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// Regression test, found by the crash test (StorageCrashTests): after a clean shutdown the start-up used to skip
/// recovery, so a damaged active-segment tail made `loadTail` throw `.corrupt` out of `LogManager.open` on every
/// restart. A clean start now falls back to recovering that log.
@Suite struct CleanStartCorruptTailTests {
    @Test func corruptTailAfterCleanShutdownIsRecovered() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let partition = TopicPartition(topic: "orders", partition: 0)
        func openManager() throws -> LogManager {
            try LogManager.open(
                dataDirectory: directory.path,
                fileSystem: PosixFileSystem(),
                compressor: nil,
                config: { _ in LogConfig() },
                nowMs: 0,
                logger: testLogger
            )
        }
        let manager = try openManager()
        let log = try manager.getOrCreateLog(for: partition, config: LogConfig(), nowMs: 0)
        for _ in 0..<3 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 4)), leaderEpoch: 0, nowMs: 0) }
        try manager.shutdown(nowMs: 0)

        // 100 zero bytes after the last batch, as a file extended without its data would have.
        let file = try PosixFileSystem().open(directory.path + "/orders-0/00000000000000000000.log", create: false)
        var zeros = ByteBuffer()
        zeros.writeRepeatingByte(0, count: 100)
        try file.write(zeros, at: try file.size())
        try file.close()

        let reopened = try openManager()
        #expect(reopened.hadCleanShutdown)
        #expect(try reopened.log(for: partition)?.logEndOffset == 12)
        #expect(try readAll(reopened.log(for: partition)!).count == 12)
        _ = try reopened.log(for: partition)!.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 0, nowMs: 0)
        #expect(try reopened.log(for: partition)?.logEndOffset == 13)
    }
}
