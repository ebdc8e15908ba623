import SpateCoordinators
import SpateStorage

extension BrokerConfiguration {
    /// Applies one Kafka broker property (`server.properties` name). Unknown names and bad values throw a
    /// ``ConfigurationError`` naming the property.
    public mutating func apply(property name: String, value rawValue: String) throws {
        let value = rawValue.trimmingSpaces
        func bool() throws -> Bool { try TopicConfigs.bool(name, value) }
        func integer(min: Int64 = Int64.min) throws -> Int64 {
            guard let number = Int64(value), number >= min else {
                throw ConfigurationError(name, "\"\(value)\" is not a whole number of at least \(min)")
            }
            return number
        }
        switch name {
        case "node.id", "broker.id":
            self.nodeID = Int32(clamping: try integer(min: 0))
        case "listeners":
            (self.network.host, self.network.port) = try Self.parseListener(value, property: name)
        case "advertised.listeners":
            let (host, port) = try Self.parseListener(value, property: name)
            self.network.advertisedHost = host
            self.network.advertisedPort = port
        case "log.dirs", "log.dir":
            guard !value.isEmpty, !value.contains(",") else {
                throw ConfigurationError(name, "give exactly one directory (several log directories are not supported)")
            }
            self.storage.dataDirectory = value
        case "socket.request.max.bytes":
            self.network.socketRequestMaxBytes = Int(try integer(min: 1))
        case "connections.max.idle.ms":
            self.network.connectionsMaxIdle = .milliseconds(try integer(min: 1))
        case "max.incremental.fetch.session.cache.slots":
            self.network.maxIncrementalFetchSessionCacheSlots = Int(clamping: try integer(min: 0))
        case "auto.create.topics.enable":
            self.topics.autoCreateTopicsEnable = try bool()
        case "num.partitions":
            self.topics.numPartitions = Int32(clamping: try integer(min: 1))
        case "default.replication.factor":
            self.topics.defaultReplicationFactor = Int16(clamping: try integer(min: 1))
        case "delete.topic.enable":
            self.topics.deleteTopicEnable = try bool()
        case "num.io.threads":
            self.storage.ioThreads = Int(try integer(min: 1))
        case "log.retention.check.interval.ms":
            self.storage.retentionCheckInterval = .milliseconds(try integer(min: 1))
        case "log.retention.hours":
            self.storage.logDefaults.retentionTime = .seconds(try integer(min: 0) * 3600)
        case "log.retention.minutes":
            self.storage.logDefaults.retentionTime = .seconds(try integer(min: 0) * 60)
        case "producer.id.expiration.ms":
            self.transactions.producerIDExpiration = .milliseconds(try integer(min: 1))
        case "offsets.topic.num.partitions":
            self.groups.offsetsTopicPartitions = Int32(clamping: try integer(min: 1))
        case "offsets.retention.minutes":
            self.groups.offsetsRetentionMs = try integer(min: 1) * 60_000
        case "offsets.retention.check.interval.ms":
            self.offsetsRetentionCheckInterval = .milliseconds(try integer(min: 1))
        case "offset.metadata.max.bytes":
            self.groups.offsetMetadataMaxBytes = Int(clamping: try integer(min: 0))
        case "group.min.session.timeout.ms":
            self.groups.minSessionTimeoutMs = Int32(clamping: try integer(min: 1))
        case "group.max.session.timeout.ms":
            self.groups.maxSessionTimeoutMs = Int32(clamping: try integer(min: 1))
        case "group.initial.rebalance.delay.ms":
            self.groups.initialRebalanceDelayMs = Int32(clamping: try integer(min: 0))
        case "group.max.size":
            self.groups.maxSize = Int(clamping: try integer(min: 1))
        case "group.consumer.session.timeout.ms":
            self.groups.consumerSessionTimeoutMs = Int32(clamping: try integer(min: 1))
        case "group.consumer.heartbeat.interval.ms":
            self.groups.consumerHeartbeatIntervalMs = Int32(clamping: try integer(min: 1))
        case "group.consumer.max.size":
            self.groups.consumerMaxSize = Int(clamping: try integer(min: 1))
        case "group.consumer.assignors":
            let names = value.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            for assignor in names where !["uniform", "range"].contains(assignor) {
                throw ConfigurationError(name, "unknown assignor \"\(assignor)\" (uniform and range are built in)")
            }
            guard !names.isEmpty else { throw ConfigurationError(name, "name at least one assignor") }
            self.groups.consumerAssignors = names
        case "log.roll.hours":
            self.storage.logDefaults.segmentTime = .seconds(try integer(min: 1) * 3600)
        default:
            // Broker defaults of topic settings (log.retention.ms, log.segment.bytes, message.max.bytes, …).
            guard let definition = TopicConfigs.all.first(where: { $0.brokerSynonym == name }) else {
                throw ConfigurationError(name, "unknown setting")
            }
            var settings = TopicConfigs.defaults(self)
            try definition.apply(&settings, value)
            self.storage.logDefaults = settings.log
            self.storage.logAppendTime = settings.logAppendTime
        }
    }

    /// `HOST:PORT` or `PLAINTEXT://HOST:PORT` (one listener).
    static func parseListener(_ value: String, property: String) throws -> (String, Int) {
        var text = Substring(value)
        if let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") {
            guard text[..<colon] == "PLAINTEXT" else {
                throw ConfigurationError(property, "only a PLAINTEXT listener is supported")
            }
            text = text[text.index(colon, offsetBy: 3)...]
        }
        guard !text.contains(","), let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port)
        else {
            throw ConfigurationError(property, "\"\(value)\" is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
