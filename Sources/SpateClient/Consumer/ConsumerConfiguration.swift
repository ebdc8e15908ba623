public import NIOCore
public import SpateRecords
public import SpateWire

/// How a ``Consumer`` fetches.
public struct ConsumerConfiguration: Sendable {
    /// What to do when a partition's position is not in the log (auto.offset.reset).
    public enum OffsetReset: Sendable, Hashable {
        /// Move to the log start.
        case earliest
        /// Move to the log end.
        case latest
        /// Fail ``Consumer/poll(maxWait:)`` with `OFFSET_OUT_OF_RANGE`.
        case none
        /// Move to the log start when the position is before it, else to the log end (records were deleted, or the
        /// position was beyond the end). Not a Kafka setting; `spate consume` uses it.
        case nearest
    }

    /// The connection settings.
    public var client = ClientConfiguration()
    /// The group to join (group.id), or `nil` for a consumer whose partitions are assigned with
    /// ``Consumer/assign(_:)``. With a group, ``Consumer/subscribe(_:listener:)`` joins it. Defaults to `nil`.
    public var groupID: GroupID? = nil
    /// A static member's stable identity (group.instance.id, KIP-345): a restart within the session timeout does not
    /// rebalance the group, and closing does not leave it. Defaults to `nil` (a dynamic member).
    public var groupInstanceID: String? = nil
    /// The group protocol (group.protocol). Defaults to `.classic`.
    public var groupProtocol: GroupProtocol = .classic
    /// The server-side assignor a ``GroupProtocol/consumer`` member asks for (group.remote.assignor: `uniform` or
    /// `range` on Spate and Kafka), or `nil` for the coordinator's default. Defaults to `nil`.
    public var serverAssignor: String? = nil
    /// The classic protocol's client-side assignors, in order of preference (partition.assignment.strategy).
    /// Rebalances are cooperative when every assignor listed is. Defaults to `[.range, .cooperativeSticky]`, as Java.
    public var assignors: [PartitionAssignor] = [.range, .cooperativeSticky]
    /// How long the coordinator waits for a heartbeat before removing the member (session.timeout.ms; classic
    /// protocol: with ``GroupProtocol/consumer`` the coordinator's `group.consumer.session.timeout.ms` applies).
    /// Defaults to 45 s.
    public var sessionTimeout: Duration = .seconds(45)
    /// How often the member heartbeats (heartbeat.interval.ms; classic protocol: a ``GroupProtocol/consumer`` member
    /// uses the interval each ConsumerGroupHeartbeat response gives). Defaults to 3 s.
    public var heartbeatInterval: Duration = .seconds(3)
    /// How long the coordinator waits for members to rejoin in a rebalance (max.poll.interval.ms, sent as the
    /// rebalance timeout). Defaults to 5 minutes.
    public var rebalanceTimeout: Duration = .seconds(300)
    /// Whether positions are committed automatically: every ``autoCommitInterval`` in ``Consumer/poll(maxWait:)``,
    /// before partitions are revoked, and on ``Consumer/close()`` (enable.auto.commit). Defaults to true.
    public var enableAutoCommit = true
    /// The automatic commit interval (auto.commit.interval.ms). Defaults to 5 s.
    public var autoCommitInterval: Duration = .seconds(5)
    /// How long the broker may hold a fetch waiting for data (fetch.max.wait.ms). Defaults to 500 ms.
    public var maxWait: Duration = .milliseconds(500)
    /// The least data the broker waits for before answering a fetch (fetch.min.bytes). Defaults to 1.
    public var minBytes: Int32 = 1
    /// The most data one fetch returns (fetch.max.bytes). Defaults to 50 MiB, as in Kafka.
    ///
    /// Fetch requests ask for at most 15 MiB, whatever this says (a fetch's limit is a maximum, so asking for less
    /// keeps to Kafka's semantics; as there, a first batch larger than the limit still comes whole, KIP-74): NIO slices
    /// a `ByteBuffer` without copying only within the first 16 MiB of its memory, so the record sets of a larger
    /// response past that point were copied, and the copies page-faulted. Partitions that returned records move to
    /// the back of the next request, so that a response too small for every partition's records starves none.
    public var maxBytes: Int32 = 52_428_800
    /// The most data one fetch returns per partition (max.partition.fetch.bytes). Defaults to 1 MiB, as in Kafka.
    ///
    /// A consumer that reads few partitions fast gets more per round trip with a larger value: against `spate serve`,
    /// one partition read with 1 MiB fetches cost the broker about 3 times the CPU per record of 10 MiB fetches, and
    /// the consumer reached 63–65% of the throughput of librdkafka fetching 10 MiB, against 84–118% when fetching
    /// 10 MiB itself (BENCHMARKS.md, "Client (issue 6)"). A response stays bounded by ``maxBytes``, and the
    /// connection reuses the memory of large responses.
    public var maxPartitionBytes: Int32 = 1_048_576
    /// Where to go when a position is out of range (auto.offset.reset). Defaults to `.latest`.
    public var autoOffsetReset: OffsetReset = .latest
    /// Whether only committed transactional records are returned (isolation.level=read_committed). Defaults to false.
    public var readCommitted = false
    /// Whether each fetched batch's CRC-32C is checked (check.crcs). Defaults to true.
    public var checkCRCs = true
    /// The most bytes one batch may decompress to (a guard against decompression bombs). Defaults to 256 MiB.
    public var maxDecompressedBatchSize = 268_435_456

    public init() {}

    public init(client: ClientConfiguration) {
        self.client = client
    }

    /// Checks the settings.
    /// - Throws: ``KafkaClientError`` with ``KafkaClientError/Code/invalidArgument``.
    public func validate() throws {
        try self.client.validate()
        if self.groupID != nil {
            if let assignor = self.serverAssignor, assignor.isEmpty {
                throw KafkaClientError(.invalidArgument, "the server assignor must not be empty")
            }
            guard self.groupProtocol == .consumer || !self.assignors.isEmpty else {
                throw KafkaClientError(.invalidArgument, "a group member needs at least one assignor")
            }
            guard self.heartbeatInterval > .zero, self.heartbeatInterval < self.sessionTimeout else {
                throw KafkaClientError(.invalidArgument, "the heartbeat interval must be positive and below the session timeout")
            }
        }
        guard self.maxBytes > 0, self.maxPartitionBytes > 0, self.minBytes >= 0 else {
            throw KafkaClientError(.invalidArgument, "fetch sizes must be positive")
        }
    }
}

/// Which group protocol a member speaks (group.protocol).
public enum GroupProtocol: String, Sendable, Hashable {
    /// JoinGroup/SyncGroup/Heartbeat with client-side assignors.
    case classic
    /// KIP-848: ConsumerGroupHeartbeat with server-side assignors and incremental reconciliation.
    case consumer
}

/// Where a consumer reads a partition from.
public enum SeekTarget: Sendable, Hashable {
    /// This offset.
    case offset(Int64)
    /// The first record whose timestamp is at or after this many milliseconds since the epoch (the end if none).
    case timestamp(Int64)
    /// The log start.
    case beginning
    /// The log end: only records produced from now on.
    case end
}

/// A consumed record.
public struct ConsumerRecord: Sendable, Hashable {
    public var topic: TopicName
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch: create time, or log append time (see ``timestampType``).
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// The leader epoch of the batch, or -1.
    public var leaderEpoch: Int32

    public init(
        topic: TopicName, partition: Int32, offset: Int64, timestamp: Int64, timestampType: TimestampType,
        key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], leaderEpoch: Int32
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
        self.key = key
        self.value = value
        self.headers = headers
        self.leaderEpoch = leaderEpoch
    }

    public var topicPartition: TopicPartition { TopicPartition(self.topic, self.partition) }
}
