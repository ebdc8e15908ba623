import SpateCoordinators
import SpateStorage

/// Configs as DescribeConfigs and CreateTopics report them, with Kafka's sources, synonyms and types.
enum DescribedConfigs {
    /// Kafka's ConfigSource.
    enum Source: Int8 {
        case dynamicTopic = 1
        case staticBroker = 4
        case `default` = 5
    }

    /// Kafka's ConfigType (DescribeConfigs v3+).
    enum ConfigType: Int8 {
        case boolean = 1, string = 2, int = 3, short = 4, long = 5, double = 6, list = 7, `class` = 8, password = 9
    }

    struct Synonym: Hashable {
        var name: String
        var value: String?
        var source: Source
    }

    struct Entry: Hashable {
        var name: String
        var value: String?
        var readOnly: Bool
        var source: Source
        var type: ConfigType
        /// The value's origins, most specific first (the entry's own source first).
        var synonyms: [Synonym]
    }

    /// Every topic config Spate supports, with the topic's override, else the broker's value for it.
    static func topicConfigs(of topic: TopicMetadata, broker: BrokerState) -> [Entry] {
        let pristine = BrokerConfiguration()
        return TopicConfigs.all.map { definition in
            let brokerValue = definition.defaultValue(broker.configuration)
            // Spate does not record which properties the file set: a broker value that differs from Kafka's default
            // must have been set, one that equals it is reported as the default.
            let brokerSource: Source = brokerValue == definition.defaultValue(pristine) ? .default : .staticBroker
            var brokerSynonyms = [Synonym(name: definition.brokerSynonym, value: brokerValue, source: brokerSource)]
            if brokerSource == .staticBroker {
                brokerSynonyms.append(
                    Synonym(name: definition.brokerSynonym, value: definition.defaultValue(pristine), source: .default)
                )
            }
            if let value = topic.configs[definition.name] {
                return Entry(
                    name: definition.name,
                    value: value,
                    readOnly: false,
                    source: .dynamicTopic,
                    type: definition.kind.configType,
                    synonyms: [Synonym(name: definition.name, value: value, source: .dynamicTopic)] + brokerSynonyms
                )
            }
            return Entry(
                name: definition.name,
                value: brokerValue,
                readOnly: false,
                source: brokerSource,
                type: definition.kind.configType,
                synonyms: brokerSynonyms
            )
        }
    }

    /// The broker properties Spate reads, with their values. All are read-only: Spate has no dynamic broker configs.
    static func brokerConfigs(_ broker: BrokerState) -> [Entry] {
        let configuration = broker.configuration
        let pristine = BrokerConfiguration()
        func listener(_ host: String?, _ port: Int?) -> String? {
            guard let host, let port else { return nil }
            return "PLAINTEXT://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
        let properties: [(String, ConfigType, (BrokerConfiguration) -> String?)] = [
            ("node.id", .int, { String($0.nodeID) }),
            ("broker.id", .int, { String($0.nodeID) }),
            ("listeners", .list, { listener($0.network.host, $0.network.port) }),
            ("advertised.listeners", .list, { listener($0.network.advertisedHost, $0.network.advertisedPort) }),
            ("log.dirs", .string, { $0.storage.dataDirectory }),
            ("socket.request.max.bytes", .int, { String($0.network.socketRequestMaxBytes) }),
            ("connections.max.idle.ms", .long, { String($0.network.connectionsMaxIdle.inMilliseconds) }),
            (
                "max.incremental.fetch.session.cache.slots", .int,
                { String($0.network.maxIncrementalFetchSessionCacheSlots) }
            ),
            ("auto.create.topics.enable", .boolean, { String($0.topics.autoCreateTopicsEnable) }),
            ("num.partitions", .int, { String($0.topics.numPartitions) }),
            ("default.replication.factor", .short, { String($0.topics.defaultReplicationFactor) }),
            ("delete.topic.enable", .boolean, { String($0.topics.deleteTopicEnable) }),
            ("num.io.threads", .int, { String($0.storage.ioThreads) }),
            ("log.retention.check.interval.ms", .long, { String($0.storage.retentionCheckInterval.inMilliseconds) }),
            ("offsets.topic.num.partitions", .int, { String($0.groups.offsetsTopicPartitions) }),
            ("offsets.retention.minutes", .int, { String($0.groups.offsetsRetentionMs / 60_000) }),
            ("offsets.retention.check.interval.ms", .long, { String($0.offsetsRetentionCheckInterval.inMilliseconds) }),
            ("offset.metadata.max.bytes", .int, { String($0.groups.offsetMetadataMaxBytes) }),
            ("group.min.session.timeout.ms", .int, { String($0.groups.minSessionTimeoutMs) }),
            ("group.max.session.timeout.ms", .int, { String($0.groups.maxSessionTimeoutMs) }),
            ("group.initial.rebalance.delay.ms", .int, { String($0.groups.initialRebalanceDelayMs) }),
            ("group.max.size", .int, { String($0.groups.maxSize) }),
            ("group.consumer.session.timeout.ms", .int, { String($0.groups.consumerSessionTimeoutMs) }),
            ("group.consumer.heartbeat.interval.ms", .int, { String($0.groups.consumerHeartbeatIntervalMs) }),
            ("group.consumer.max.size", .int, { String($0.groups.consumerMaxSize) }),
            ("group.consumer.assignors", .list, { $0.groups.consumerAssignors.joined(separator: ",") }),
        ]
        var entries = properties.map { name, type, value in
            let current = value(configuration)
            let source: Source = current == value(pristine) ? .default : .staticBroker
            return Entry(
                name: name,
                value: current,
                readOnly: true,
                source: source,
                type: type,
                synonyms: [Synonym(name: name, value: current, source: source)]
            )
        }
        for definition in TopicConfigs.all where !entries.contains(where: { $0.name == definition.brokerSynonym }) {
            let current = definition.defaultValue(configuration)
            let source: Source = current == definition.defaultValue(pristine) ? .default : .staticBroker
            entries.append(
                Entry(
                    name: definition.brokerSynonym,
                    value: current,
                    readOnly: true,
                    source: source,
                    type: definition.kind.configType,
                    synonyms: [Synonym(name: definition.brokerSynonym, value: current, source: source)]
                )
            )
        }
        return entries.sorted { $0.name < $1.name }
    }
}

extension TopicConfigDefinition.Kind {
    var configType: DescribedConfigs.ConfigType {
        switch self {
        case .long: .long
        case .int: .int
        case .double: .double
        case .string: .string
        case .list: .list
        case .boolean: .boolean
        }
    }
}
