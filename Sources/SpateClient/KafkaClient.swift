public import Logging
public import NIOCore
public import NIOPosix
public import SpateWire

/// The connection layer that ``Producer``, ``Consumer`` and ``Admin`` share: bootstrap, one connection per broker
/// (pipelined, with API versions negotiated on connect), a metadata cache, reconnection with backoff, and retries of
/// retriable failures within ``ClientConfiguration/operationTimeout``.
///
/// ```swift
/// let client = KafkaClient(configuration: .init(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
/// let topic = try await client.topicMetadata("orders")
/// await client.shutdown()
/// ```
public actor KafkaClient {
    /// The configuration the client was created with.
    public nonisolated let configuration: ClientConfiguration
    nonisolated let logger: Logger
    nonisolated let eventLoopGroup: any EventLoopGroup

    private var connections: [ConnectionKey: BrokerConnection] = [:]
    private var connecting: [ConnectionKey: [CheckedContinuation<BrokerConnection, any Error>]] = [:]
    private var failures: [ConnectionKey: (attempts: Int, retryAt: ContinuousClock.Instant, error: any Error)] = [:]
    /// The cluster as last described by a Metadata response.
    public private(set) var metadata = ClusterMetadata()
    private var topicsFetchedAt: [TopicName: ContinuousClock.Instant] = [:]
    private var isShutDown = false
    /// Group coordinators found by FindCoordinator.
    var coordinators: [GroupID: BrokerID] = [:]

    /// Creates a client; it connects lazily, on the first request.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - logger: Where the client logs (debug and below); silent by default.
    ///   - eventLoopGroup: The NIO event loops for the connections. Defaults to the shared singleton.
    public init(
        configuration: ClientConfiguration,
        logger: Logger = Logger(label: "spate.client", factory: { _ in SwiftLogNoOpLogHandler() }),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
    }

    /// Closes every connection; requests still outstanding fail, and later ones fail with
    /// ``KafkaClientError/Code/shutDown``.
    public func shutdown() {
        self.isShutDown = true
        for connection in self.connections.values { connection.close() }
        self.connections = [:]
    }

    // MARK: Connections

    /// The connection to broker `node`, opened (or reopened, after the backoff) if needed.
    func connection(to node: BrokerID) async throws -> BrokerConnection {
        guard let address = self.metadata.brokers[node] else {
            throw KafkaClientError(.connectionFailed, "broker \(node) is not in the cluster metadata")
        }
        return try await self.connection(key: .node(node), address: address)
    }

    private func connection(toNodeOrAny node: BrokerID?) async throws -> BrokerConnection {
        if let node { return try await self.connection(to: node) }
        return try await self.anyConnection()
    }

    /// A connection to any broker: an open one if there is one, else the known brokers and then the bootstrap
    /// servers, in turn.
    func anyConnection() async throws -> BrokerConnection {
        if let open = self.connections.sorted(by: { $0.key.sortKey < $1.key.sortKey }).first(where: { $0.value.isActive }) {
            return open.value
        }
        var candidates: [(ConnectionKey, BrokerAddress)] = self.metadata.brokers.sorted { $0.key < $1.key }
            .map { (.node($0.key), $0.value) }
        candidates += self.configuration.bootstrapServers.map { (.bootstrap($0), $0) }
        var errors: [String] = []
        for (key, address) in candidates {
            do {
                return try await self.connection(key: key, address: address)
            } catch {
                if self.isShutDown { throw error }
                errors.append((error as? KafkaClientError)?.message ?? "\(error)")
            }
        }
        throw KafkaClientError(
            .connectionFailed,
            "cannot connect to any broker: " + (errors.isEmpty ? "no broker address known" : errors.joined(separator: "; ")))
    }

    private func connection(key: ConnectionKey, address: BrokerAddress) async throws -> BrokerConnection {
        guard !self.isShutDown else { throw KafkaClientError(.shutDown, "the client is shut down") }
        if let connection = self.connections[key] {
            if connection.isActive { return connection }
            self.connections[key] = nil
        }
        if self.connecting[key] != nil {
            return try await withCheckedThrowingContinuation { self.connecting[key]!.append($0) }
        }
        self.connecting[key] = []
        let result: Result<BrokerConnection, any Error>
        do {
            if let failure = self.failures[key], failure.retryAt > .now {
                // Backing off: fail fast with the last error; callers retry after their own backoff.
                throw failure.error
            }
            // A connection attempt never outlasts the operation it serves (a blackholed address would otherwise
            // hold it for the whole connect timeout).
            var configuration = self.configuration
            configuration.connectTimeout = min(configuration.connectTimeout, configuration.operationTimeout)
            let connection = try await BrokerConnection.connect(
                to: address, configuration: configuration, group: self.eventLoopGroup, logger: self.logger)
            if self.isShutDown {
                connection.close()
                throw KafkaClientError(.shutDown, "the client is shut down")
            }
            self.failures[key] = nil
            self.connections[key] = connection
            result = .success(connection)
        } catch {
            // Exponential backoff before the next attempt (reconnect.backoff.ms … reconnect.backoff.max.ms).
            let backingOff = self.failures[key].map { $0.retryAt > .now } ?? false
            if !backingOff {
                let attempts = (self.failures[key]?.attempts ?? 0) + 1
                let backoff = min(
                    self.configuration.reconnectBackoff * (1 << min(attempts - 1, 20)),
                    self.configuration.reconnectBackoffMax)
                self.failures[key] = (attempts, .now + backoff, error)
            }
            result = .failure(error)
        }
        let waiters = self.connecting.removeValue(forKey: key) ?? []
        for waiter in waiters { waiter.resume(with: result) }
        return try result.get()
    }

    // MARK: Requests

    /// Sends one request to broker `node` (or to any broker when `node` is `nil`) and returns its response; no retry.
    ///
    /// `make` builds the request for the version negotiated with that broker (the highest both support).
    /// - Parameters:
    ///   - node: The broker, or `nil` for any.
    ///   - maxVersion: A cap on the version, where the caller needs an older form.
    ///   - timeout: The request timeout; defaults to ``ClientConfiguration/requestTimeout``.
    /// - Throws: ``KafkaClientError``.
    public func send<Request: KafkaRequest>(
        to node: BrokerID?, maxVersion: Int16? = nil, timeout: Duration? = nil,
        _ make: (_ version: Int16) throws -> Request
    ) async throws -> Request.Response {
        let connection = try await self.connection(toNodeOrAny: node)
        let version = try connection.version(for: Request.self, cap: maxVersion)
        let request = try make(version)
        return try await connection.send(
            request, version: version, timeout: timeout ?? self.configuration.requestTimeout)
    }

    /// The version of `Request` that would be used with broker `node` (or any broker).
    func negotiatedVersion<Request: KafkaRequest>(of type: Request.Type, node: BrokerID?) async throws -> Int16 {
        let connection = try await self.connection(toNodeOrAny: node)
        return try connection.version(for: Request.self)
    }

    static func invalidatesMetadata(_ code: ErrorCode) -> Bool {
        [.notLeaderOrFollower, .unknownTopicOrPartition, .leaderNotAvailable, .brokerNotAvailable,
         .replicaNotAvailable, .fencedLeaderEpoch, .unknownLeaderEpoch, .notController, .kafkaStorageError,
         .unknownTopicID, .inconsistentTopicID]
            .contains(code)
    }

    // MARK: Metadata

    /// Marks all topic metadata stale, so the next lookup asks a broker.
    public func invalidateMetadata() {
        self.topicsFetchedAt = [:]
    }

    /// Asks a broker for metadata (one attempt) and folds it into ``metadata``.
    /// - Parameters:
    ///   - topics: The topics to describe, or `nil` for all.
    ///   - allowAutoCreate: Overrides ``ClientConfiguration/allowAutoTopicCreation``.
    @discardableResult
    public func refreshMetadata(topics: [TopicName]?, allowAutoCreate: Bool? = nil) async throws -> ClusterMetadata {
        let autoCreate = allowAutoCreate ?? self.configuration.allowAutoTopicCreation
        let response = try await self.send(to: nil) { version in
            MetadataRequest(
                topics: topics.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } } ?? (version == 0 ? [] : nil),
                allowAutoTopicCreation: version >= 4 ? autoCreate : true)
        }
        self.metadata.merge(response, allTopics: topics == nil)
        let now = ContinuousClock.now
        for topic in response.topics {
            if let name = topic.name { self.topicsFetchedAt[name] = now }
        }
        return self.metadata
    }

    /// The metadata of `topic`: cached while fresh, else one Metadata request. One attempt; wrap it in
    /// a retry loop to wait for a topic being created or a leader being elected.
    /// - Throws: ``KafkaClientError`` with ``KafkaClientError/Code/unknownTopic`` when the topic does not exist, or a
    ///   retriable ``KafkaClientError/Code/broker`` error while it has no leader.
    public func topicMetadata(_ topic: TopicName, allowAutoCreate: Bool? = nil) async throws -> TopicMetadata {
        if let cached = self.metadata.topics[topic], let fetchedAt = self.topicsFetchedAt[topic],
            ContinuousClock.now - fetchedAt < self.configuration.metadataMaxAge, cached.isUsable
        {
            return cached
        }
        try await self.refreshMetadata(topics: [topic], allowAutoCreate: allowAutoCreate)
        guard let fresh = self.metadata.topics[topic] else {
            throw KafkaClientError.broker(.unknownTopicOrPartition, "topic '\(topic)'")
        }
        if fresh.errorCode != .none {
            throw KafkaClientError.broker(fresh.errorCode, "topic '\(topic)'")
        }
        if let bad = fresh.partitions.first(where: { $0.errorCode != .none && $0.errorCode != .replicaNotAvailable }) {
            throw KafkaClientError.broker(bad.errorCode, "partition \(topic)-\(bad.partition)")
        }
        guard !fresh.partitions.isEmpty else {
            throw KafkaClientError.broker(.leaderNotAvailable, "topic '\(topic)' has no partitions yet")
        }
        return fresh
    }

    /// The leader of `partition` from the cache (refreshing it when stale or unknown); one attempt.
    func leader(for partition: TopicPartition) async throws -> BrokerID {
        let topic = try await self.topicMetadata(partition.topic)
        guard let info = topic.partition(partition.partition) else {
            throw KafkaClientError.broker(.unknownTopicOrPartition, "partition \(partition)")
        }
        guard info.leader != .none, self.metadata.brokers[info.leader] != nil else {
            self.topicsFetchedAt[partition.topic] = nil
            throw KafkaClientError.broker(.leaderNotAvailable, "partition \(partition)")
        }
        return info.leader
    }
}

extension TopicMetadata {
    /// No error, and every partition has a leader.
    var isUsable: Bool {
        self.errorCode == .none && !self.partitions.isEmpty && self.partitions.allSatisfy { $0.leader != .none }
    }
}

extension Duration {
    var formattedSeconds: String {
        let ms = self.milliseconds
        return ms < 1000 ? "\(ms) ms" : "\(ms / 1000).\(ms % 1000 / 100) s"
    }
}

private enum ConnectionKey: Hashable {
    case node(BrokerID)
    case bootstrap(BrokerAddress)

    var sortKey: String {
        switch self {
        case .node(let id): "0-\(id.rawValue)"
        case .bootstrap(let address): "1-\(address)"
        }
    }
}

/// Runs `body` until it succeeds, retrying retriable failures (after ``ClientConfiguration/retryBackoff``) until
/// `deadline` (by default ``ClientConfiguration/operationTimeout`` from now). Topic metadata is refreshed after
/// errors that mean it is stale.
/// - Parameter retryUnknownTopic: Whether `UNKNOWN_TOPIC_OR_PARTITION` is retried (a topic being created) or
///   fails at once.
func retrying<T>(
    _ client: KafkaClient,
    _ operation: String,
    deadline: ContinuousClock.Instant? = nil,
    retryUnknownTopic: Bool = true,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    let start = ContinuousClock.now
    let deadline = deadline ?? start + client.configuration.operationTimeout
    while true {
        do {
            return try await body()
        } catch {
            guard let clientError = error as? KafkaClientError, clientError.isRetriable,
                retryUnknownTopic || clientError.code != .unknownTopic
            else { throw error }
            try Task.checkCancellation()
            if ContinuousClock.now + client.configuration.retryBackoff >= deadline {
                var final = clientError
                let elapsed = ContinuousClock.now - start
                final.message = "\(operation): \(clientError.message) (gave up after \(elapsed.formattedSeconds))"
                throw final
            }
            if clientError.kafkaErrorCode != nil && clientError.invalidatesMetadata {
                await client.invalidateMetadata()
            }
            client.logger.debug(
                "retrying", metadata: ["spate.operation": "\(operation)", LogKey.error: "\(clientError.message)"])
            try await Task.sleep(for: client.configuration.retryBackoff)
        }
    }
}

