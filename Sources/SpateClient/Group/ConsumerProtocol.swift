public import NIOCore
public import SpateWire

/// A member's `ConsumerProtocolSubscription`: the metadata a classic-protocol consumer sends in JoinGroup for each
/// assignor (Kafka's `ConsumerProtocolSubscription.json`, versions 0–3; not flexible; prefixed by an `int16` version).
public struct ConsumerSubscription: Hashable, Sendable {
    /// The subscribed topics.
    public var topics: [TopicName]
    /// Assignor-specific data, or `nil`.
    public var userData: ByteBuffer?
    /// The partitions the member owns now (v1+; cooperative rebalancing).
    public var ownedPartitions: [TopicPartition]
    /// The generation in which the member owned them (v2+), or -1.
    public var generationID: Int32
    /// The member's rack (v3+), or `nil`.
    public var rackID: String?

    public init(
        topics: [TopicName], userData: ByteBuffer? = nil, ownedPartitions: [TopicPartition] = [],
        generationID: Int32 = -1, rackID: String? = nil
    ) {
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
        self.generationID = generationID
        self.rackID = rackID
    }

    /// The version the Java client writes (3).
    public static let currentVersion: Int16 = 3

    /// Encodes with the version prefix.
    public func encoded(version: Int16 = Self.currentVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        try? buffer.writeKafkaArray(self.topics, compact: false) { buffer, topic throws(WireError) in
            try buffer.writeKafkaString(topic.rawValue, compact: false)
        }
        if let userData { buffer.writeKafkaBytes(userData, compact: false) } else { buffer.writeNullKafkaBytes(compact: false) }
        if version >= 1 { writePartitionsByTopic(self.ownedPartitions, into: &buffer) }
        if version >= 2 { buffer.writeInteger(self.generationID) }
        if version >= 3 {
            if let rackID { try? buffer.writeKafkaString(rackID, compact: false) } else { buffer.writeNullKafkaString(compact: false) }
        }
        return buffer
    }

    /// Decodes any version (fields of versions newer than 3 are ignored, as Kafka's readers do).
    public init(decoding bytes: ByteBuffer) throws(WireError) {
        var buffer = bytes
        let version: Int16 = try buffer.readKafkaInteger()
        self.topics = try buffer.readKafkaArray(compact: false) { buffer throws(WireError) in
            TopicName(try buffer.readKafkaString(compact: false))
        }
        self.userData = try buffer.readNullableKafkaBytes(compact: false)
        self.ownedPartitions = version >= 1 ? try readPartitionsByTopic(&buffer) : []
        self.generationID = version >= 2 ? try buffer.readKafkaInteger() : -1
        self.rackID = version >= 3 ? try buffer.readNullableKafkaString(compact: false) : nil
    }
}

/// A member's `ConsumerProtocolAssignment`: what the leader's assignor gave it, relayed by SyncGroup (Kafka's
/// `ConsumerProtocolAssignment.json`, versions 0–3, all the same layout).
public struct ConsumerAssignment: Hashable, Sendable {
    /// The assigned partitions.
    public var partitions: [TopicPartition]
    /// Assignor-specific data, or `nil`.
    public var userData: ByteBuffer?

    public init(partitions: [TopicPartition], userData: ByteBuffer? = nil) {
        self.partitions = partitions
        self.userData = userData
    }

    /// The version the Java client writes (3).
    public static let currentVersion: Int16 = 3

    public func encoded(version: Int16 = Self.currentVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        writePartitionsByTopic(self.partitions, into: &buffer)
        if let userData { buffer.writeKafkaBytes(userData, compact: false) } else { buffer.writeNullKafkaBytes(compact: false) }
        return buffer
    }

    /// Decodes any version; an empty buffer (a member given nothing by some clients) is an empty assignment.
    public init(decoding bytes: ByteBuffer) throws(WireError) {
        var buffer = bytes
        guard buffer.readableBytes > 0 else {
            self.partitions = []
            self.userData = nil
            return
        }
        _ = try buffer.readKafkaInteger(as: Int16.self)
        self.partitions = try readPartitionsByTopic(&buffer)
        self.userData = buffer.readableBytes > 0 ? try buffer.readNullableKafkaBytes(compact: false) : nil
    }
}

private func writePartitionsByTopic(_ partitions: [TopicPartition], into buffer: inout ByteBuffer) {
    let byTopic = Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }
    try? buffer.writeKafkaArray(byTopic, compact: false) { buffer, entry throws(WireError) in
        try buffer.writeKafkaString(entry.key.rawValue, compact: false)
        try buffer.writeKafkaArray(entry.value.map(\.partition).sorted(), compact: false) { buffer, p throws(WireError) in
            buffer.writeInteger(p)
        }
    }
}

private func readPartitionsByTopic(_ buffer: inout ByteBuffer) throws(WireError) -> [TopicPartition] {
    let topics = try buffer.readKafkaArray(compact: false) { buffer throws(WireError) -> [TopicPartition] in
        let topic = TopicName(try buffer.readKafkaString(compact: false))
        let partitions = try buffer.readKafkaArray(compact: false) { buffer throws(WireError) -> Int32 in
            try buffer.readKafkaInteger()
        }
        return partitions.map { TopicPartition(topic, $0) }
    }
    return topics.flatMap { $0 }
}
