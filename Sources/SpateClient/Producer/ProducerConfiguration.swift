public import NIOCore
public import SpateRecords
public import SpateWire

/// How a ``Producer`` batches, compresses and acknowledges records.
public struct ProducerConfiguration: Sendable {
    /// Which acknowledgement the producer waits for (acks).
    public enum Acks: Int16, Sendable, Hashable, CustomStringConvertible {
        /// No acknowledgement: the producer does not wait for the broker (acks=0); offsets are unknown (-1).
        case none = 0
        /// The leader has written the record (acks=1).
        case leader = 1
        /// Every in-sync replica has the record; on a single Spate node, it is fsynced (acks=all).
        case all = -1

        public var description: String {
            switch self {
            case .none: "0"
            case .leader: "1"
            case .all: "all"
            }
        }

        /// Parses `0`, `1`, `all` or `-1`.
        public init?(name: String) {
            switch name {
            case "0": self = .none
            case "1": self = .leader
            case "all", "-1": self = .all
            default: return nil
            }
        }
    }

    /// The connection settings.
    public var client = ClientConfiguration()
    /// The acknowledgement to wait for (acks). Defaults to `.all`.
    public var acks: Acks = .all
    /// Whether the producer is idempotent (enable.idempotence): InitProducerId, sequence numbers, retries without
    /// duplicates or reordering. `nil` (the default) means on when ``acks`` is `.all`, off otherwise, as in the Java
    /// client; `true` with other acks is a configuration error.
    public var enableIdempotence: Bool? = nil
    /// The codec for record batches (compression.type). Defaults to `.none`.
    public var compression: CompressionType = .none
    /// How long a batch waits for more records before it is sent (linger.ms). Defaults to 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// The size at which a partition's batch is sent without waiting for ``linger`` (batch.size). Defaults to 16 KiB.
    public var batchSize: Int = 16384
    /// The most Produce requests outstanding on one connection (max.in.flight.requests.per.connection); at most 5
    /// when idempotent. Defaults to 5.
    public var maxInFlightRequestsPerConnection: Int = 5
    /// How long a record may take from ``Producer/send(_:)`` to its acknowledgement, retries included
    /// (delivery.timeout.ms). Defaults to 120 seconds.
    public var deliveryTimeout: Duration = .seconds(120)
    /// How long ``Producer/send(_:)`` and ``Producer/enqueue(_:)`` may wait for topic metadata or buffer space
    /// (max.block.ms). Defaults to 60 seconds.
    public var maxBlock: Duration = .seconds(60)
    /// The largest Produce request, in bytes (max.request.size); a larger record is refused. Defaults to 1 MiB.
    public var maxRequestSize: Int = 1_048_576
    /// The most bytes of records waiting to be sent; beyond it ``Producer/enqueue(_:)`` waits (buffer.memory).
    /// Defaults to 32 MiB.
    public var bufferMemory: Int = 32 * 1_048_576

    public init() {}

    public init(client: ClientConfiguration) {
        self.client = client
    }

    /// Whether the producer is idempotent with these settings.
    public var isIdempotent: Bool { self.enableIdempotence ?? (self.acks == .all) }

    /// Checks the settings.
    /// - Throws: ``KafkaClientError`` with ``KafkaClientError/Code/invalidArgument``.
    public func validate() throws {
        try self.client.validate()
        if self.enableIdempotence == true, self.acks != .all {
            throw KafkaClientError(.invalidArgument, "an idempotent producer needs acks=all (acks is \(self.acks))")
        }
        if self.isIdempotent {
            // The broker remembers each producer's last five batches per partition: more in flight could not be
            // told apart from duplicates on retry.
            guard self.maxInFlightRequestsPerConnection <= 5 else {
                throw KafkaClientError(
                    .invalidArgument, "an idempotent producer allows at most 5 requests in flight per connection")
            }
        }
        guard self.maxInFlightRequestsPerConnection >= 1 else {
            throw KafkaClientError(.invalidArgument, "maxInFlightRequestsPerConnection must be at least 1")
        }
        guard self.batchSize > 0, self.maxRequestSize > 0, self.bufferMemory > 0 else {
            throw KafkaClientError(.invalidArgument, "batchSize, maxRequestSize and bufferMemory must be positive")
        }
    }
}

/// A record to produce.
public struct ProducerRecord: Sendable, Hashable {
    public var topic: TopicName
    /// The partition, or `nil` to let the partitioner choose (by key, or sticky for keyless records).
    public var partition: Int32?
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// The timestamp in milliseconds since the epoch, or `nil` for the time of ``Producer/send(_:)``.
    public var timestamp: Int64?

    public init(
        topic: TopicName, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?,
        headers: [RecordHeader] = [], timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// A record with UTF-8 key and value.
    public init(
        topic: String, partition: Int32? = nil, key: String? = nil, value: String?, headers: [(String, String)] = [],
        timestamp: Int64? = nil
    ) {
        self.init(
            topic: TopicName(topic), partition: partition, key: key.map { ByteBuffer(string: $0) },
            value: value.map { ByteBuffer(string: $0) },
            headers: headers.map { RecordHeader(key: $0.0, value: ByteBuffer(string: $0.1)) }, timestamp: timestamp)
    }
}

/// Where a produced record was written.
public struct RecordMetadata: Sendable, Hashable {
    public var topic: TopicName
    public var partition: Int32
    /// The record's offset; -1 with acks=0, when the broker does not answer.
    public var offset: Int64
    /// The record's timestamp: its create time, or the broker's log append time where the topic uses that.
    public var timestamp: Int64

    public init(topic: TopicName, partition: Int32, offset: Int64, timestamp: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
    }
}
