import NIOCore

/// A partition of a topic, as groups commit offsets for it.
public struct GroupTopicPartition: Hashable, Sendable, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: GroupTopicPartition, b: GroupTopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// A committed offset, as `OffsetCommitValue` stores it.
public struct CommittedOffset: Hashable, Sendable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestampMs: Int64
    /// Set only by OffsetCommit v1 requests with an explicit retention (`OffsetCommitValue` v1).
    public var expireTimestampMs: Int64?

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestampMs: Int64, expireTimestampMs: Int64? = nil) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
        self.expireTimestampMs = expireTimestampMs
    }
}

/// The topics a member of a classic group with protocol type `consumer` subscribes to, read from its
/// `ConsumerProtocolSubscription` metadata (version, then an array of topic names; later versions append fields
/// after the topics, which are not needed here). Nil when the metadata cannot be read.
func consumerProtocolTopics(_ metadata: ByteBuffer) -> [String]? {
    var buffer = metadata
    guard let version: Int16 = buffer.readInteger(), version >= 0, let count: Int32 = buffer.readInteger(), count >= 0
    else { return nil }
    var topics: [String] = []
    for _ in 0..<count {
        guard let length: Int16 = buffer.readInteger(), length >= 0, let topic = buffer.readString(length: Int(length))
        else { return nil }
        topics.append(topic)
    }
    return topics
}
