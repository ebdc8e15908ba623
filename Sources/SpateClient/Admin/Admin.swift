public import Logging
public import SpateWire

/// Cluster administration: topics, partitions, configs, records, offsets and the cluster itself.
///
/// Each operation retries retriable failures within ``ClientConfiguration/operationTimeout`` and throws
/// ``KafkaClientError`` (with the broker's ``KafkaClientError/kafkaErrorCode``) otherwise.
///
/// ```swift
/// let admin = Admin(configuration: ClientConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]))
/// try await admin.createTopic(NewTopic(name: "orders", partitions: 6, configs: ["retention.ms": "86400000"]))
/// await admin.close()
/// ```
public struct Admin: Sendable {
    /// The client the operations go through.
    public let client: KafkaClient

    /// An admin client on a connection layer of its own.
    public init(
        configuration: ClientConfiguration,
        logger: Logger = Logger(label: "spate.admin", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.client = KafkaClient(configuration: configuration, logger: logger)
    }

    /// An admin client sharing `client`'s connections.
    public init(client: KafkaClient) {
        self.client = client
    }

    /// Closes the connections.
    public func close() async {
        await self.client.shutdown()
    }

    private var timeoutMs: Int32 { self.client.configuration.requestTimeout.int32Milliseconds }

    /// The controller if known, else any broker (Kafka 4 brokers forward admin requests to the controller).
    private func controller() async -> BrokerID? {
        let metadata = await self.client.metadata
        return metadata.controllerID != .none && metadata.brokers[metadata.controllerID] != nil
            ? metadata.controllerID : nil
    }

    // MARK: Topics

    /// Creates a topic.
    /// - Throws: ``KafkaClientError`` with `TOPIC_ALREADY_EXISTS`, `INVALID_PARTITIONS`, `INVALID_CONFIG`, … as its
    ///   ``KafkaClientError/kafkaErrorCode``.
    public func createTopic(_ topic: NewTopic, validateOnly: Bool = false) async throws {
        let client = self.client
        let timeout = self.timeoutMs
        let controller = await self.controller()
        let response = try await retrying(client, "CreateTopics") {
            try await client.send(to: controller) { _ in
                CreateTopicsRequest(
                    topics: [
                        .init(
                            name: topic.name, numPartitions: topic.partitions ?? -1,
                            replicationFactor: topic.replicationFactor ?? -1,
                            configs: topic.configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
                    ],
                    timeoutMs: timeout, validateOnly: validateOnly)
            }
        }
        for result in response.topics where result.errorCode != .none {
            throw KafkaClientError.broker(
                result.errorCode, "cannot create topic '\(result.name)'", message: result.errorMessage)
        }
        await client.invalidateMetadata()
    }

    /// Deletes topics by name.
    public func deleteTopics(_ names: [TopicName]) async throws {
        let client = self.client
        let timeout = self.timeoutMs
        let controller = await self.controller()
        let response = try await retrying(client, "DeleteTopics", retryUnknownTopic: false) {
            try await client.send(to: controller) { version in
                version >= 6
                    ? DeleteTopicsRequest(topics: names.map { .init(name: $0) }, timeoutMs: timeout)
                    : DeleteTopicsRequest(topicNames: names, timeoutMs: timeout)
            }
        }
        for result in response.responses where result.errorCode != .none {
            throw KafkaClientError.broker(
                result.errorCode, "cannot delete topic '\(result.name?.rawValue ?? "\(result.topicID)")'",
                message: result.errorMessage)
        }
        await client.invalidateMetadata()
    }

    /// Deletes a topic.
    public func deleteTopic(_ name: TopicName) async throws {
        try await self.deleteTopics([name])
    }

    /// Every topic's metadata, sorted by name.
    /// - Parameter includeInternal: Whether internal topics (`__consumer_offsets`, …) are listed.
    public func listTopics(includeInternal: Bool = false) async throws -> [TopicMetadata] {
        let client = self.client
        let metadata = try await retrying(client, "Metadata") {
            try await client.refreshMetadata(topics: nil, allowAutoCreate: false)
        }
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.sorted { $0.name < $1.name }
    }

    /// One topic's metadata (partitions, leaders, replicas), without creating it.
    /// - Throws: ``KafkaClientError/Code/unknownTopic`` if it does not exist.
    public func describeTopic(_ name: TopicName) async throws -> TopicMetadata {
        let client = self.client
        return try await retrying(client, "Metadata", retryUnknownTopic: false) {
            try await client.refreshMetadata(topics: [name], allowAutoCreate: false)
            return try await client.topicMetadata(name, allowAutoCreate: false)
        }
    }

    /// Raises a topic's partition count to `totalCount`.
    public func createPartitions(_ topic: TopicName, totalCount: Int32, validateOnly: Bool = false) async throws {
        let client = self.client
        let timeout = self.timeoutMs
        let controller = await self.controller()
        let response = try await retrying(client, "CreatePartitions", retryUnknownTopic: false) {
            try await client.send(to: controller) { _ in
                CreatePartitionsRequest(
                    topics: [.init(name: topic, count: totalCount, assignments: nil)], timeoutMs: timeout,
                    validateOnly: validateOnly)
            }
        }
        for result in response.results where result.errorCode != .none {
            throw KafkaClientError.broker(
                result.errorCode, "cannot add partitions to '\(result.name)'", message: result.errorMessage)
        }
        await client.invalidateMetadata()
    }

    // MARK: Configs

    /// The configuration of a topic or broker, with each entry's value and source.
    /// - Parameter names: The entries wanted, or `nil` for all.
    public func describeConfigs(_ resource: ConfigResource, names: [String]? = nil) async throws -> [ConfigEntry] {
        let client = self.client
        let target: BrokerID? = resource.type == .broker ? BrokerID(Int32(resource.name) ?? -1) : nil
        let response = try await retrying(client, "DescribeConfigs", retryUnknownTopic: false) {
            if target != nil { try await client.refreshMetadata(topics: [], allowAutoCreate: false) }
            return try await client.send(to: target) { _ in
                DescribeConfigsRequest(
                    resources: [.init(resourceType: resource.type.rawValue, resourceName: resource.name, configurationKeys: names)],
                    includeSynonyms: false, includeDocumentation: false)
            }
        }
        guard let result = response.results.first else {
            throw KafkaClientError(.protocolViolation, "DescribeConfigs answered with no result")
        }
        guard result.errorCode == .none else {
            throw KafkaClientError.broker(result.errorCode, "cannot describe \(resource)", message: result.errorMessage)
        }
        return result.configs.map {
            ConfigEntry(
                name: $0.name, value: $0.value, source: ConfigEntry.Source(rawValue: $0.configSource),
                isReadOnly: $0.readOnly, isSensitive: $0.isSensitive, isDefault: $0.isDefault || $0.configSource == 5)
        }.sorted { $0.name < $1.name }
    }

    /// Changes configuration entries one by one (IncrementalAlterConfigs), leaving the others as they are.
    public func incrementalAlterConfigs(_ resource: ConfigResource, _ operations: [ConfigOperation], validateOnly: Bool = false)
        async throws
    {
        let client = self.client
        let target: BrokerID? = resource.type == .broker ? BrokerID(Int32(resource.name) ?? -1) : nil
        let response = try await retrying(client, "IncrementalAlterConfigs", retryUnknownTopic: false) {
            if target != nil { try await client.refreshMetadata(topics: [], allowAutoCreate: false) }
            return try await client.send(to: target) { _ in
                IncrementalAlterConfigsRequest(
                    resources: [
                        .init(
                            resourceType: resource.type.rawValue, resourceName: resource.name,
                            configs: operations.map { .init(name: $0.name, configOperation: $0.kind.rawValue, value: $0.value) })
                    ],
                    validateOnly: validateOnly)
            }
        }
        for result in response.responses where result.errorCode != .none {
            throw KafkaClientError.broker(result.errorCode, "cannot alter \(resource)", message: result.errorMessage)
        }
    }

    // MARK: Records and offsets

    /// Deletes the records before the given offsets (the new log start offsets); `-1` means the high watermark.
    /// - Returns: Each partition's new low watermark.
    public func deleteRecords(before offsets: [TopicPartition: Int64]) async throws -> [TopicPartition: Int64] {
        let client = self.client
        let timeout = self.timeoutMs
        return try await retrying(client, "DeleteRecords", retryUnknownTopic: false) {
            var byLeader: [BrokerID: [TopicPartition]] = [:]
            for partition in offsets.keys {
                byLeader[try await client.leader(for: partition), default: []].append(partition)
            }
            var result: [TopicPartition: Int64] = [:]
            for (leader, partitions) in byLeader {
                let byTopic = Dictionary(grouping: partitions, by: \.topic)
                let response = try await client.send(to: leader) { _ in
                    DeleteRecordsRequest(
                        topics: byTopic.map { topic, partitions in
                            .init(name: topic, partitions: partitions.map { .init(partitionIndex: $0.partition, offset: offsets[$0]!) })
                        },
                        timeoutMs: timeout)
                }
                for topic in response.topics {
                    for partition in topic.partitions {
                        let tp = TopicPartition(topic.name, partition.partitionIndex)
                        guard partition.errorCode == .none else {
                            throw KafkaClientError.broker(partition.errorCode, "cannot delete records of \(tp)")
                        }
                        result[tp] = partition.lowWatermark
                    }
                }
            }
            return result
        }
    }

    /// Looks up offsets (earliest, latest, or by timestamp) of partitions.
    public func listOffsets(_ specs: [TopicPartition: OffsetSpec]) async throws -> [TopicPartition: ListedOffset] {
        try await self.client.listOffsets(specs)
    }

    // MARK: Cluster

    /// The cluster's ID, controller and brokers (DescribeCluster, or Metadata where a broker lacks it).
    public func describeCluster() async throws -> ClusterDescription {
        let client = self.client
        return try await retrying(client, "DescribeCluster") {
            do {
                let response = try await client.send(to: nil) { _ in DescribeClusterRequest() }
                guard response.errorCode == .none else {
                    throw KafkaClientError.broker(response.errorCode, "DescribeCluster", message: response.errorMessage)
                }
                return ClusterDescription(
                    clusterID: response.clusterID, controllerID: response.controllerID,
                    brokers: response.brokers.map { .init(id: $0.brokerID, host: $0.host, port: Int($0.port), rack: $0.rack) }
                        .sorted { $0.id < $1.id })
            } catch {
                guard (error as? KafkaClientError)?.code == .unsupportedVersion else { throw error }
                let metadata = try await client.refreshMetadata(topics: [], allowAutoCreate: false)
                return ClusterDescription(
                    clusterID: metadata.clusterID ?? "", controllerID: metadata.controllerID,
                    brokers: metadata.brokers.map { .init(id: $0.key, host: $0.value.host, port: $0.value.port, rack: nil) }
                        .sorted { $0.id < $1.id })
            }
        }
    }
}

/// A topic to create.
public struct NewTopic: Hashable, Sendable {
    public var name: TopicName
    /// The partition count, or `nil` for the broker's `num.partitions`.
    public var partitions: Int32?
    /// The replication factor, or `nil` for the broker's `default.replication.factor`.
    public var replicationFactor: Int16?
    /// Topic configuration entries (`retention.ms`, `cleanup.policy`, …).
    public var configs: [String: String]

    public init(name: TopicName, partitions: Int32? = nil, replicationFactor: Int16? = nil, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A resource with configuration: a topic or a broker.
public struct ConfigResource: Hashable, Sendable, CustomStringConvertible {
    public struct ResourceType: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int8
        public init(rawValue: Int8) { self.rawValue = rawValue }
        public static let topic = Self(rawValue: 2)
        public static let broker = Self(rawValue: 4)
    }

    public var type: ResourceType
    public var name: String

    public init(type: ResourceType, name: String) {
        self.type = type
        self.name = name
    }

    public static func topic(_ name: TopicName) -> Self { Self(type: .topic, name: name.rawValue) }
    public static func broker(_ id: BrokerID) -> Self { Self(type: .broker, name: "\(id.rawValue)") }

    public var description: String { self.type == .topic ? "topic '\(self.name)'" : "broker \(self.name)" }
}

/// One configuration entry as DescribeConfigs reports it.
public struct ConfigEntry: Hashable, Sendable {
    /// Where a value comes from (`ConfigSource` in Kafka's DescribeConfigs).
    public struct Source: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int8
        public init(rawValue: Int8) { self.rawValue = rawValue }
        public static let unknown = Self(rawValue: 0)
        public static let dynamicTopic = Self(rawValue: 1)
        public static let dynamicBroker = Self(rawValue: 2)
        public static let dynamicDefaultBroker = Self(rawValue: 3)
        public static let staticBroker = Self(rawValue: 4)
        public static let defaultConfig = Self(rawValue: 5)
        public static let dynamicBrokerLogger = Self(rawValue: 6)
        public static let clientMetrics = Self(rawValue: 7)
        public static let group = Self(rawValue: 8)

        public var description: String {
            switch self.rawValue {
            case 1: "topic"
            case 2: "dynamic-broker"
            case 3: "dynamic-default-broker"
            case 4: "static-broker"
            case 5: "default"
            case 6: "broker-logger"
            case 7: "client-metrics"
            case 8: "group"
            default: "unknown"
            }
        }
    }

    public var name: String
    public var value: String?
    public var source: Source
    public var isReadOnly: Bool
    public var isSensitive: Bool
    public var isDefault: Bool
}

/// One change for ``Admin/incrementalAlterConfigs(_:_:validateOnly:)``.
public struct ConfigOperation: Hashable, Sendable {
    public struct Kind: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int8
        public init(rawValue: Int8) { self.rawValue = rawValue }
        public static let set = Self(rawValue: 0)
        public static let delete = Self(rawValue: 1)
        public static let append = Self(rawValue: 2)
        public static let subtract = Self(rawValue: 3)
    }

    public var name: String
    public var kind: Kind
    public var value: String?

    /// Sets `name` to `value`.
    public static func set(_ name: String, _ value: String) -> Self { Self(name: name, kind: .set, value: value) }
    /// Removes `name`, so that it falls back to its default.
    public static func delete(_ name: String) -> Self { Self(name: name, kind: .delete, value: nil) }
    /// Adds `value` to the list `name`.
    public static func append(_ name: String, _ value: String) -> Self { Self(name: name, kind: .append, value: value) }
    /// Removes `value` from the list `name`.
    public static func subtract(_ name: String, _ value: String) -> Self {
        Self(name: name, kind: .subtract, value: value)
    }
}

/// The cluster as DescribeCluster reports it.
public struct ClusterDescription: Hashable, Sendable {
    public struct Broker: Hashable, Sendable {
        public var id: BrokerID
        public var host: String
        public var port: Int
        public var rack: String?
    }

    public var clusterID: String
    public var controllerID: BrokerID
    public var brokers: [Broker]
}
