import Foundation
import Testing

/// Crash test with a real process: `spate-log-torture write` appends, fsyncs, then acknowledges each batch on stdout;
/// it is killed with SIGKILL at random moments, and after each kill `spate-log-torture verify` (a restart: the
/// unclean-start recovery, then a full CRC scan of every segment file) must show every acknowledged record, once, at
/// its acknowledged offset, in order.
///
/// The binary is built by `swift build --build-tests` (it is a product of the package); this test only looks for it.
/// `SPATE_CRASH_SEED` replays a run; `SPATE_LOG_TORTURE` points at another binary.
@Suite struct KillNineTests {
    @Test(.timeLimit(.minutes(3))) func acknowledgedRecordsSurviveSIGKILL() async throws {
        let binary = try tortureBinary()
        let seed = ProcessInfo.processInfo.environment["SPATE_CRASH_SEED"].flatMap { UInt64($0) } ?? 0x5EED_C0DE
        let report = try await onThread { try CrashCampaign(binary: binary, seed: seed, cycles: 24).run() }
        print("StorageCrashTests: \(report)")
        #expect(report.cycles >= 20)
        #expect(report.killed >= 20)
        #expect(report.acknowledgedBatches > 0)
        #expect(report.maxRecoveryPointAtStart > 0, "checkpoints never gave a restart a nonzero recovery point")
        #expect(report.segments > 1, "no segment rolled during the test")
    }
}

// MARK: The campaign

struct CampaignReport: CustomStringConvertible {
    var seed: UInt64 = 0
    var cycles = 0
    var killed = 0
    var killedEarly = 0
    var killedBeforeStart = 0
    var cleanExits = 0
    var acknowledgedBatches = 0
    var records = 0
    var segments = 0
    var tornTails = 0
    var tornBeforeVerify = 0
    var tornBeforeWriter = 0
    var maxRecoveryPointAtStart: Int64 = 0
    var seconds = 0.0

    var description: String {
        "seed=\(seed) cycles=\(cycles) sigkills=\(killed) (\(killedEarly) at a random moment right after launch, \(killedBeforeStart) of them before the writer's "
            + "recovery had finished) "
            + "clean_exits=\(cleanExits) acked_batches=\(acknowledgedBatches) records=\(records) segments=\(segments) "
            + "torn_tails_recovered_by_verify=\(tornTails) simulated_torn_writes=\(tornBeforeVerify) before verify, "
            + "\(tornBeforeWriter) before a writer restart; max_recovery_point_at_start=\(maxRecoveryPointAtStart) "
            + "seconds=\(String(format: "%.1f", seconds))"
    }
}

struct Ack: Equatable {
    var firstOffset: Int64
    var lastOffset: Int64
    var firstSeq: Int64
    var lastSeq: Int64
}

struct CrashFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct CrashCampaign {
    let binary: URL
    let seed: UInt64
    let cycles: Int

    func run() throws -> CampaignReport {
        let started = Date()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "spate-crash-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dataDirectory = directory.appendingPathComponent("data").path
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(at: directory) } }

        var random = SplitMix64(seed: self.seed)
        var report = CampaignReport()
        report.seed = self.seed
        var acks: [Ack] = []
        var logEnd: Int64 = 0
        var nextSeq: Int64 = 0
        do {
            for cycle in 0..<self.cycles {
                let segmentBytes = [4096, 6000, 12288, 24576, 49152][Int(random.next() % 5)]
                let mode: Mode =
                    cycle % 8 == 7
                    ? .cleanExit(afterBatches: 1 + Int(random.next() % 10))
                    : cycle % 5 == 0
                        ? .killAfter(microseconds: UInt32(random.next() % 300_000))
                        : .killAfterAcks(3 + Int(random.next() % 30))
                let stderrPath = directory.appendingPathComponent("writer-\(cycle).stderr").path
                let writer = try ChildProcess(
                    binary: self.binary,
                    arguments: [
                        "write", "--dir", dataDirectory, "--segment-bytes", "\(segmentBytes)", "--seed",
                        "\(random.next() >> 1)",
                        "--checkpoint-every", "\(1 + random.next() % 6)",
                    ] + mode.extraArguments,
                    stderrPath: stderrPath
                )
                let context = {
                    "cycle \(cycle) (\(mode), segment.bytes \(segmentBytes)); writer stderr in \(stderrPath)"
                }
                switch mode {
                case .killAfterAcks(let count):
                    let reached = writer.output.wait(timeout: 30) { lines, eof in
                        eof || lines.count { $0.hasPrefix("ack ") } >= count
                    }
                    guard reached else { throw CrashFailure("\(context()): no \(count) acks within 30 s") }
                    writer.kill()
                    report.killed += 1
                case .killAfter(let microseconds):
                    usleep(microseconds)  // the kill moment is random: this is not synchronisation
                    writer.kill()
                    report.killed += 1
                    report.killedEarly += 1
                case .cleanExit:
                    report.cleanExits += 1
                }
                let status = try writer.waitForExit(timeout: 30)
                guard writer.output.wait(timeout: 10, until: { $1 }) else {
                    throw CrashFailure("\(context()): the writer's stdout did not reach EOF")
                }
                let lines = writer.output.snapshot.lines
                switch (mode, status) {
                case (.cleanExit, .exited(0)):
                    guard lines.last == "clean-exit" else { throw CrashFailure("\(context()): no clean-exit line") }
                case (.cleanExit, _):
                    throw CrashFailure("\(context()): the writer ended with \(status): \(readFile(stderrPath))")
                case (_, .signalled(SIGKILL)):
                    break
                default:
                    throw CrashFailure(
                        "\(context()): the writer ended with \(status) before SIGKILL: \(readFile(stderrPath))"
                    )
                }
                if case .killAfter = mode, !lines.contains(where: { $0.hasPrefix("start ") }) {
                    report.killedBeforeStart += 1
                }

                // What the writer said: where it started, then each acknowledged batch, contiguous.
                var expectedNext: Int64? = nil
                for line in lines {
                    let fields = line.split(separator: " ")
                    switch fields.first {
                    case "start":
                        guard fields.count == 4, let end = Int64(fields[1]), let seq = Int64(fields[2]),
                            let point = Int64(fields[3])
                        else { throw CrashFailure("\(context()): bad line \(line)") }
                        guard end == logEnd, seq == nextSeq else {
                            throw CrashFailure(
                                "\(context()): the writer restarted at offset \(end), seq \(seq); the last verify ended at \(logEnd), seq \(nextSeq)"
                            )
                        }
                        report.maxRecoveryPointAtStart = max(report.maxRecoveryPointAtStart, point)
                        expectedNext = end
                    case "ack":
                        let numbers = fields.dropFirst().compactMap { Int64($0) }
                        guard numbers.count == 4 else { throw CrashFailure("\(context()): bad line \(line)") }
                        let ack = Ack(
                            firstOffset: numbers[0],
                            lastOffset: numbers[1],
                            firstSeq: numbers[2],
                            lastSeq: numbers[3]
                        )
                        guard ack.firstOffset == expectedNext, ack.lastOffset >= ack.firstOffset,
                            ack.lastOffset - ack.firstOffset == ack.lastSeq - ack.firstSeq
                        else {
                            throw CrashFailure(
                                "\(context()): ack \(line) does not follow offset \(String(describing: expectedNext))"
                            )
                        }
                        expectedNext = ack.lastOffset + 1
                        acks.append(ack)
                        report.acknowledgedBatches += 1
                    case "clean-exit":
                        break
                    default:
                        throw CrashFailure("\(context()): unexpected writer line \(line)")
                    }
                }

                // A write torn by the crash (SIGKILL rarely lands inside pwrite): add a partial batch or zeros after the
                // last batch, either now (verify's recovery must cut it) or after verify (the next writer's must).
                // Not before verify after a clean exit: nothing writes after the clean-shutdown marker, and a clean
                // start does not recover (it fails on a bad tail instead).
                var tear = random.next() % 3
                if case .cleanExit = mode, tear == 1 { tear = 0 }
                var appendedTorn = 0
                if tear == 1 {
                    appendedTorn = try tearTail(partitionDirectory: dataDirectory + "/torture-0", random: &random)
                    report.tornBeforeVerify += 1
                }

                // The restart: recovery, then a full CRC scan, then every acknowledged record must be there.
                let verify = try self.verify(
                    dataDirectory: dataDirectory,
                    segmentBytes: segmentBytes,
                    directory: directory,
                    cycle: cycle
                )
                guard verify.tornBytes >= Int64(appendedTorn) else {
                    throw CrashFailure(
                        "\(context()): verify saw \(verify.tornBytes) torn bytes, \(appendedTorn) were added"
                    )
                }
                try check(records: verify.records, acks: acks, context: context())
                report.segments = verify.segments
                if verify.tornBytes > 0 { report.tornTails += 1 }
                report.records = verify.records.count
                logEnd = verify.logEnd
                nextSeq = (verify.records.last?.seq ?? -1) + 1
                if tear == 2 {
                    _ = try tearTail(partitionDirectory: dataDirectory + "/torture-0", random: &random)
                    report.tornBeforeWriter += 1
                }
                report.cycles += 1
            }
        } catch {
            keep = true
            throw CrashFailure("\(error) (seed \(self.seed); files kept in \(directory.path))")
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    enum Mode: CustomStringConvertible {
        case killAfterAcks(Int)
        case killAfter(microseconds: UInt32)
        case cleanExit(afterBatches: Int)

        var extraArguments: [String] {
            if case .cleanExit(let count) = self { return ["--clean-exit-after", "\(count)"] }
            return []
        }

        var description: String {
            switch self {
            case .killAfterAcks(let count): "SIGKILL after \(count) acks"
            case .killAfter(let microseconds): "SIGKILL \(microseconds) µs after launch"
            case .cleanExit(let count): "clean exit after \(count) batches"
            }
        }
    }

    struct Verified {
        var records: [(offset: Int64, seq: Int64)]
        var logEnd: Int64
        var segments: Int
        var tornBytes: Int64
    }

    func verify(dataDirectory: String, segmentBytes: Int, directory: URL, cycle: Int) throws -> Verified {
        let stderrPath = directory.appendingPathComponent("verify-\(cycle).stderr").path
        let child = try ChildProcess(
            binary: self.binary,
            arguments: ["verify", "--dir", dataDirectory, "--segment-bytes", "\(segmentBytes)"],
            stderrPath: stderrPath
        )
        let status = try child.waitForExit(timeout: 60)
        guard child.output.wait(timeout: 10, until: { $1 }) else {
            throw CrashFailure("verify's stdout did not reach EOF")
        }
        guard case .exited(0) = status else {
            throw CrashFailure("verify after cycle \(cycle) failed (\(status)): \(readFile(stderrPath))")
        }
        var records: [(offset: Int64, seq: Int64)] = []
        var summary: [String: Int64] = [:]
        for line in child.output.snapshot.lines {
            let fields = line.split(separator: " ")
            if fields.first == "record", fields.count == 3, let offset = Int64(fields[1]), let seq = Int64(fields[2]) {
                records.append((offset, seq))
            } else if fields.first == "summary" {
                for field in fields.dropFirst() {
                    let parts = field.split(separator: "=")
                    if parts.count == 2, let value = Int64(parts[1]) { summary[String(parts[0])] = value }
                }
            } else {
                throw CrashFailure("unexpected verify line: \(line)")
            }
        }
        guard let logEnd = summary["log_end"], let segments = summary["segments"],
            summary["records"] == Int64(records.count)
        else { throw CrashFailure("verify printed no complete summary") }
        return Verified(
            records: records,
            logEnd: logEnd,
            segments: Int(segments),
            tornBytes: summary["torn_bytes_before_recovery"] ?? 0
        )
    }
}

/// Every acknowledged record is present exactly once, at its acknowledged offset, in order; unacknowledged records
/// after the last acknowledged one may be there, but only as a contiguous extension.
func check(records: [(offset: Int64, seq: Int64)], acks: [Ack], context: String) throws {
    for (index, record) in records.enumerated() {
        guard record.offset == Int64(index) else {
            throw CrashFailure(
                "\(context): record \(index) has offset \(record.offset) (offsets must be contiguous from 0)"
            )
        }
        guard index == 0 || record.seq == records[index - 1].seq + 1 else {
            throw CrashFailure(
                "\(context): offset \(record.offset) holds seq \(record.seq) after seq \(records[index - 1].seq) (a gap or a duplicate)"
            )
        }
    }
    for ack in acks {
        guard ack.lastOffset < Int64(records.count) else {
            throw CrashFailure(
                "\(context): acknowledged offsets \(ack.firstOffset)...\(ack.lastOffset) are lost (log has \(records.count) records)"
            )
        }
        for offset in ack.firstOffset...ack.lastOffset {
            let expected = ack.firstSeq + (offset - ack.firstOffset)
            guard records[Int(offset)].seq == expected else {
                throw CrashFailure(
                    "\(context): acknowledged offset \(offset) holds seq \(records[Int(offset)].seq), acked as \(expected)"
                )
            }
        }
    }
}

/// Appends what a write torn by a crash leaves to the last segment file: a strict prefix of a copy of its last
/// batch, or zeros (a file extended without its data). Returns the number of bytes appended.
func tearTail(partitionDirectory: String, random: inout SplitMix64) throws -> Int {
    let names = try FileManager.default.contentsOfDirectory(atPath: partitionDirectory)
        .filter { $0.hasSuffix(".log") && $0.count == 24 }.sorted()
    guard let last = names.last else { return 0 }
    let path = partitionDirectory + "/" + last
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    // The last whole batch, framed by the length fields.
    var position = 0
    var lastBatch: Range<Int>?
    while position + 12 <= data.count {
        let length = data[(data.startIndex + position + 8)..<(data.startIndex + position + 12)].reduce(0) {
            $0 << 8 | Int($1)
        }
        guard length >= 49, position + 12 + length <= data.count else { break }
        lastBatch = position..<(position + 12 + length)
        position += 12 + length
    }
    // The file may already end in a torn tail (a writer killed before its recovery finished): add to it.
    let torn: Data
    if let lastBatch, random.next() % 2 == 0 {
        let batch = data[(data.startIndex + lastBatch.lowerBound)..<(data.startIndex + lastBatch.upperBound)]
        torn = Data(batch.prefix(1 + Int(random.next() % UInt64(batch.count - 1))))
    } else {
        torn = Data(count: 1 + Int(random.next() % 4096))
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: torn)
    return torn.count
}

// MARK: Processes

/// Where `swift build` put `spate-log-torture`: next to the test bundle (same configuration), else in the package's
/// `.build/debug` or `.build/release`.
func tortureBinary() throws -> URL {
    let fileManager = FileManager.default
    if let path = ProcessInfo.processInfo.environment["SPATE_LOG_TORTURE"] {
        guard fileManager.isExecutableFile(atPath: path) else {
            throw CrashFailure("SPATE_LOG_TORTURE=\(path) is not an executable file")
        }
        return URL(fileURLWithPath: path)
    }
    var candidates: [URL] = []
    for bundle in Bundle.allBundles + [Bundle.main] {
        candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("spate-log-torture"))
        candidates.append(bundle.bundleURL.appendingPathComponent("spate-log-torture"))
    }
    if let executable = CommandLine.arguments.first {
        candidates.append(
            URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("spate-log-torture")
        )
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    for configuration in ["debug", "release"] {
        candidates.append(root.appendingPathComponent(".build/\(configuration)/spate-log-torture"))
    }
    if let found = candidates.first(where: { fileManager.isExecutableFile(atPath: $0.path) }) { return found }
    throw CrashFailure(
        "spate-log-torture was not found (looked in \(candidates.map(\.path))): run `swift build --build-tests` "
            + "(or `swift build --product spate-log-torture`) first"
    )
}

enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signalled(let signal): "signal \(signal)"
        }
    }
}

/// A child process whose stdout is read line by line on a thread of its own, and whose stderr goes to a file.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let output = LineBuffer()
    private let exitCondition = NSCondition()
    private var hasExited = false

    init(binary: URL, arguments: [String], stderrPath: String) throws {
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let pipe = Pipe()
        self.process.executableURL = binary
        self.process.arguments = arguments
        self.process.standardInput = FileHandle.nullDevice
        self.process.standardOutput = pipe
        self.process.standardError = errors
        self.process.terminationHandler = { [exitCondition] _ in
            exitCondition.lock()
            self.hasExited = true
            exitCondition.broadcast()
            exitCondition.unlock()
        }
        try self.process.run()
        try? errors.close()
        let reading = pipe.fileHandleForReading
        let output = self.output
        let thread = Thread {
            while true {
                let data = reading.availableData
                if data.isEmpty { break }
                output.append(data)
            }
            output.finish()
        }
        thread.start()
    }

    func kill() {
        _ = Glibc.kill(self.process.processIdentifier, SIGKILL)
    }

    /// Waits for the process to end (its termination handler signals `exitCondition`), killing it if it outlives
    /// `timeout` seconds.
    func waitForExit(timeout: TimeInterval) throws -> ExitStatus {
        let deadline = Date().addingTimeInterval(timeout)
        self.exitCondition.lock()
        while !self.hasExited {
            if !self.exitCondition.wait(until: deadline) && !self.hasExited {
                self.exitCondition.unlock()
                self.kill()
                self.process.waitUntilExit()
                throw CrashFailure("\(self.process.arguments ?? []) did not exit within \(timeout) s")
            }
        }
        self.exitCondition.unlock()
        self.process.waitUntilExit()
        switch self.process.terminationReason {
        case .exit: return .exited(self.process.terminationStatus)
        case .uncaughtSignal: return .signalled(self.process.terminationStatus)
        @unknown default: return .exited(self.process.terminationStatus)
        }
    }
}

/// Complete lines read from a pipe, and whether it reached EOF; waiters sleep on a condition.
final class LineBuffer: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending = Data()
    private var lines: [String] = []
    private var eof = false

    func append(_ data: Data) {
        self.condition.lock()
        self.pending.append(data)
        while let newline = self.pending.firstIndex(of: UInt8(ascii: "\n")) {
            self.lines.append(String(decoding: self.pending[self.pending.startIndex..<newline], as: UTF8.self))
            self.pending.removeSubrange(self.pending.startIndex...newline)
        }
        self.condition.broadcast()
        self.condition.unlock()
    }

    func finish() {
        self.condition.lock()
        self.eof = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    var snapshot: (lines: [String], eof: Bool) {
        self.condition.lock()
        defer { self.condition.unlock() }
        return (self.lines, self.eof)
    }

    /// Waits until `predicate(lines, eof)` holds; false on timeout.
    func wait(timeout: TimeInterval, until predicate: ([String], Bool) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        self.condition.lock()
        defer { self.condition.unlock() }
        while !predicate(self.lines, self.eof) {
            if !self.condition.wait(until: deadline) { return predicate(self.lines, self.eof) }
        }
        return true
    }
}

func readFile(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<unreadable>"
}

/// Runs blocking work on a thread of its own, off Swift concurrency's small cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
