import NIOCore
import SpateCompression
import SpateRecords

@testable import SpateStorage

/// A small, fast, seedable generator (SplitMix64) for reproducible randomized workloads.
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

/// One record as read back from a log.
struct ReadRecord: Equatable {
    var offset: Int64
    var key: String?
    var value: String?
    var timestamp: Int64
}

let cleanerCompressor = StandardRecordsCompressor()

enum CleanerTests {
    static let partition = TopicPartition(topic: "compacted", partition: 0)

    static func compactConfig(segmentBytes: Int64 = 2048) -> LogConfig {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        config.indexIntervalBytes = 128
        config.cleanupPolicy = .compact
        config.minCleanableDirtyRatio = 0
        config.deleteRetention = .milliseconds(1_000)
        config.retentionTime = nil
        return config
    }

    static func open(
        _ root: String, config: LogConfig, clean: Bool = false, recoveryPoint: Int64 = 0, nowMs: Int64 = 0
    ) throws -> PartitionLog {
        try PartitionLog.open(
            directory: root + "/" + Self.partition.directoryName, topicPartition: Self.partition, config: config,
            fileSystem: PosixFileSystem(), compressor: cleanerCompressor, recoveryPoint: recoveryPoint,
            logStartOffset: 0, hadCleanShutdown: clean, nowMs: nowMs, logger: testLogger)
    }

    /// A batch of `(key, value)` records (nil value = tombstone).
    static func batch(
        _ records: [(key: String?, value: String?)], timestamp: Int64, compression: CompressionType = .none,
        producerID: Int64 = -1, baseSequence: Int32 = -1
    ) throws -> RecordSet {
        var builder = RecordBatchBuilder(
            producerID: producerID, producerEpoch: producerID >= 0 ? 0 : -1, baseSequence: baseSequence,
            compression: compression)
        for (index, record) in records.enumerated() {
            builder.append(
                key: record.key.map { ByteBuffer(string: $0) }, value: record.value.map { ByteBuffer(string: $0) },
                timestamp: timestamp + Int64(index))
        }
        return RecordSet(buffer: try builder.build(compressor: cleanerCompressor))
    }

    /// Every batch in the log from its start, read through the fetch path.
    static func batches(_ log: PartitionLog) throws -> [RecordBatch] {
        var result: [RecordBatch] = []
        var offset = log.logStartOffset
        while offset < log.logEndOffset {
            guard let slice = try log.read(from: offset, maxBytes: 1 << 20) else { break }
            var progressed = false
            for batch in RecordSet(buffer: try slice.readBytes()).batches where batch.lastOffset >= offset {
                try batch.validate()
                result.append(batch)
                offset = batch.lastOffset + 1
                progressed = true
            }
            if !progressed { break }
        }
        return result
    }

    /// Every record in the log from its start.
    static func records(_ log: PartitionLog) throws -> [ReadRecord] {
        try Self.batches(log).flatMap { batch in
            try batch.records(using: cleanerCompressor, maxDecompressedSize: 1 << 26).map {
                ReadRecord(
                    offset: $0.offset, key: $0.key.map { String(buffer: $0) },
                    value: $0.value.map { String(buffer: $0) }, timestamp: $0.timestamp)
            }
        }
    }

    /// Copies every regular file of `from` into `to` (created if needed).
    static func copyDirectory(_ from: String, _ to: String) throws {
        let fileSystem = PosixFileSystem()
        try fileSystem.createDirectory(to)
        for name in try fileSystem.contentsOfDirectory(from) {
            try Self.copyFile(from + "/" + name, to + "/" + name)
        }
    }

    static func copyFile(_ from: String, _ to: String) throws {
        let fileSystem = PosixFileSystem()
        let bytes = try fileSystem.readWholeFile(from) ?? ByteBuffer()
        let file = try fileSystem.open(to, create: true)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
        try file.close()
    }

    static func fileBytes(_ path: String) throws -> ByteBuffer? {
        try PosixFileSystem().readWholeFile(path)
    }
}
