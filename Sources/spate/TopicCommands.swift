import ArgumentParser
import SpateClient
import SpateWire

struct Topic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, describe, configure and delete topics.",
        discussion: """
            Examples:
              spate topic create orders --partitions 6 --config retention.ms=86400000
              spate topic list
              spate topic describe orders
              spate topic alter-config orders --set cleanup.policy=compact --delete retention.ms
              spate topic add-partitions orders --total 12
              spate topic delete orders
            """,
        subcommands: [Create.self, List.self, Describe.self, AlterConfig.self, AddPartitions.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a topic.",
            discussion: """
                Without --partitions or --replication-factor the broker's defaults (num.partitions, \
                default.replication.factor) apply.

                Examples:
                  spate topic create orders
                  spate topic create orders --partitions 6 --replication-factor 1
                  spate topic create events --config cleanup.policy=compact --config retention.ms=-1
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The topic's name.") var name: String
        @Option(help: "The number of partitions.") var partitions: Int32?
        @Option(help: "The number of replicas of each partition.") var replicationFactor: Int16?
        @Option(
            name: .customLong("config"),
            help: ArgumentHelp("A topic setting (repeatable).", valueName: "key=value"))
        var configs: [String] = []

        func run() async throws {
            var entries: [String: String] = [:]
            for config in self.configs {
                let (key, value) = try parseKeyValue(config, option: "--config")
                entries[key] = value
            }
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                try await admin.createTopic(
                    NewTopic(
                        name: TopicName(self.name), partitions: self.partitions,
                        replicationFactor: self.replicationFactor, configs: entries))
                print("created topic \(self.name)")
            }
            await admin.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the topics with their partition counts.",
            discussion: """
                Examples:
                  spate topic list
                  spate topic list --internal
                  spate topic list --brokers broker1:9092
                """)

        @OptionGroup var client: ClientOptions
        @Flag(name: .customLong("internal"), help: "Include internal topics.") var includeInternal = false

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                let topics = try await admin.listTopics(includeInternal: self.includeInternal)
                var rows = [["NAME", "PARTITIONS", "REPLICAS"]]
                for topic in topics {
                    rows.append([
                        topic.name.rawValue, "\(topic.partitions.count)", "\(topic.partitions.first?.replicas.count ?? 0)",
                    ])
                }
                print(formatTable(rows))
            }
            await admin.close()
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a topic's partitions, offsets and non-default settings.",
            discussion: """
                Examples:
                  spate topic describe orders
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The topic's name.") var name: String

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                let topic = try await admin.describeTopic(TopicName(self.name))
                let partitions = topic.partitions.map { TopicPartition(topic.name, $0.partition) }
                let starts = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, .earliest) }))
                let ends = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, .latest) }))
                let configs = try await admin.describeConfigs(.topic(topic.name))
                print("NAME        \(topic.name)")
                print("TOPIC ID    \(topic.topicID)")
                print("PARTITIONS  \(topic.partitions.count)")
                if topic.isInternal { print("INTERNAL    true") }
                let overrides = configs.filter { $0.source == .dynamicTopic }
                print("")
                print("CONFIGS" + (overrides.isEmpty ? " (all defaults)" : ""))
                for entry in overrides {
                    print("  \(entry.name)=\(entry.isSensitive ? "(sensitive)" : entry.value ?? "null")")
                }
                print("")
                var rows = [["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK"]]
                for partition in topic.partitions {
                    let tp = TopicPartition(topic.name, partition.partition)
                    rows.append([
                        "\(partition.partition)", "\(partition.leader)", "\(partition.leaderEpoch)",
                        partition.replicas.map(\.description).joined(separator: ","),
                        partition.inSyncReplicas.map(\.description).joined(separator: ","),
                        starts[tp]?.offset.map(String.init) ?? "-", ends[tp]?.offset.map(String.init) ?? "-",
                    ])
                }
                print(formatTable(rows))
            }
            await admin.close()
        }
    }

    struct AlterConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alter-config",
            abstract: "Set or remove topic settings (the others stay as they are).",
            discussion: """
                A removed setting falls back to the broker's default.

                Examples:
                  spate topic alter-config orders --set retention.ms=3600000
                  spate topic alter-config orders --set cleanup.policy=compact --delete retention.bytes
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The topic's name.") var name: String
        @Option(name: .customLong("set"), help: ArgumentHelp("A setting to set (repeatable).", valueName: "key=value"))
        var sets: [String] = []
        @Option(name: .customLong("delete"), help: ArgumentHelp("A setting to remove (repeatable).", valueName: "key"))
        var deletes: [String] = []

        func validate() throws {
            guard !self.sets.isEmpty || !self.deletes.isEmpty else {
                throw ValidationError("give at least one --set key=value or --delete key")
            }
        }

        func run() async throws {
            var operations: [ConfigOperation] = []
            for entry in self.sets {
                let (key, value) = try parseKeyValue(entry, option: "--set")
                operations.append(.set(key, value))
            }
            operations += self.deletes.map { .delete($0) }
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                // Unknown topics are reported as such rather than as a config error.
                _ = try await admin.describeTopic(TopicName(self.name))
                try await admin.incrementalAlterConfigs(.topic(TopicName(self.name)), operations)
                print("altered topic \(self.name)")
            }
            await admin.close()
        }
    }

    struct AddPartitions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-partitions",
            abstract: "Raise a topic's partition count.",
            discussion: """
                Keys may map to different partitions afterwards.

                Examples:
                  spate topic add-partitions orders --total 12
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The topic's name.") var name: String
        @Option(help: "The partition count wanted (more than it has now).") var total: Int32

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                try await admin.createPartitions(TopicName(self.name), totalCount: self.total)
                print("topic \(self.name) now has \(self.total) partitions")
            }
            await admin.close()
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a topic and its records.",
            discussion: """
                Examples:
                  spate topic delete orders
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The topic's name.") var name: String

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                try await admin.deleteTopic(TopicName(self.name))
                print("deleted topic \(self.name)")
            }
            await admin.close()
        }
    }
}

struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the cluster.",
        discussion: """
            Examples:
              spate cluster info
              spate cluster info --brokers broker1:9092,broker2:9092
            """,
        subcommands: [Info.self]
    )

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster ID, the controller and the brokers.",
            discussion: """
                Examples:
                  spate cluster info
                """)

        @OptionGroup var client: ClientOptions

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                let cluster = try await admin.describeCluster()
                print("CLUSTER ID  \(cluster.clusterID)")
                print("CONTROLLER  \(cluster.controllerID)")
                print("")
                var rows = [["BROKER", "HOST", "PORT", "RACK"]]
                for broker in cluster.brokers {
                    rows.append(["\(broker.id)", broker.host, "\(broker.port)", broker.rack ?? "-"])
                }
                print(formatTable(rows))
            }
            await admin.close()
        }
    }
}
