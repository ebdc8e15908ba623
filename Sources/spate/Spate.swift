import ArgumentParser
import SpateBroker

@main
struct Spate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spate",
        abstract: "A Kafka-compatible event streaming platform.",
        discussion: """
            `spate serve` runs a broker that every Kafka client can use. With no options it is a single node with its \
            data in ./spate-data and a Kafka listener on 127.0.0.1:9092.
            """,
        version: Broker.version,
        subcommands: [Serve.self]
    )
}
