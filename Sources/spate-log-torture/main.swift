// spate-log-torture: a crash-test driver for SpateStorage, meant to be killed with SIGKILL at random moments.
//
//   spate-log-torture write --dir D [--segment-bytes N] [--seed S] [--checkpoint-every K] [--clean-exit-after N]
//   spate-log-torture verify --dir D [--segment-bytes N] [--no-recover]
//
// `write` opens the data directory through LogManager (so a restart after a crash runs the unclean-start recovery),
// then appends batches for ever. Each batch is appended, fsynced (`PartitionLog.flush`), and only then acknowledged
// on stdout as one line: `ack <firstOffset> <lastOffset> <firstSeq> <lastSeq>`. Record values carry a sequence number
// that continues across restarts (the writer reads the log's last record on start) and a padding derived from it, so
// every record can be checked on its own.
//
// `verify` first scans every segment file directly (not through the recovery code): frames each batch, validates it
// (RecordBatch.validate: length, magic, CRC-32C), checks that offsets are contiguous across batches and segments and
// that every record's value is the payload of its sequence number. Only the last segment may end in a torn tail.
// Unless `--no-recover`, it then opens the directory through LogManager (the unclean-start recovery, as a restart
// does), reads every record through the fetch path, checks that it matches the scan, and scans the files again,
// now allowing no torn bytes at all. It prints `record <offset> <seq>` for every record, then a `summary` line, and
// exits non-zero on any corruption.

import Glibc
import Logging
import NIOCore
import SpateRecords
import SpateStorage

let topicPartition = TopicPartition(topic: "torture", partition: 0)

// MARK: Helpers

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

/// The value of the record with sequence number `seq`: `<seq>:<padding length>:<padding>`, the padding (0–2000 bytes)
/// a function of `seq` alone.
func payload(seq: Int64) -> String {
    var generator = SplitMix64(seed: UInt64(bitPattern: seq) ^ 0xA5A5_5A5A_0F0F_F0F0)
    let length = Int(generator.next() % 2001)
    let start = Int(generator.next() % 26)
    let alphabet = "abcdefghijklmnopqrstuvwxyz"
    let rotated = String(alphabet.dropFirst(start) + alphabet.prefix(start))
    let padding = String(String(repeating: rotated, count: length / 26 + 1).prefix(length))
    return "\(seq):\(length):" + padding
}

/// The sequence number in a record value, if the value is exactly that sequence number's payload.
func sequence(ofValue value: ByteBuffer?) -> Int64? {
    guard let value else { return nil }
    let text = String(buffer: value)
    guard let colon = text.firstIndex(of: ":"), let seq = Int64(text[..<colon]), seq >= 0 else { return nil }
    return payload(seq: seq) == text ? seq : nil
}

func nowMs() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}

/// Writes a line to stdout with one unbuffered write(2), so that a line is either wholly out or not at all.
func emit(_ line: String) { write(line, to: 1) }

func emitError(_ line: String) { write(line, to: 2) }

func write(_ line: String, to descriptor: CInt) {
    var bytes = Array((line + "\n").utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeMutableBytes { pointer in
            Glibc.write(descriptor, pointer.baseAddress! + written, pointer.count - written)
        }
        if count < 0 {
            if errno == EINTR { continue }
            exit(4)
        }
        written += count
    }
    bytes.removeAll()
}

func fail(_ message: String, code: Int32 = 1) -> Never {
    emitError("error: \(message)")
    exit(code)
}

struct Arguments {
    var command: String
    var options: [String: String] = [:]
    var flags: Set<String> = []

    init(_ argv: [String]) {
        guard argv.count >= 2 else { fail(Self.usage, code: 64) }
        self.command = argv[1]
        var index = 2
        while index < argv.count {
            let argument = argv[index]
            guard argument.hasPrefix("--") else { fail("unexpected argument \(argument)\n\(Self.usage)", code: 64) }
            let name = String(argument.dropFirst(2))
            if ["no-recover"].contains(name) {
                self.flags.insert(name)
                index += 1
            } else {
                guard index + 1 < argv.count else { fail("--\(name) needs a value", code: 64) }
                self.options[name] = argv[index + 1]
                index += 2
            }
        }
    }

    func int(_ name: String, default value: Int64) -> Int64 {
        guard let text = self.options[name] else { return value }
        guard let parsed = Int64(text) else { fail("--\(name) must be an integer", code: 64) }
        return parsed
    }

    var directory: String {
        guard let directory = self.options["dir"] else { fail("--dir is required", code: 64) }
        return directory
    }

    static let usage = """
        usage: spate-log-torture write --dir D [--segment-bytes N] [--seed S] [--checkpoint-every K] [--clean-exit-after N]
               spate-log-torture verify --dir D [--segment-bytes N] [--no-recover]
        """
}

func logConfig(segmentBytes: Int64) -> LogConfig {
    var config = LogConfig()
    config.segmentBytes = segmentBytes
    config.indexIntervalBytes = 1024  // many index entries, so that reads exercise the index
    config.retentionTime = nil
    return config
}

// MARK: write

func runWriter(_ arguments: Arguments) throws -> Never {
    let directory = arguments.directory
    let segmentBytes = arguments.int("segment-bytes", default: 64 * 1024)
    guard segmentBytes >= 4096 else { fail("--segment-bytes must be at least 4096", code: 64) }
    var random = SplitMix64(seed: UInt64(bitPattern: arguments.int("seed", default: 1)))
    let checkpointEvery = max(1, arguments.int("checkpoint-every", default: 5))
    let cleanExitAfter = arguments.int("clean-exit-after", default: -1)
    let config = logConfig(segmentBytes: segmentBytes)
    let logger = Logger(label: "spate.log-torture")

    let manager = try LogManager.open(
        dataDirectory: directory,
        fileSystem: PosixFileSystem(),
        compressor: nil,
        config: { _ in config },
        nowMs: nowMs(),
        logger: logger
    )
    let log =
        try manager.log(for: topicPartition)
        ?? manager.getOrCreateLog(
            for: topicPartition,
            config: config,
            nowMs: nowMs()
        )
    try manager.writeCheckpoints()

    // The next sequence number follows the last record in the log.
    var nextSeq: Int64 = 0
    let logEnd = log.logEndOffset
    if logEnd > log.logStartOffset {
        guard let slice = try log.read(from: logEnd - 1, maxBytes: 1 << 20) else {
            fail("cannot read the last record at offset \(logEnd - 1)", code: 3)
        }
        var last: Record?
        for batch in RecordSet(buffer: try slice.readBytes()).batches {
            last = try batch.records(using: nil, maxDecompressedSize: 1 << 26).last ?? last
        }
        guard let last, last.offset == logEnd - 1, let seq = sequence(ofValue: last.value) else {
            fail("the last record of the log (offset \(logEnd - 1)) is not a torture record", code: 3)
        }
        nextSeq = seq + 1
    }
    emit("start \(logEnd) \(nextSeq) \(log.recoveryPoint)")

    var batches: Int64 = 0
    while true {
        let wanted = Int.random(in: 1...20, using: &random)
        var builder = RecordBatchBuilder()
        let firstSeq = nextSeq
        let timestamp = nowMs()
        for _ in 0..<wanted {
            let value = payload(seq: nextSeq)
            // Keep the batch within segment.bytes (the log refuses larger ones).
            if !builder.isEmpty, builder.estimatedSizeInBytes + value.utf8.count + 64 > Int(segmentBytes) { break }
            builder.append(key: nil, value: ByteBuffer(string: value), timestamp: timestamp)
            nextSeq += 1
        }
        let lastSeq = nextSeq - 1
        let result = try log.append(
            RecordSet(buffer: try builder.build(compressor: nil)),
            leaderEpoch: 0,
            nowMs: timestamp
        )
        guard result.lastOffset - result.firstOffset == lastSeq - firstSeq else {
            fail(
                "append gave offsets \(result.firstOffset)...\(result.lastOffset) to \(lastSeq - firstSeq + 1) records",
                code: 3
            )
        }
        // Flush, then acknowledge.
        let durable = try log.flush(nowMs: nowMs())
        guard durable > result.lastOffset else {
            fail("flush made only \(durable) durable, need \(result.lastOffset + 1)", code: 3)
        }
        emit("ack \(result.firstOffset) \(result.lastOffset) \(firstSeq) \(lastSeq)")
        batches += 1
        if batches % checkpointEvery == 0 { try manager.writeCheckpoints() }
        if batches == cleanExitAfter {
            try manager.shutdown(nowMs: nowMs())
            emit("clean-exit")
            exit(0)
        }
    }
}

// MARK: verify

struct ScannedRecord: Equatable {
    var offset: Int64
    var seq: Int64
}

struct ScanResult {
    var records: [ScannedRecord] = []
    var batches = 0
    var segments = 0
    /// Bytes after the last valid batch of the last segment.
    var tornBytes: Int64 = 0
    /// One past the last offset in the files.
    var endOffset: Int64 = 0
}

/// Scans every segment file of the partition directly: frames and validates every batch (CRC included), checks
/// offset contiguity and every record's payload. A torn tail is tolerated only at the end of the last segment.
func scanFiles(partitionDirectory: String) throws -> ScanResult {
    let fileSystem = PosixFileSystem()
    // A writer killed before it created the partition leaves no directory: an empty log.
    guard fileSystem.fileExists(partitionDirectory) else { return ScanResult() }
    let names = try fileSystem.contentsOfDirectory(partitionDirectory).filter {
        $0.hasSuffix(".log") && $0.count == 24 && Int64($0.prefix(20)) != nil
    }.sorted()
    var result = ScanResult()
    var expectedOffset: Int64? = nil
    for (segmentIndex, name) in names.enumerated() {
        let base = Int64(name.prefix(20))!
        let isLast = segmentIndex == names.count - 1
        if let expected = expectedOffset, base != expected {
            throw VerifyError("segment \(name) starts at \(base) but the previous one ends at \(expected)")
        }
        expectedOffset = base
        let file = try fileSystem.open(partitionDirectory + "/" + name, create: false)
        defer { try? file.close() }
        let size = try file.size()
        let bytes = try file.read(at: 0, length: Int(size))
        guard bytes.readableBytes == Int(size) else { throw VerifyError("short read of \(name)") }
        result.segments += 1
        var position = 0
        while position < bytes.readableBytes {
            let remaining = bytes.readableBytes - position
            // Frame the batch by its length field, then validate the whole batch.
            var problem: String?
            var batch: RecordBatch?
            if remaining < RecordBatch.headerSize {
                problem = "a partial batch header (\(remaining) bytes)"
            } else {
                let length = bytes.getInteger(at: bytes.readerIndex + position + 8, as: Int32.self)!
                let total = Int(length) + RecordBatch.logOverhead
                if length < RecordBatch.minimumBatchLength {
                    problem = "batch length \(length)"
                } else if total > remaining {
                    problem = "a batch of \(total) bytes with only \(remaining) left"
                } else {
                    do {
                        let candidate = try RecordBatch(
                            buffer: bytes.getSlice(at: bytes.readerIndex + position, length: total)!
                        )
                        try candidate.validate()
                        batch = candidate
                    } catch {
                        problem = "invalid batch: \(error)"
                    }
                }
            }
            guard let batch else {
                let torn = Int64(remaining)
                if isLast {
                    result.tornBytes = torn
                    emitError("note: \(torn) torn bytes at position \(position) of \(name) (\(problem!))")
                    break
                }
                throw VerifyError("\(name) position \(position): \(problem!), in a segment that is not the last")
            }
            guard batch.baseOffset == expectedOffset! else {
                throw VerifyError(
                    "\(name) position \(position): batch base offset \(batch.baseOffset), expected \(expectedOffset!)"
                )
            }
            let records = try batch.records(using: nil, maxDecompressedSize: 1 << 26)
            guard records.count == Int(batch.recordCount), batch.lastOffsetDelta == batch.recordCount - 1 else {
                throw VerifyError(
                    "\(name) position \(position): \(records.count) records, lastOffsetDelta \(batch.lastOffsetDelta)"
                )
            }
            for (index, record) in records.enumerated() {
                guard record.offset == batch.baseOffset + Int64(index) else {
                    throw VerifyError("record offset \(record.offset) in batch at \(batch.baseOffset)")
                }
                guard let seq = sequence(ofValue: record.value) else {
                    throw VerifyError("record at offset \(record.offset) has a value that is no torture payload")
                }
                result.records.append(ScannedRecord(offset: record.offset, seq: seq))
            }
            result.batches += 1
            expectedOffset = batch.nextOffset
            position += batch.sizeInBytes
        }
    }
    result.endOffset = expectedOffset ?? 0
    return result
}

struct VerifyError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Every record of the log, read through PartitionLog.read (the fetch path, which uses the indexes).
func readThroughLog(_ log: PartitionLog) throws -> [ScannedRecord] {
    var records: [ScannedRecord] = []
    var offset = log.logStartOffset
    let end = log.logEndOffset
    while offset < end {
        guard let slice = try log.read(from: offset, maxBytes: 256 * 1024) else {
            throw VerifyError("read from \(offset) returned nothing below the log end \(end)")
        }
        guard slice.firstBatchOffset <= offset else {
            throw VerifyError("read from \(offset) started at batch \(slice.firstBatchOffset)")
        }
        var progressed = false
        for batch in RecordSet(buffer: try slice.readBytes()).batches {
            try batch.validate()
            for record in try batch.records(using: nil, maxDecompressedSize: 1 << 26) where record.offset >= offset {
                guard let seq = sequence(ofValue: record.value) else {
                    throw VerifyError("record at offset \(record.offset) (fetch path) is no torture payload")
                }
                records.append(ScannedRecord(offset: record.offset, seq: seq))
            }
            offset = batch.nextOffset
            progressed = true
        }
        if !progressed { throw VerifyError("read from \(offset) returned no whole batch") }
    }
    return records
}

func runVerify(_ arguments: Arguments) throws -> Never {
    let directory = arguments.directory
    let partitionDirectory = directory + "/" + topicPartition.directoryName
    let config = logConfig(segmentBytes: arguments.int("segment-bytes", default: 64 * 1024))
    do {
        let before = try scanFiles(partitionDirectory: partitionDirectory)
        var final = before
        if !arguments.flags.contains("no-recover") {
            let manager = try LogManager.open(
                dataDirectory: directory,
                fileSystem: PosixFileSystem(),
                compressor: nil,
                config: { _ in config },
                nowMs: nowMs(),
                logger: Logger(label: "spate.log-torture")
            )
            guard let log = try manager.log(for: topicPartition) else {
                guard before.records.isEmpty else { throw VerifyError("no log for \(topicPartition) after recovery") }
                emit("summary records=0 batches=0 segments=0 log_end=0 torn_bytes_before_recovery=0")
                exit(0)
            }
            guard log.logEndOffset == before.endOffset else {
                throw VerifyError(
                    "recovery ended the log at \(log.logEndOffset), the valid batches end at \(before.endOffset)"
                )
            }
            let fetched = try readThroughLog(log)
            guard fetched == before.records else {
                let index =
                    zip(fetched, before.records).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    ?? min(fetched.count, before.records.count)
                throw VerifyError(
                    "the fetch path disagrees with the file scan at record \(index) (\(fetched.count) vs \(before.records.count) records)"
                )
            }
            let after = try scanFiles(partitionDirectory: partitionDirectory)
            guard after.tornBytes == 0 else { throw VerifyError("\(after.tornBytes) torn bytes remain after recovery") }
            guard after.records == before.records else { throw VerifyError("recovery changed the valid records") }
            final = after
        }
        var lines: [String] = []
        lines.reserveCapacity(final.records.count + 1)
        for record in final.records { lines.append("record \(record.offset) \(record.seq)") }
        lines.append(
            "summary records=\(final.records.count) batches=\(final.batches) segments=\(final.segments) "
                + "log_end=\(final.endOffset) torn_bytes_before_recovery=\(before.tornBytes)"
        )
        emit(lines.joined(separator: "\n"))
        exit(0)
    } catch {
        fail("\(error)", code: 2)
    }
}

// MARK: Main

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
// Every segment holds three descriptors open (log, index, time index), and the tests roll tiny segments: use the
// hard limit on open files, not a possibly low soft one.
var fileLimit = rlimit()
if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &fileLimit) == 0, fileLimit.rlim_cur < fileLimit.rlim_max {
    fileLimit.rlim_cur = fileLimit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &fileLimit)
}
let arguments = Arguments(CommandLine.arguments)
do {
    switch arguments.command {
    case "write": try runWriter(arguments)
    case "verify": try runVerify(arguments)
    default: fail(Arguments.usage, code: 64)
    }
} catch {
    fail("\(error)", code: 3)
}
