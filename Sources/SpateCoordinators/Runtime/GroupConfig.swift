/// The broker settings that govern groups, with Kafka's names and defaults.
public struct GroupConfig: Hashable, Sendable {
    /// `offsets.topic.num.partitions`.
    public var offsetsTopicPartitions: Int32 = 50
    /// `offsets.retention.minutes`, in milliseconds.
    public var offsetsRetentionMs: Int64 = 7 * 24 * 3_600_000
    /// `offset.metadata.max.bytes`.
    public var offsetMetadataMaxBytes: Int = 4096
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms` (classic protocol).
    public var minSessionTimeoutMs: Int32 = 6000
    public var maxSessionTimeoutMs: Int32 = 1_800_000
    /// `group.initial.rebalance.delay.ms` (classic protocol).
    public var initialRebalanceDelayMs: Int32 = 3000
    /// `group.max.size` (classic protocol).
    public var maxSize: Int = Int(Int32.max)
    /// `group.consumer.session.timeout.ms` (KIP-848).
    public var consumerSessionTimeoutMs: Int32 = 45000
    /// `group.consumer.heartbeat.interval.ms` (KIP-848).
    public var consumerHeartbeatIntervalMs: Int32 = 5000
    /// `group.consumer.max.size` (KIP-848).
    public var consumerMaxSize: Int = Int(Int32.max)
    /// `group.consumer.assignors`: server-side assignors, the first is the default.
    public var consumerAssignors: [String] = ["uniform", "range"]

    public init() {}
}
