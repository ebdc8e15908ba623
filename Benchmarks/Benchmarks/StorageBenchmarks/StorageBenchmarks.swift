import Benchmark
import NIOCore
import SpateRecords
import SpateStorage
import StorageBenchmarkSupport

// Storage benchmarks (issue 3): append and sequential-read throughput of `PartitionLog` on the real disk
// (`PosixFileSystem`, logs in a fresh directory under $SPATE_BENCH_DIR or /tmp). One measured iteration appends (or
// reads) a fixed number of bytes; the custom metric `MB/s` is that volume (10^6 bytes) over the measured time.
// Opening a fresh log before, and closing and deleting it after, each iteration are outside the measurement.
// Restart and crash-recovery timings are one-off and come from the StorageRecovery tool instead.

/// Bytes appended per measured iteration (512 MiB, in one 1 GiB segment: no roll inside the measurement).
let appendBytesPerIteration = 512 << 20
/// The log read per iteration: 1 GiB of 1 MiB batches in 256 MiB segments.
let readLogBytes = 1 << 30

let throughputMetric = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let fsyncCountMetric = BenchmarkMetric.custom("fsyncs", polarity: .prefersSmaller, useScalingFactor: false)
let fsyncMeanMetric = BenchmarkMetric.custom("fsync mean (us)", polarity: .prefersSmaller, useScalingFactor: false)

func megabytesPerSecond(bytes: Int, nanoseconds: UInt64) -> Int {
    Int((Double(bytes) / (Double(nanoseconds) / 1e9) / 1e6).rounded())
}

/// A log read by every iteration of the read benchmarks, written once in the setup hook.
final class ReadFixture: @unchecked Sendable {
    var directory = ""
    var log: PartitionLog?
}
let readFixtures: [BatchShape: ReadFixture] = [.kib16: ReadFixture(), .mib1: ReadFixture()]

let benchmarks: @Sendable () -> Void = {
    let appendConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, throughputMetric],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(30),
        maxIterations: 6
    )
    let groupCommitConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, throughputMetric, fsyncCountMetric, fsyncMeanMetric],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(30),
        maxIterations: 6
    )
    let readConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, throughputMetric],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(20),
        maxIterations: 10
    )

    // Each append case runs twice: with Kafka's default settings, and with `preallocate` (Kafka's `file.preallocate`):
    // the segment's 1 GiB is reserved on disk when it is created, so appends need not allocate blocks.
    for (shape, preallocate) in BatchShape.allCases.flatMap({ shape in [(shape, false), (shape, true)] }) {
        let batch = shape.makeBatch()
        let suffix = preallocate ? ", preallocated" : ""
        let config = benchConfig(segmentBytes: 1 << 30, preallocate: preallocate)

        // (a) Flush off: appends only; the OS writes back when it likes (Kafka's default, no flush.ms).
        Benchmark("Append 512 MiB, \(shape.rawValue) batches, flush off\(suffix)", configuration: appendConfiguration) {
            benchmark in
            let directory = freshDirectory("append")
            defer { removeTree(directory) }
            let log = try openNewLog(directory: directory, config: config)
            let start = ContinuousClock.now
            benchmark.startMeasurement()
            let bytes = try appendRepeatedly(log, batch: batch, totalBytes: appendBytesPerIteration)
            benchmark.stopMeasurement()
            let elapsed = ContinuousClock.now - start
            benchmark.measurement(throughputMetric, megabytesPerSecond(bytes: bytes, nanoseconds: elapsed.nanoseconds))
            try log.close(nowMs: benchNowMs)
        }

        // (b) Group commit every 1 ms: a second thread calls `log.flush(nowMs:)` (one fsync of the log file; the index
        // files are synced at roll and close) every millisecond while this thread appends; the measurement ends after
        // a final flush, so every byte counted is durable.
        Benchmark(
            "Append 512 MiB, \(shape.rawValue) batches, flush every 1 ms\(suffix)",
            configuration: groupCommitConfiguration
        ) {
            benchmark in
            let directory = freshDirectory("groupcommit")
            defer { removeTree(directory) }
            let log = try openNewLog(directory: directory, config: config)
            let flusher = PeriodicFlusher(log: log)
            let start = ContinuousClock.now
            benchmark.startMeasurement()
            flusher.start()
            let bytes = try appendRepeatedly(log, batch: batch, totalBytes: appendBytesPerIteration)
            let stats = flusher.stop()
            try log.flush(nowMs: benchNowMs)
            benchmark.stopMeasurement()
            let elapsed = ContinuousClock.now - start
            precondition(stats.errors == 0, "a flush failed")
            benchmark.measurement(throughputMetric, megabytesPerSecond(bytes: bytes, nanoseconds: elapsed.nanoseconds))
            benchmark.measurement(fsyncCountMetric, stats.flushes + 1)
            benchmark.measurement(fsyncMeanMetric, Int((stats.meanMs * 1000).rounded()))
            try log.close(nowMs: benchNowMs)
        }
    }

    // (c) Sequential read, page cache warm: the setup hook writes 1 GiB and reads it once; every iteration then
    // fetches the whole log with read(from:maxBytes: 1 MiB) + readBytes() (a pread into a fresh ByteBuffer).
    for shape in BatchShape.allCases {
        let fixture = readFixtures[shape]!
        Benchmark(
            "Sequential read 1 GiB, \(shape.rawValue) batches, 1 MiB fetches, page cache warm",
            configuration: readConfiguration
        ) { benchmark in
            let log = fixture.log!
            let start = ContinuousClock.now
            benchmark.startMeasurement()
            let bytes = try readSequentially(log, maxBytes: 1 << 20)
            benchmark.stopMeasurement()
            let elapsed = ContinuousClock.now - start
            benchmark.measurement(throughputMetric, megabytesPerSecond(bytes: bytes, nanoseconds: elapsed.nanoseconds))
        } setup: {
            fixture.directory = freshDirectory("read")
            let log = try openNewLog(directory: fixture.directory, config: benchConfig(segmentBytes: 256 << 20))
            try appendRepeatedly(log, batch: shape.makeBatch(), totalBytes: readLogBytes)
            try log.flush(nowMs: benchNowMs)
            try readSequentially(log)
            fixture.log = log
        } teardown: {
            try fixture.log?.close(nowMs: benchNowMs)
            fixture.log = nil
            removeTree(fixture.directory)
        }
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = self.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
