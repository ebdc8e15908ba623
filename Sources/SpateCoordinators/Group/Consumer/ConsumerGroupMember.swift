public import SpateWire

/// Partitions by topic ID, as KIP-848 assignments are expressed.
public typealias PartitionsByTopic = [KafkaUUID: Set<Int32>]

/// One member of a KIP-848 consumer group (`group.protocol=consumer`), as Kafka's `ConsumerGroupMember`: what it
/// subscribes to, and where it stands in the reconciliation of its assignment towards the group's target assignment.
public struct ConsumerGroupMember: Hashable, Sendable {
    /// Kafka's `MemberState`, persisted as an int8 in `ConsumerGroupCurrentMemberAssignmentValue.State`.
    public enum State: Int8, Hashable, Sendable {
        /// The member has the target assignment of its epoch.
        case stable = 0
        /// The member must revoke some partitions before it can move to the next epoch.
        case unrevokedPartitions = 1
        /// The member is at the target epoch but waits for partitions that their previous owners still hold.
        case unreleasedPartitions = 2
        /// A state written by a newer version.
        case unknown = 127
    }

    public internal(set) var memberID: String
    /// `group.instance.id` of a static member.
    public internal(set) var instanceID: String? = nil
    public internal(set) var rackID: String? = nil
    public internal(set) var clientID: String = ""
    public internal(set) var clientHost: String = ""
    /// The topic names the member subscribes to explicitly.
    public internal(set) var subscribedTopicNames: Set<String> = []
    /// The member's subscription by regular expression (RE2/J syntax, matched against whole topic names).
    public internal(set) var subscribedTopicRegex: String? = nil
    /// How long the member may take to revoke partitions (-1 until it says).
    public internal(set) var rebalanceTimeoutMs: Int32 = -1
    /// The server-side assignor the member asked for, if any.
    public internal(set) var serverAssignor: String? = nil
    /// Set when the member speaks the classic protocol (kept so that records written by Kafka survive a replay).
    public internal(set) var classicMemberMetadata: ConsumerGroupMemberMetadataValue.ClassicMemberMetadata? = nil
    /// The epoch the member is at; -2 once a static member has left temporarily.
    public internal(set) var memberEpoch: Int32 = 0
    public internal(set) var previousMemberEpoch: Int32 = 0
    public internal(set) var state: State = .stable
    /// The partitions the member owns (or may take) at its epoch.
    public internal(set) var assignedPartitions: PartitionsByTopic = [:]
    /// The partitions the member must give up before it moves on.
    public internal(set) var partitionsPendingRevocation: PartitionsByTopic = [:]

    public init(memberID: String) {
        self.memberID = memberID
    }

    /// Whether the member has converged on the target assignment of `targetAssignmentEpoch`.
    public func isReconciled(to targetAssignmentEpoch: Int32) -> Bool {
        self.state == .stable && self.memberEpoch == targetAssignmentEpoch
    }

    var hasRegex: Bool { !(self.subscribedTopicRegex ?? "").isEmpty }

    // MARK: Records

    var metadataValue: ConsumerGroupMemberMetadataValue {
        ConsumerGroupMemberMetadataValue(
            instanceID: self.instanceID, rackID: self.rackID, clientID: self.clientID, clientHost: self.clientHost,
            subscribedTopicNames: self.subscribedTopicNames.sorted(), subscribedTopicRegex: self.subscribedTopicRegex,
            rebalanceTimeoutMs: self.rebalanceTimeoutMs, serverAssignor: self.serverAssignor,
            classicMemberMetadata: self.classicMemberMetadata)
    }

    var currentAssignmentValue: ConsumerGroupCurrentMemberAssignmentValue {
        ConsumerGroupCurrentMemberAssignmentValue(
            memberEpoch: self.memberEpoch, previousMemberEpoch: self.previousMemberEpoch, state: self.state.rawValue,
            assignedPartitions: self.assignedPartitions.recordTopicPartitions(),
            partitionsPendingRevocation: self.partitionsPendingRevocation.recordTopicPartitions())
    }

    mutating func update(with value: ConsumerGroupMemberMetadataValue) {
        self.instanceID = value.instanceID
        self.rackID = value.rackID
        self.clientID = value.clientID
        self.clientHost = value.clientHost
        self.subscribedTopicNames = Set(value.subscribedTopicNames)
        self.subscribedTopicRegex = value.subscribedTopicRegex
        self.rebalanceTimeoutMs = value.rebalanceTimeoutMs
        self.serverAssignor = value.serverAssignor
        self.classicMemberMetadata = value.classicMemberMetadata
    }

    mutating func update(with value: ConsumerGroupCurrentMemberAssignmentValue) {
        self.memberEpoch = value.memberEpoch
        self.previousMemberEpoch = value.previousMemberEpoch
        self.state = State(rawValue: value.state) ?? .unknown
        self.assignedPartitions = PartitionsByTopic(topicPartitions: value.assignedPartitions.map { ($0.topicID, $0.partitions) })
        self.partitionsPendingRevocation = PartitionsByTopic(
            topicPartitions: value.partitionsPendingRevocation.map { ($0.topicID, $0.partitions) })
    }
}

extension Dictionary where Key == KafkaUUID, Value == Set<Int32> {
    /// Builds an assignment from topic/partition lists, dropping empty topics and merging repeated ones.
    init(topicPartitions pairs: [(KafkaUUID, [Int32])]) {
        self.init()
        for (topic, partitions) in pairs where !partitions.isEmpty {
            self[topic, default: []].formUnion(partitions)
        }
    }

    /// The number of partitions in the assignment.
    var partitionCount: Int { self.values.reduce(0) { $0 + $1.count } }

    /// Whether the assignment holds `partition` of `topic`.
    func contains(_ topic: KafkaUUID, _ partition: Int32) -> Bool { self[topic]?.contains(partition) ?? false }

    /// Topics in ID order, partitions ascending: a deterministic order for records and responses.
    func sortedPairs() -> [(KafkaUUID, [Int32])] {
        self.filter { !$0.value.isEmpty }
            .sorted { ($0.key.high, $0.key.low) < ($1.key.high, $1.key.low) }
            .map { ($0.key, $0.value.sorted()) }
    }

    func recordTopicPartitions() -> [ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions] {
        self.sortedPairs().map { .init(topicID: $0.0, partitions: $0.1) }
    }
}

extension KafkaUUID {
    /// An order for deterministic output.
    static func precedes(_ a: KafkaUUID, _ b: KafkaUUID) -> Bool { (a.high, a.low) < (b.high, b.low) }
}
