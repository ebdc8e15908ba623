import Glibc
import NIOCore
import SpateRecords
import SpateStorage
import StorageBenchmarkSupport

// One-off storage timings for issue 3, measured with ContinuousClock (release: `swift run -c release StorageRecovery`):
//   1. clean restart: LogManager.open of a data directory holding one partition with 1,000 segments (segment.bytes
//      16 KiB), after LogManager.shutdown; page cache warm, and cold after dropping caches (root only);
//   2. crash recovery: PartitionLog.open(recoveryPoint: 0, hadCleanShutdown: false) of a log with ≥ 1 GiB past the
//      recovery point (never flushed or closed by the writer), warm and cold, for 1 MiB and 16 KiB batches;
//   3. cold sequential read of that log after a clean close and dropped caches.
// Every directory is created under $SPATE_BENCH_DIR or /tmp and removed at the end.

let repetitions = 5

/// `STORAGE_RECOVERY_ONLY=restart` (or `recovery`) runs one section only.
let onlySection: String? = getenv("STORAGE_RECOVERY_ONLY").map { String(cString: $0) }
func runs(_ section: String) -> Bool { onlySection == nil || onlySection == section }

/// Prints a line and flushes at once (stdout is a file in the recorded runs).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, milliseconds(ContinuousClock.now - start))
}

func cachedKiB() -> Int {
    guard let file = fopen("/proc/meminfo", "r") else { return -1 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(cString: line)
        if text.hasPrefix("Cached:") {
            return Int(text.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
        }
    }
    return -1
}

/// `sync` then `echo 3 > /proc/sys/vm/drop_caches`; returns a note with the page cache size before and after.
func dropCaches() -> String {
    sync()
    let before = cachedKiB()
    guard let file = fopen("/proc/sys/vm/drop_caches", "w") else {
        return "drop_caches not writable (errno \(errno)): cold figures are NOT cold"
    }
    fputs("3\n", file)
    let closed = fclose(file)
    let after = cachedKiB()
    return "drop_caches: Cached \(before / 1024) MiB -> \(after / 1024) MiB (fclose \(closed))"
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    guard digits > 0 else { return "\(scaled)" }
    let whole = scaled / Int(scale)
    let fraction = String(abs(scaled) % Int(scale))
    return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

func summary(_ values: [Double]) -> String {
    let sorted = values.sorted()
    let median = sorted[sorted.count / 2]
    return "min \(fixed(sorted.first!)), median \(fixed(median)), max \(fixed(sorted.last!)) (n=\(sorted.count))"
}

say(
    "StorageRecovery: base directory \(benchBaseDirectory), "
        + "preallocate \(benchPreallocate ? "on" : "off") (SPATE_BENCH_PREALLOCATE)")

// MARK: 1. Clean restart with 1,000 segments

if runs("restart") {
    let dataDirectory = freshDirectory("restart")
    defer { removeTree(dataDirectory) }
    let config = benchConfig(segmentBytes: 16 << 10)
    // 4 × 1 KiB records (4,204 bytes): three batches fill a 16 KiB segment, the fourth rolls.
    let batch = makeOneKiBRecordBatch(recordCount: 4)
    let manager = try LogManager.open(
        dataDirectory: dataDirectory, fileSystem: PosixFileSystem(), compressor: nil, config: { _ in config },
        nowMs: benchNowMs, logger: silentLogger)
    let log = try manager.getOrCreateLog(for: benchTopicPartition, config: config, nowMs: benchNowMs)
    let (_, fillMs) = try timed { () throws in
        while log.segmentCount < 1_000 {
            _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: benchNowMs)
        }
    }
    say(
        "restart: \(log.segmentCount) segments, \(try log.sizeInBytes) bytes, log end offset \(log.logEndOffset); "
            + "filled in \(fixed(fillMs, 0)) ms (every roll fsyncs)")
    try manager.shutdown(nowMs: benchNowMs)

    /// Times `LogManager.open` until the log is usable (its log end offset known), then, separately, the first fetch
    /// from the oldest segment (which a lazily opened segment pays for: opening its files, loading its index).
    func openClean() throws -> (open: Double, firstOldRead: Double) {
        let (reopened, ms) = try timed { () throws -> LogManager in
            let manager = try LogManager.open(
                dataDirectory: dataDirectory, fileSystem: PosixFileSystem(), compressor: nil, config: { _ in config },
                nowMs: benchNowMs, logger: silentLogger)
            let logEnd = try manager.log(for: benchTopicPartition)!.logEndOffset
            precondition(logEnd > 0)
            return manager
        }
        precondition(reopened.hadCleanShutdown, "expected a clean start")
        let log = try reopened.log(for: benchTopicPartition)!
        precondition(log.segmentCount >= 1_000)
        let (_, readMs) = try timed { () throws in
            let slice = try log.read(from: log.logStartOffset, maxBytes: 1 << 20)!
            let bytes = try slice.readBytes()
            precondition(bytes.readableBytes > 0)
        }
        try reopened.shutdown(nowMs: benchNowMs)
        return (ms, readMs)
    }
    var warm: [(open: Double, firstOldRead: Double)] = []
    for _ in 0..<repetitions { warm.append(try openClean()) }
    say(
        "restart clean, page cache warm: LogManager.open (+ log end offset) ms: \(summary(warm.map(\.open))); "
            + "then first read of the oldest segment ms: \(summary(warm.map(\.firstOldRead)))")
    var cold: [(open: Double, firstOldRead: Double)] = []
    var note = ""
    for _ in 0..<5 {
        note = dropCaches()
        cold.append(try openClean())
    }
    say(
        "restart clean, cold (\(note)): LogManager.open (+ log end offset) ms: \(summary(cold.map(\.open))); "
            + "then first read of the oldest segment ms: \(summary(cold.map(\.firstOldRead)))")
}

// MARK: 2. Crash recovery with ≥ 1 GiB past the recovery point, then 3. cold sequential read

for shape in [BatchShape.mib1, BatchShape.kib16] where runs("recovery") {
    let directory = freshDirectory("recovery")
    defer { removeTree(directory) }
    let config = benchConfig(segmentBytes: 1 << 30)
    var logBytes: Int64 = 0
    do {
        // The writer never flushes and never closes: there is no clean marker, and its recovery point only moves at the
        // roll (to the end of the fsynced first segment). The timed opens below still pass recovery point 0: a full scan.
        let writer = try openNewLog(directory: directory, config: config)
        try appendRepeatedly(writer, batch: shape.makeBatch(), totalBytes: (1 << 30) + (8 << 20))
        logBytes = try writer.sizeInBytes
        say(
            "recovery, \(shape.rawValue) batches: \(logBytes) bytes in \(writer.segmentCount) segment(s), "
                + "log end offset \(writer.logEndOffset), recovery point \(writer.recoveryPoint)")
    }

    func recover() throws -> Double {
        let (log, ms) = try timed {
            try PartitionLog.open(
                directory: directory, topicPartition: benchTopicPartition, config: config, fileSystem: PosixFileSystem(),
                compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: false, nowMs: benchNowMs,
                logger: silentLogger)
        }
        let recovered = try log.sizeInBytes
        precondition(recovered == logBytes, "recovery dropped bytes: \(recovered) of \(logBytes)")
        // Leave it as a crash would: no close (files are closed when the log is released).
        return ms
    }
    func rate(_ ms: Double) -> String { "\(fixed(Double(logBytes) / (ms / 1000) / 1e6, 0)) MB/s" }

    var warm: [Double] = []
    for _ in 0..<3 { warm.append(try recover()) }
    let warmMedian = warm.sorted()[warm.count / 2]
    say("recovery, \(shape.rawValue) batches, page cache warm: open ms: \(summary(warm)); median \(rate(warmMedian))")
    var cold: [Double] = []
    var note = ""
    for _ in 0..<2 {
        note = dropCaches()
        cold.append(try recover())
    }
    let coldMedian = cold.sorted()[cold.count / 2]
    say("recovery, \(shape.rawValue) batches, cold (\(note)): open ms: \(summary(cold)); median \(rate(coldMedian))")

    // 3. Cold sequential read: close cleanly, drop caches, open after a clean shutdown, read everything.
    var reads: [Double] = []
    for _ in 0..<2 {
        let log = try PartitionLog.open(
            directory: directory, topicPartition: benchTopicPartition, config: config, fileSystem: PosixFileSystem(),
            compressor: nil, recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: false, nowMs: benchNowMs,
            logger: silentLogger)
        note = dropCaches()
        let (bytes, ms) = try timed { try readSequentially(log, maxBytes: 1 << 20) }
        if Int64(bytes) != logBytes { say("WARNING: read \(bytes) bytes of \(logBytes)") }
        reads.append(ms)
        try log.close(nowMs: benchNowMs)
    }
    let readMedian = reads.sorted()[reads.count / 2]
    say(
        "cold sequential read, \(shape.rawValue) batches, 1 MiB fetches (\(note)): ms: \(summary(reads)); "
            + "median \(rate(readMedian))")
}

// MARK: 4. Append loop for profiling (only with STORAGE_RECOVERY_ONLY=append): the StorageBenchmarks append case
// (512 MiB into a fresh log, flush off) in a plain process that `perf record` can attach to. Batch shape from
// APPEND_SHAPE ("16 KiB" or "1 MiB"), iterations from APPEND_ITERATIONS (default 6).

/// CPU time of the calling thread in milliseconds (user + system): unlike the wall clock, not inflated by waiting for
/// a core when other processes compete for the machine's two.
func threadCPUMilliseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1000 + Double(time.tv_nsec) / 1e6
}

if onlySection == "append" {
    let shape = getenv("APPEND_SHAPE").flatMap { BatchShape(rawValue: String(cString: $0)) } ?? .kib16
    let iterations = getenv("APPEND_ITERATIONS").flatMap { Int(String(cString: $0)) } ?? 6
    let batch = shape.makeBatch()
    var rates: [Double] = []
    var cpuRates: [Double] = []
    for _ in 0..<iterations {
        let directory = freshDirectory("append")
        let log = try openNewLog(directory: directory, config: benchConfig(segmentBytes: 1 << 30))
        let cpuStart = threadCPUMilliseconds()
        let (bytes, ms) = try timed { try appendRepeatedly(log, batch: batch, totalBytes: 512 << 20) }
        let cpuMs = threadCPUMilliseconds() - cpuStart
        rates.append(Double(bytes) / (ms / 1000) / 1e6)
        cpuRates.append(Double(bytes) / (cpuMs / 1000) / 1e6)
        try log.close(nowMs: benchNowMs)
        removeTree(directory)
    }
    say("append 512 MiB, \(shape.rawValue) batches, flush off: MB/s \(summary(rates))")
    say("  per second of the appending thread's CPU time: MB/s \(summary(cpuRates))")
}

// MARK: 4b. Spate's own cost per append (only with STORAGE_RECOVERY_ONLY=append-null): the append loop of section 4
// into files that discard what is written (``NullFileSystem``), so that only validation, stamping, indexing and the
// log's bookkeeping are timed, without the kernel's page-cache work.

if onlySection == "append-null" {
    let shape = getenv("APPEND_SHAPE").flatMap { BatchShape(rawValue: String(cString: $0)) } ?? .kib16
    let iterations = getenv("APPEND_ITERATIONS").flatMap { Int(String(cString: $0)) } ?? 6
    let batch = shape.makeBatch()
    var perAppend: [Double] = []
    for _ in 0..<iterations {
        let log = try PartitionLog.open(
            directory: "/null/log", topicPartition: benchTopicPartition, config: benchConfig(segmentBytes: 1 << 30),
            fileSystem: NullFileSystem(), compressor: nil, recoveryPoint: 0, logStartOffset: 0,
            hadCleanShutdown: false, nowMs: benchNowMs, logger: silentLogger)
        let (bytes, ms) = try timed { try appendRepeatedly(log, batch: batch, totalBytes: 512 << 20) }
        perAppend.append(ms * 1e6 / Double(bytes / batch.readableBytes))
        try log.close(nowMs: benchNowMs)
    }
    say("append 512 MiB into null files, \(shape.rawValue) batches: ns per append \(summary(perAppend))")
}

// MARK: 5. Sustained append (only with STORAGE_RECOVERY_ONLY=sustained): the StorageBenchmarks append cases, but
// SUSTAINED_GIB (default 8) GiB per run instead of 512 MiB, so that the run outlasts what the page cache absorbs
// (vm.dirty_ratio: the kernel throttles writers to the disk's write-back speed once that much is dirty). Each run
// ends with one flush, so both variants count only durable bytes: "flush off" is Kafka's default (the OS writes back
// when it likes), "flush every 1 ms" is group commit (a second thread fsyncs the log every millisecond). The two
// alternate, SUSTAINED_RUNS (default 3) times per batch shape, and the cost is 1 − flushed ÷ off on the medians.

if onlySection == "sustained" {
    let gib = getenv("SUSTAINED_GIB").flatMap { Int(String(cString: $0)) } ?? 8
    let runCount = getenv("SUSTAINED_RUNS").flatMap { Int(String(cString: $0)) } ?? 3
    let totalBytes = gib << 30
    func rate(_ bytes: Int, _ ms: Double) -> Double { Double(bytes) / (ms / 1000) / 1e6 }
    func run(_ shape: BatchShape, flushEveryMs: Bool) throws -> (returned: Double, durable: Double, fsyncs: Int) {
        let directory = freshDirectory("sustained")
        defer { removeTree(directory) }
        let log = try openNewLog(directory: directory, config: benchConfig(segmentBytes: 1 << 30))
        let batch = shape.makeBatch()
        let flusher = flushEveryMs ? PeriodicFlusher(log: log) : nil
        let start = ContinuousClock.now
        flusher?.start()
        let bytes = try appendRepeatedly(log, batch: batch, totalBytes: totalBytes)
        let returned = milliseconds(ContinuousClock.now - start)
        let flushes = flusher?.stop().flushes ?? 0
        try log.flush(nowMs: benchNowMs)
        let durable = milliseconds(ContinuousClock.now - start)
        try log.close(nowMs: benchNowMs)
        return (rate(bytes, returned), rate(bytes, durable), flushes + 1)
    }
    for shape in [BatchShape.kib16, .mib1] {
        var off: [Double] = []
        var offReturned: [Double] = []
        var flushed: [Double] = []
        for index in 0..<runCount {
            let a = try run(shape, flushEveryMs: false)
            say("  \(shape.rawValue) run \(index + 1) flush off: durable \(fixed(a.durable, 0)) MB/s (appends returned at \(fixed(a.returned, 0)) MB/s)")
            let b = try run(shape, flushEveryMs: true)
            say("  \(shape.rawValue) run \(index + 1) flush every 1 ms: durable \(fixed(b.durable, 0)) MB/s (\(b.fsyncs) fsyncs)")
            off.append(a.durable)
            offReturned.append(a.returned)
            flushed.append(b.durable)
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        say(
            "sustained append \(gib) GiB, \(shape.rawValue) batches: flush off MB/s \(summary(off)) "
                + "(appends returned: \(summary(offReturned))); flush every 1 ms MB/s \(summary(flushed)); "
                + "cost \(fixed((1 - median(flushed) / median(off)) * 100))%")
    }
}
