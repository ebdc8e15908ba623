public import BenchmarkSupport
import Glibc
public import Logging
public import NIOCore
public import SpateRecords
public import SpateStorage
import Synchronization

// Shared by the StorageBenchmarks suite and the StorageRecovery tool (storage issue 3).

/// The broker time given to the log (fixed: nothing here depends on the clock; `segment.ms` is 7 days).
public let benchNowMs: Int64 = 1_700_000_000_000

/// A logger that drops everything, so that logging costs nothing in the timings.
public let silentLogger = Logger(label: "spate.storage.bench") { _ in SwiftLogNoOpLogHandler() }

public let benchTopicPartition = TopicPartition(topic: "bench", partition: 0)

/// The directory under which every benchmark log is created: `$SPATE_BENCH_DIR`, else `/tmp` (on this machine the
/// same ext4 disk as /work; `Benchmarks/scripts/disk-limits.sh` measures the same directory).
public var benchBaseDirectory: String {
    if let value = getenv("SPATE_BENCH_DIR") { return String(cString: value) }
    return "/tmp"
}

private let directoryCounter = Atomic<Int>(0)

/// A fresh, empty directory path (not yet created) under ``benchBaseDirectory``.
public func freshDirectory(_ label: String) -> String {
    let n = directoryCounter.add(1, ordering: .relaxed).newValue
    let path = "\(benchBaseDirectory)/spate-storebench-\(getpid())-\(label)-\(n)"
    removeTree(path)
    return path
}

/// Removes a directory tree (best effort).
public func removeTree(_ path: String) {
    try? PosixFileSystem().remove(path)
}

/// Log settings for the benchmarks: Kafka's defaults except `segment.bytes`, no time retention, and a
/// `max.message.bytes` of 2 MiB so that a batch of 1,024 × 1 KiB records (1,059,773 bytes) is accepted.
/// `preallocate` (Kafka's default: off) defaults to the environment variable `SPATE_BENCH_PREALLOCATE=1`, so that one
/// build can be timed both ways.
public func benchConfig(segmentBytes: Int64, preallocate: Bool = benchPreallocate) -> LogConfig {
    var config = LogConfig()
    config.segmentBytes = segmentBytes
    config.retentionTime = nil
    config.maxMessageBytes = 2 << 20
    config.preallocate = preallocate
    return config
}

/// Whether `SPATE_BENCH_PREALLOCATE=1` asks for preallocated segments.
public let benchPreallocate: Bool = getenv("SPATE_BENCH_PREALLOCATE").map { String(cString: $0) == "1" } ?? false

/// The two batch shapes: 1 KiB random values (incompressible, uncompressed batches), 16 or 1,024 per batch.
public enum BatchShape: String, CaseIterable, Sendable {
    case kib16 = "16 KiB"
    case mib1 = "1 MiB"

    public var recordCount: Int { self == .kib16 ? 16 : 1_024 }

    /// One batch as a producer sends it (built with `RecordBatchBuilder`): 16,733 or 1,059,773 bytes.
    public func makeBatch() -> ByteBuffer {
        makeOneKiBRecordBatch(recordCount: self.recordCount)
    }
}

/// One uncompressed batch of `recordCount` records with 1 KiB random values, from a non-idempotent producer (no
/// producer id). The benchmarks append the same batch over and over: with a producer id, `PartitionLog.append` would
/// answer every append after the first as a duplicate (an idempotent retry) and write nothing, and
/// ``appendRepeatedly(_:batch:totalBytes:)`` would never reach its byte count.
public func makeOneKiBRecordBatch(recordCount: Int) -> ByteBuffer {
    BenchmarkSupport.makeBatch(recordCount: recordCount, valueSize: 1 << 10, idempotent: false)
}

/// Opens (creating) a partition log in `directory` as a new, empty log.
public func openNewLog(directory: String, config: LogConfig) throws -> PartitionLog {
    try PartitionLog.open(
        directory: directory, topicPartition: benchTopicPartition, config: config, fileSystem: PosixFileSystem(),
        compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: false, nowMs: benchNowMs,
        logger: silentLogger)
}

/// Appends `batch` repeatedly until at least `totalBytes` have been appended; returns the bytes appended.
///
/// Each append passes the same prebuilt batch, so the log's in-place stamping (base offset, leader epoch) copies the
/// batch first (copy-on-write: the caller still holds it), as it would for a request buffer still referenced by the
/// decoded request.
@discardableResult
public func appendRepeatedly(_ log: PartitionLog, batch: ByteBuffer, totalBytes: Int) throws -> Int {
    var appended = 0
    let records = RecordSet(buffer: batch)
    while appended < totalBytes {
        let result = try log.append(records, leaderEpoch: 0, nowMs: benchNowMs)
        precondition(!result.isDuplicate && result.byteCount > 0, "the append wrote nothing (a duplicate batch?)")
        appended += result.byteCount
    }
    return appended
}

/// Reads the whole log sequentially, `maxBytes` per fetch, materialising each slice with `readBytes()`; returns
/// the bytes of the whole batches read (the log's size when it is read to the end). The next fetch starts after the last whole batch of the previous slice (as a consumer would).
@discardableResult
public func readSequentially(_ log: PartitionLog, maxBytes: Int = 1 << 20) throws -> Int {
    var offset = log.logStartOffset
    let end = log.logEndOffset
    var total = 0
    while offset < end {
        guard let slice = try log.read(from: offset, maxBytes: maxBytes) else { break }
        let bytes = try slice.readBytes()
        // Walk the batch headers: base offset (8 bytes), batch length (4), ..., last offset delta at byte 23.
        var position = bytes.readerIndex
        var next = offset
        while position + 27 <= bytes.writerIndex {
            let base = bytes.getInteger(at: position, as: Int64.self)!
            let length = Int(bytes.getInteger(at: position + 8, as: Int32.self)!)
            guard position + 12 + length <= bytes.writerIndex else { break }
            let lastDelta = bytes.getInteger(at: position + 23, as: Int32.self)!
            next = base + Int64(lastDelta) + 1
            position += 12 + length
        }
        precondition(next > offset, "no whole batch in a fetch at \(offset)")
        // Count whole batches only: a partial batch at the end of a fetch is fetched again by the next one.
        total += position - bytes.readerIndex
        offset = next
    }
    return total
}

/// Calls `log.flush(nowMs:)` every `interval` on its own thread (a 1 ms `flush.ms`-style flusher running
/// concurrently with the appender) until stopped. When an fsync takes longer than the interval the next one starts
/// at once.
public final class PeriodicFlusher: Sendable {
    public let log: PartitionLog
    private let intervalNs: UInt64
    private let stopFlag = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)
    private let flushes = Atomic<Int>(0)
    private let flushNanoseconds = Atomic<Int>(0)
    private let maxFlushNanoseconds = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)

    public init(log: PartitionLog, intervalNanoseconds: UInt64 = 1_000_000) {
        self.log = log
        self.intervalNs = intervalNanoseconds
    }

    private static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public func start() {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let flusher = Unmanaged<PeriodicFlusher>.fromOpaque(raw!).takeRetainedValue()
            flusher.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    private func run() {
        while !self.stopFlag.load(ordering: .acquiring) {
            let start = Self.monotonicNs()
            do {
                try self.log.flush(nowMs: benchNowMs)
            } catch {
                self.errors.add(1, ordering: .relaxed)
            }
            let elapsed = Self.monotonicNs() - start
            self.flushes.add(1, ordering: .relaxed)
            self.flushNanoseconds.add(Int(elapsed), ordering: .relaxed)
            if Int(elapsed) > self.maxFlushNanoseconds.load(ordering: .relaxed) {
                self.maxFlushNanoseconds.store(Int(elapsed), ordering: .relaxed)
            }
            if elapsed < self.intervalNs {
                var pause = timespec(tv_sec: 0, tv_nsec: Int(self.intervalNs - elapsed))
                nanosleep(&pause, nil)
            }
        }
        self.done.store(true, ordering: .releasing)
    }

    /// Stops the thread and waits for its last flush; returns (flushes, mean fsync ms, max fsync ms, errors).
    @discardableResult
    public func stop() -> (flushes: Int, meanMs: Double, maxMs: Double, errors: Int) {
        self.stopFlag.store(true, ordering: .releasing)
        while !self.done.load(ordering: .acquiring) {
            var pause = timespec(tv_sec: 0, tv_nsec: 100_000)
            nanosleep(&pause, nil)
        }
        let count = self.flushes.load(ordering: .relaxed)
        let total = Double(self.flushNanoseconds.load(ordering: .relaxed))
        return (
            count, count == 0 ? 0 : total / Double(count) / 1e6,
            Double(self.maxFlushNanoseconds.load(ordering: .relaxed)) / 1e6, self.errors.load(ordering: .relaxed)
        )
    }
}
