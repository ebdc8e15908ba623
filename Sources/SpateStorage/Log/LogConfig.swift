/// The per-topic log settings, under Kafka's topic-config names. Every value defaults to Kafka's default.
public struct LogConfig: Sendable, Hashable {
    /// What happens to old data (`cleanup.policy`): delete segments, compact by key, or both.
    public struct CleanupPolicy: OptionSet, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let delete = CleanupPolicy(rawValue: 1)
        public static let compact = CleanupPolicy(rawValue: 2)
    }

    /// Maximum segment size (`segment.bytes`). Defaults to 1 GiB.
    public var segmentBytes: Int64 = 1 << 30
    /// Roll a segment this long after its first record even if it is not full (`segment.ms`). Defaults to 7 days.
    public var segmentTime: Duration = .seconds(7 * 24 * 3600)
    /// Bytes of log between offset-index entries (`index.interval.bytes`). Defaults to 4096.
    public var indexIntervalBytes: Int = 4096
    /// Maximum size of an offset index; a full index rolls the segment (`segment.index.bytes`). Defaults to 10 MiB.
    public var segmentIndexBytes: Int = 10 * 1024 * 1024
    /// Delete segments whose newest record is older than this (`retention.ms`); nil keeps them forever (-1).
    /// Defaults to 7 days.
    public var retentionTime: Duration? = .seconds(7 * 24 * 3600)
    /// Delete the oldest segments while the partition is larger than this (`retention.bytes`); nil is unlimited (-1).
    public var retentionBytes: Int64? = nil
    /// `cleanup.policy`. Defaults to `delete`.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// Compact only when the uncleaned part is at least this share of the log (`min.cleanable.dirty.ratio`).
    /// Defaults to 0.5.
    public var minCleanableDirtyRatio: Double = 0.5
    /// Never compact records younger than this (`min.compaction.lag.ms`). Defaults to 0.
    public var minCompactionLag: Duration = .zero
    /// Keep tombstones this long after they are compacted to (`delete.retention.ms`). Defaults to 1 day.
    public var deleteRetention: Duration = .seconds(24 * 3600)
    /// Force an fsync after this many messages (`flush.messages`); nil leaves flushing to the OS (Kafka's default).
    public var flushMessages: Int64? = nil
    /// Force an fsync when unflushed data is this old (`flush.ms`); nil leaves flushing to the OS (Kafka's default).
    public var flushInterval: Duration? = nil
    /// How long a deleted segment's files linger as `.deleted` before removal (`file.delete.delay.ms`).
    /// Defaults to 60 s.
    public var fileDeleteDelay: Duration = .seconds(60)
    /// The largest record batch the log accepts (`max.message.bytes`). Defaults to 1,048,588 bytes.
    public var maxMessageBytes: Int = 1_048_588
    /// Reserve `segment.bytes` of disk for each new segment's log file when it is created (`preallocate`), so that
    /// appends write into allocated blocks instead of allocating as they go; the file's size stays the bytes written
    /// (recovery is unchanged), and what is not used is released when the segment rolls or the log closes. It costs
    /// disk space up to `segment.bytes` per partition (blocks a crash leaves reserved are released at the next roll
    /// or when the segment is deleted). Defaults to false.
    public var preallocate: Bool = false

    public init() {}

    /// Checks that every value is in the range Kafka allows.
    public func validate() throws(StorageError) {
        // Index entries hold 32-bit positions, as in Kafka (segment.bytes is an int there).
        guard (14...Int64(Int32.max)).contains(self.segmentBytes) else {
            throw StorageError(.invalidArgument, "segment.bytes must be between 14 and \(Int32.max)")
        }
        guard self.segmentIndexBytes >= 8 else {
            throw StorageError(.invalidArgument, "segment.index.bytes must be at least 8")
        }
        guard self.indexIntervalBytes >= 0 else {
            throw StorageError(.invalidArgument, "index.interval.bytes must be at least 0")
        }
        guard (0...1).contains(self.minCleanableDirtyRatio) else {
            throw StorageError(.invalidArgument, "min.cleanable.dirty.ratio must be between 0 and 1")
        }
        guard self.maxMessageBytes >= 0 else {
            throw StorageError(.invalidArgument, "max.message.bytes must be at least 0")
        }
        if let bytes = self.retentionBytes, bytes < 0 {
            throw StorageError(.invalidArgument, "retention.bytes must be -1 or positive")
        }
    }
}

extension Duration {
    /// Whole milliseconds (Kafka's `*.ms` settings).
    public var inMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
