import ArgumentParser

@main
struct Spate: ParsableCommand {
    static let version = "0.1.0-dev"

    static let configuration = CommandConfiguration(
        commandName: "spate",
        abstract: "A Kafka-compatible event streaming platform.",
        version: Spate.version
    )

    func run() throws {
        print("spate \(Spate.version)")
    }
}
