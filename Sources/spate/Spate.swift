import ArgumentParser
import SpateBroker

@main
struct Spate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spate",
        abstract: "A Kafka-compatible event streaming platform.",
        discussion: """
            `spate serve` runs a broker that every Kafka client can use. With no options it is a single node with its \
            data in ./spate-data and a Kafka listener on 127.0.0.1:9092. The other subcommands are clients: they \
            reach the brokers given by --brokers (or SPATE_BROKERS; default 127.0.0.1:9092) and exit with 2 when no \
            broker can be reached, 3 for an unknown topic or group and 1 for other errors.

            Examples:
              spate serve
              spate topic create orders --partitions 3
              echo hello | spate produce orders
              spate consume orders --from beginning --count 1
              spate consume orders --group billing
              spate group describe billing
              spate cluster info
              spate bench produce --topic bench --records 100000
            """,
        version: Broker.version,
        subcommands: [Serve.self, Topic.self, Produce.self, Consume.self, Group.self, Cluster.self, Bench.self]
    )

    /// Lets `--brokers` (and the other client options) come before the subcommand: `spate --brokers b:9092 topic list`.
    @OptionGroup(visibility: .hidden) var client: ClientOptions
}
