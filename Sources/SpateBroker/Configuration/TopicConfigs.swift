import SpateRecords
public import SpateStorage

/// A topic's effective settings: its log configuration plus what the broker applies on produce.
public struct TopicSettings: Sendable, Hashable {
    public var log: LogConfig
    /// `message.timestamp.type`: LogAppendTime makes the broker stamp its own time on every batch.
    public var logAppendTime: Bool
    /// `compression.type`; `producer` keeps what the producer sent.
    public var compressionType: String
    /// `min.insync.replicas`.
    public var minInsyncReplicas: Int32
}

/// One topic-level setting Spate supports: Kafka's name, the broker setting that supplies its default, how to
/// check and apply a value.
struct TopicConfigDefinition: Sendable {
    enum Kind: String, Sendable { case long, int, double, string, list, boolean }

    let name: String
    let brokerSynonym: String
    let kind: Kind
    /// The default as Kafka prints it, from the broker's settings.
    let defaultValue: @Sendable (BrokerConfiguration) -> String
    /// Parses `value` into `settings`; throws a `ConfigurationError` naming the setting.
    let apply: @Sendable (inout TopicSettings, String) throws -> Void
}

enum TopicConfigs {
    static func long(_ name: String, _ value: String, min: Int64 = Int64.min) throws -> Int64 {
        guard let number = Int64(value.trimmingSpaces), number >= min else {
            throw ConfigurationError(name, "\"\(value)\" is not a whole number of at least \(min)")
        }
        return number
    }

    static func bool(_ name: String, _ value: String) throws -> Bool {
        switch value.trimmingSpaces.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ConfigurationError(name, "\"\(value)\" is not true or false")
        }
    }

    static func milliseconds(_ name: String, _ value: String, allowNone: Bool) throws -> Duration? {
        let number = try long(name, value, min: allowNone ? -1 : 0)
        return number < 0 ? nil : .milliseconds(number)
    }

    /// Every topic setting Spate supports, in name order.
    static let all: [TopicConfigDefinition] = [
        .init(
            name: "cleanup.policy", brokerSynonym: "log.cleanup.policy", kind: .list,
            defaultValue: { policy($0.storage.logDefaults.cleanupPolicy) },
            apply: { settings, value in
                var policy = LogConfig.CleanupPolicy()
                for part in value.split(separator: ",").map({ $0.trimmingSpaces }) {
                    switch part {
                    case "delete": policy.insert(.delete)
                    case "compact": policy.insert(.compact)
                    default: throw ConfigurationError("cleanup.policy", "\"\(part)\" is not delete or compact")
                    }
                }
                guard !policy.isEmpty else { throw ConfigurationError("cleanup.policy", "must name delete and/or compact") }
                settings.log.cleanupPolicy = policy
            }),
        .init(
            name: "compression.type", brokerSynonym: "compression.type", kind: .string, defaultValue: { _ in "producer" },
            apply: { settings, value in
                guard value == "producer" || value == "uncompressed" || CompressionType(name: value) != nil else {
                    throw ConfigurationError(
                        "compression.type", "\"\(value)\" is not producer, uncompressed, none, gzip, snappy, lz4 or zstd")
                }
                settings.compressionType = value
            }),
        .init(
            name: "delete.retention.ms", brokerSynonym: "log.cleaner.delete.retention.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.deleteRetention.inMilliseconds) },
            apply: { $0.log.deleteRetention = try milliseconds("delete.retention.ms", $1, allowNone: false)! }),
        .init(
            name: "file.delete.delay.ms", brokerSynonym: "log.segment.delete.delay.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.fileDeleteDelay.inMilliseconds) },
            apply: { $0.log.fileDeleteDelay = try milliseconds("file.delete.delay.ms", $1, allowNone: false)! }),
        .init(
            name: "flush.messages", brokerSynonym: "log.flush.interval.messages", kind: .long,
            defaultValue: { String($0.storage.logDefaults.flushMessages ?? Int64.max) },
            apply: { settings, value in
                let number = try long("flush.messages", value, min: 1)
                settings.log.flushMessages = number == Int64.max ? nil : number
            }),
        .init(
            name: "flush.ms", brokerSynonym: "log.flush.interval.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.flushInterval?.inMilliseconds ?? Int64.max) },
            apply: { settings, value in
                let number = try long("flush.ms", value, min: 0)
                settings.log.flushInterval = number == Int64.max ? nil : .milliseconds(number)
            }),
        .init(
            name: "index.interval.bytes", brokerSynonym: "log.index.interval.bytes", kind: .int,
            defaultValue: { String($0.storage.logDefaults.indexIntervalBytes) },
            apply: { $0.log.indexIntervalBytes = Int(try long("index.interval.bytes", $1, min: 0)) }),
        .init(
            name: "max.message.bytes", brokerSynonym: "message.max.bytes", kind: .int,
            defaultValue: { String($0.storage.logDefaults.maxMessageBytes) },
            apply: { $0.log.maxMessageBytes = Int(try long("max.message.bytes", $1, min: 0)) }),
        .init(
            name: "message.timestamp.type", brokerSynonym: "log.message.timestamp.type", kind: .string,
            defaultValue: { $0.storage.logAppendTime ? "LogAppendTime" : "CreateTime" },
            apply: { settings, value in
                switch value {
                case "CreateTime": settings.logAppendTime = false
                case "LogAppendTime": settings.logAppendTime = true
                default: throw ConfigurationError("message.timestamp.type", "\"\(value)\" is not CreateTime or LogAppendTime")
                }
            }),
        .init(
            name: "min.cleanable.dirty.ratio", brokerSynonym: "log.cleaner.min.cleanable.ratio", kind: .double,
            defaultValue: { String($0.storage.logDefaults.minCleanableDirtyRatio) },
            apply: { settings, value in
                guard let ratio = Double(value.trimmingSpaces), (0...1).contains(ratio) else {
                    throw ConfigurationError("min.cleanable.dirty.ratio", "\"\(value)\" is not a number between 0 and 1")
                }
                settings.log.minCleanableDirtyRatio = ratio
            }),
        .init(
            name: "min.compaction.lag.ms", brokerSynonym: "log.cleaner.min.compaction.lag.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.minCompactionLag.inMilliseconds) },
            apply: { $0.log.minCompactionLag = try milliseconds("min.compaction.lag.ms", $1, allowNone: false)! }),
        .init(
            name: "min.insync.replicas", brokerSynonym: "min.insync.replicas", kind: .int, defaultValue: { _ in "1" },
            apply: { $0.minInsyncReplicas = Int32(try long("min.insync.replicas", $1, min: 1)) }),
        .init(
            name: "preallocate", brokerSynonym: "log.preallocate", kind: .boolean,
            defaultValue: { String($0.storage.logDefaults.preallocate) },
            apply: { $0.log.preallocate = try bool("preallocate", $1) }),
        .init(
            name: "retention.bytes", brokerSynonym: "log.retention.bytes", kind: .long,
            defaultValue: { String($0.storage.logDefaults.retentionBytes ?? -1) },
            apply: { settings, value in
                let number = try long("retention.bytes", value, min: -1)
                settings.log.retentionBytes = number < 0 ? nil : number
            }),
        .init(
            name: "retention.ms", brokerSynonym: "log.retention.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.retentionTime?.inMilliseconds ?? -1) },
            apply: { $0.log.retentionTime = try milliseconds("retention.ms", $1, allowNone: true) }),
        .init(
            name: "segment.bytes", brokerSynonym: "log.segment.bytes", kind: .int,
            defaultValue: { String($0.storage.logDefaults.segmentBytes) },
            apply: { settings, value in
                let number = try long("segment.bytes", value, min: 14)
                guard number <= Int64(Int32.max) else { throw ConfigurationError("segment.bytes", "must fit an int") }
                settings.log.segmentBytes = number
            }),
        .init(
            name: "segment.index.bytes", brokerSynonym: "log.index.size.max.bytes", kind: .int,
            defaultValue: { String($0.storage.logDefaults.segmentIndexBytes) },
            apply: { $0.log.segmentIndexBytes = Int(try long("segment.index.bytes", $1, min: 8)) }),
        .init(
            name: "segment.ms", brokerSynonym: "log.roll.ms", kind: .long,
            defaultValue: { String($0.storage.logDefaults.segmentTime.inMilliseconds) },
            apply: { $0.log.segmentTime = try milliseconds("segment.ms", $1, allowNone: false)! }),
    ]

    static let byName: [String: TopicConfigDefinition] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static func policy(_ policy: LogConfig.CleanupPolicy) -> String {
        [policy.contains(.delete) ? "delete" : nil, policy.contains(.compact) ? "compact" : nil]
            .compactMap { $0 }.joined(separator: ",")
    }

    /// The broker-wide defaults, before any topic override.
    static func defaults(_ broker: BrokerConfiguration) -> TopicSettings {
        TopicSettings(
            log: broker.storage.logDefaults, logAppendTime: broker.storage.logAppendTime, compressionType: "producer",
            minInsyncReplicas: 1)
    }

    /// Applies topic overrides to the broker defaults. Unknown names and invalid values throw, naming the setting.
    static func settings(overrides: [String: String], broker: BrokerConfiguration) throws -> TopicSettings {
        var settings = Self.defaults(broker)
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) {
            guard let definition = Self.byName[name] else {
                throw ConfigurationError(name, "unknown topic configuration")
            }
            try definition.apply(&settings, value)
        }
        try settings.log.validate()
        return settings
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
