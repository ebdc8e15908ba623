public import SpateWire

/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: TopicName
    public var partition: Int32

    public init(_ topic: TopicName, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public init(topic: String, partition: Int32) {
        self.init(TopicName(topic), partition)
    }

    public var description: String { "\(self.topic)-\(self.partition)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// What the client knows about the cluster, from Metadata responses.
public struct ClusterMetadata: Sendable, Hashable {
    /// The cluster's ID, where the broker reports one.
    public var clusterID: String?
    /// The controller's node ID, or ``BrokerID/none``.
    public var controllerID: BrokerID = .none
    /// The live brokers by node ID.
    public var brokers: [BrokerID: BrokerAddress] = [:]
    /// The topics asked about so far, by name.
    public var topics: [TopicName: TopicMetadata] = [:]

    public init() {}
}

/// A topic as Metadata describes it.
public struct TopicMetadata: Sendable, Hashable {
    public var name: TopicName
    /// The topic's ID (zero where the broker's Metadata version has none).
    public var topicID: KafkaUUID
    public var isInternal: Bool
    /// The error for the whole topic (`UNKNOWN_TOPIC_OR_PARTITION`, `LEADER_NOT_AVAILABLE`, …) or `.none`.
    public var errorCode: ErrorCode
    /// The partitions, ordered by index.
    public var partitions: [PartitionMetadata]

    public init(name: TopicName, topicID: KafkaUUID, isInternal: Bool, errorCode: ErrorCode, partitions: [PartitionMetadata]) {
        self.name = name
        self.topicID = topicID
        self.isInternal = isInternal
        self.errorCode = errorCode
        self.partitions = partitions
    }

    /// The partition with `index`, if the topic has it.
    public func partition(_ index: Int32) -> PartitionMetadata? {
        if index >= 0, Int(index) < self.partitions.count, self.partitions[Int(index)].partition == index {
            return self.partitions[Int(index)]
        }
        return self.partitions.first { $0.partition == index }
    }
}

/// A partition as Metadata describes it.
public struct PartitionMetadata: Sendable, Hashable {
    public var partition: Int32
    /// The leader's node ID, or ``BrokerID/none`` while there is none.
    public var leader: BrokerID
    public var leaderEpoch: Int32
    public var replicas: [BrokerID]
    public var inSyncReplicas: [BrokerID]
    public var errorCode: ErrorCode

    public init(
        partition: Int32, leader: BrokerID, leaderEpoch: Int32, replicas: [BrokerID], inSyncReplicas: [BrokerID],
        errorCode: ErrorCode
    ) {
        self.partition = partition
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.inSyncReplicas = inSyncReplicas
        self.errorCode = errorCode
    }
}

extension ClusterMetadata {
    /// Folds a Metadata response in: brokers and cluster facts are replaced; each topic in the response replaces
    /// the cached one. With `allTopics`, topics absent from the response are dropped.
    mutating func merge(_ response: MetadataResponse, allTopics: Bool) {
        self.clusterID = response.clusterID
        self.controllerID = response.controllerID
        var brokers: [BrokerID: BrokerAddress] = [:]
        for broker in response.brokers {
            brokers[broker.nodeID] = BrokerAddress(host: broker.host, port: Int(broker.port))
        }
        self.brokers = brokers
        if allTopics { self.topics = [:] }
        for topic in response.topics {
            guard let name = topic.name else { continue }
            let partitions = topic.partitions.map {
                PartitionMetadata(
                    partition: $0.partitionIndex, leader: $0.leaderID, leaderEpoch: $0.leaderEpoch,
                    replicas: $0.replicaNodes, inSyncReplicas: $0.isrNodes, errorCode: $0.errorCode)
            }.sorted { $0.partition < $1.partition }
            self.topics[name] = TopicMetadata(
                name: name, topicID: topic.topicID, isInternal: topic.isInternal, errorCode: topic.errorCode,
                partitions: partitions)
        }
    }
}
