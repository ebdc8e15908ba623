import Glibc
import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// A one-off throughput measurement, run only with `SPATE_CLEANER_BENCH=1` (it prints its figures).
@Suite struct LogCleanerBenchmark {
    @Test(.enabled(if: getenv("SPATE_CLEANER_BENCH") != nil), arguments: [CompressionType.none, .lz4, .zstd])
    func cleanTenMebibytes(codec: CompressionType) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var config = CleanerTests.compactConfig(segmentBytes: 1 << 20)
        config.indexIntervalBytes = 4096
        let log = try CleanerTests.open(directory.path, config: config)
        var rng = SplitMix64(seed: 42)
        let payload = String(repeating: "x", count: 80)
        var round: Int64 = 0
        while try log.sizeInBytes < 10 << 20 {
            var records: [(key: String?, value: String?)] = []
            for _ in 0..<50 {
                records.append(("key-\(rng.next() % 20_000)", "\(payload)-\(rng.next())"))
            }
            _ = try log.append(
                try CleanerTests.batch(records, timestamp: 1_000 + round, compression: codec), leaderEpoch: 0,
                nowMs: 1_000)
            round += 1
        }
        try log.roll(nowMs: 2_000)
        let size = try log.sizeInBytes
        let cleaner = LogCleaner(fileSystem: PosixFileSystem(), checkpointPath: nil, logger: testLogger)
        let clock = ContinuousClock()
        var stats = CleanerStats()
        let elapsed = try clock.measure { stats = try cleaner.clean(log: log, nowMs: 10_000) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "cleaner bench codec=\(codec) log=\(size) bytes records=\(stats.recordsRead) keys=\(stats.offsetMapSize)"
                + " removed=\(stats.recordsRemoved) written=\(stats.bytesWritten) time=\(seconds)s"
                + " throughput=\(Double(size) / seconds / 1_048_576) MiB/s (log bytes; map pass + rewrite pass)")
        #expect(stats.cleaned)
    }
}
