public import NIOCore
public import SpateWire

/// One record of a coordinator's internal topic (`__consumer_offsets`): the key and value bytes in Kafka's own
/// formats (a 2-byte version, then the message at that version), so that Kafka's tools can read them. A nil value is
/// a tombstone, which compaction eventually removes together with every older record of the key.
///
/// Coordinators produce these and rebuild their state by replaying them (``GroupCoordinatorState/replay(_:)``); they
/// never touch files themselves: the broker writes the records and hands them back.
public struct CoordinatorRecord: Hashable, Sendable {
    public var key: ByteBuffer
    public var value: ByteBuffer?

    public init(key: ByteBuffer, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// The topics a coordinator may need to know about (KIP-848 assignors, subscriptions by regular expression,
/// OffsetDelete checks): an immutable snapshot the broker passes in with each call.
public struct TopicImage: Sendable {
    public struct Topic: Hashable, Sendable {
        public var name: String
        public var id: KafkaUUID
        public var partitionCount: Int32

        public init(name: String, id: KafkaUUID, partitionCount: Int32) {
            self.name = name
            self.id = id
            self.partitionCount = partitionCount
        }
    }

    public var byName: [String: Topic]
    public var byID: [KafkaUUID: Topic]

    public init(_ topics: [Topic]) {
        self.byName = Dictionary(topics.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.byID = Dictionary(topics.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public static let empty = TopicImage([])
}
