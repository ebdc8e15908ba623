public import SpateCoordinators
public import SpateStorage

/// A broker's configuration. Every property has Kafka's name (in its doc comment) and Kafka's default, except where
/// noted for the single-node embedded default.
public struct BrokerConfiguration: Sendable {
    public struct Network: Sendable {
        /// Where the Kafka listener binds (`listeners`). Defaults to `127.0.0.1:9092`.
        public var host: String = "127.0.0.1"
        public var port: Int = 9092
        /// What clients are told to connect to (`advertised.listeners`); nil advertises the bound address.
        public var advertisedHost: String? = nil
        public var advertisedPort: Int? = nil
        /// The largest request frame accepted (`socket.request.max.bytes`). Defaults to 100 MiB.
        public var socketRequestMaxBytes: Int = 104_857_600
        /// Close connections idle this long (`connections.max.idle.ms`). Defaults to 10 minutes.
        public var connectionsMaxIdle: Duration = .seconds(600)
        /// Incremental fetch sessions kept at most (`max.incremental.fetch.session.cache.slots`); the least recently
        /// used one is evicted for a new one. Defaults to 1000; 0 disables sessions.
        public var maxIncrementalFetchSessionCacheSlots: Int = 1000
        public init() {}
    }

    public struct Storage: Sendable {
        /// The data directory (`log.dirs`). Defaults to `./spate-data`.
        public var dataDirectory: String = "./spate-data"
        /// Threads doing file I/O (`num.io.threads`). Defaults to 8.
        public var ioThreads: Int = 8
        /// The defaults of every topic's log settings (`log.segment.bytes`, `log.retention.ms`, …).
        public var logDefaults = LogConfig()
        /// How often retention and time-based flushes run (`log.retention.check.interval.ms`). Defaults to 5 min.
        public var retentionCheckInterval: Duration = .seconds(300)
        /// `message.timestamp.type` default for topics: CreateTime or LogAppendTime.
        public var logAppendTime = false
        public init() {}
    }

    public struct Topics: Sendable {
        /// Create a topic when a client asks for its metadata (`auto.create.topics.enable`). Defaults to true.
        public var autoCreateTopicsEnable = true
        /// Partitions of auto-created topics and of CreateTopics with -1 (`num.partitions`). Defaults to 1.
        public var numPartitions: Int32 = 1
        /// Replication factor for -1 (`default.replication.factor`). Defaults to 1.
        public var defaultReplicationFactor: Int16 = 1
        /// Whether DeleteTopics is allowed (`delete.topic.enable`). Defaults to true.
        public var deleteTopicEnable = true
        public init() {}
    }

    public struct Transactions: Sendable {
        /// How long a partition keeps an idle producer's state (epoch, last sequences) before forgetting it
        /// (`producer.id.expiration.ms`). Defaults to 1 day.
        public var producerIDExpiration: Duration = .seconds(86_400)
        public init() {}
    }

    /// This broker's ID (`node.id`). Defaults to 1.
    public var nodeID: Int32 = 1
    public var network = Network()
    public var storage = Storage()
    public var topics = Topics()
    public var transactions = Transactions()
    /// Consumer groups and committed offsets (`offsets.*`, `group.*`), with Kafka's defaults.
    public var groups = GroupConfig()
    /// How often expired committed offsets are removed (`offsets.retention.check.interval.ms`). Defaults to 10 min.
    public var offsetsRetentionCheckInterval: Duration = .seconds(600)

    public init() {}

    /// Checks every value, naming the setting that is wrong.
    public func validate() throws {
        guard (0...65_535).contains(self.network.port) else {
            throw ConfigurationError("listeners", "port \(self.network.port) is not between 0 and 65535")
        }
        guard self.network.socketRequestMaxBytes > 0 else {
            throw ConfigurationError("socket.request.max.bytes", "must be positive")
        }
        guard self.topics.numPartitions >= 1 else { throw ConfigurationError("num.partitions", "must be at least 1") }
        guard self.transactions.producerIDExpiration >= .milliseconds(1) else {
            throw ConfigurationError("producer.id.expiration.ms", "must be at least 1")
        }
        guard self.groups.minSessionTimeoutMs <= self.groups.maxSessionTimeoutMs else {
            throw ConfigurationError("group.min.session.timeout.ms", "must not exceed group.max.session.timeout.ms")
        }
        guard self.storage.ioThreads >= 1 else { throw ConfigurationError("num.io.threads", "must be at least 1") }
        do {
            try self.storage.logDefaults.validate()
        } catch {
            throw ConfigurationError("log.*", "\(error)")
        }
    }
}

/// A configuration value that cannot be used; the message names the setting.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var setting: String
    public var problem: String
    public init(_ setting: String, _ problem: String) {
        self.setting = setting
        self.problem = problem
    }
    public var description: String { "invalid setting \(self.setting): \(self.problem)" }
}
