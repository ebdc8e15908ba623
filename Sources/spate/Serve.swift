import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import SpateBroker

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a broker.",
        discussion: """
            Settings use Kafka's broker property names and come from, in increasing precedence: a server.properties \
            file (--config), SPATE_* environment variables (SPATE_LOG_RETENTION_MS=60000 sets log.retention.ms), \
            --set key=value, and the flags below. An unknown or invalid setting stops start-up with a message that \
            names it. SIGTERM or SIGINT shuts down gracefully: no new connections, requests in flight answered, logs \
            flushed, checkpoints written.

            Examples:
              spate serve
              spate serve --data-dir /var/lib/spate --listener 0.0.0.0:9092 --advertised-listener broker1:9092
              spate serve --config server.properties --set num.partitions=6 --set log.retention.hours=24
            """
    )

    @Option(help: "A server.properties-style file of Kafka broker settings.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("A Kafka broker setting (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    @Option(help: "The data directory (log.dirs). Default: ./spate-data")
    var dataDir: String?

    @Option(help: ArgumentHelp("Where to listen for Kafka clients (listeners). Default: 127.0.0.1:9092", valueName: "host:port"))
    var listener: String?

    @Option(help: ArgumentHelp("The address clients are told to connect to (advertised.listeners).", valueName: "host:port"))
    var advertisedListener: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: self.logLevel) else {
            throw ValidationError("--log-level: \"\(self.logLevel)\" is not a log level")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "spate")
        let configuration: BrokerConfiguration
        do {
            configuration = try self.makeConfiguration(environment: ProcessInfo.processInfo.environment)
            try configuration.validate()
        } catch let error as ConfigurationError {
            throw ValidationError("\(error)")
        }
        let broker = Broker(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: broker, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }

    func makeConfiguration(environment: [String: String]) throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        if let path = self.config {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("--config", "cannot read \(path)")
            }
            for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
                guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                    throw ConfigurationError("\(path):\(number + 1)", "expected key=value")
                }
                try configuration.apply(
                    property: line[..<separator].trimmingCharacters(in: .whitespaces),
                    value: line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces))
            }
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key })
        where key.hasPrefix("SPATE_") && key != "SPATE_BROKERS" {
            let name = key.dropFirst("SPATE_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            do {
                try configuration.apply(property: name, value: value)
            } catch let error as ConfigurationError {
                throw ConfigurationError("\(key) (\(error.setting))", error.problem)
            }
        }
        for setting in self.settings {
            guard let eq = setting.firstIndex(of: "=") else {
                throw ConfigurationError("--set \(setting)", "expected key=value")
            }
            try configuration.apply(property: String(setting[..<eq]), value: String(setting[setting.index(after: eq)...]))
        }
        if let dataDir = self.dataDir { try configuration.apply(property: "log.dirs", value: dataDir) }
        if let listener = self.listener { try configuration.apply(property: "listeners", value: listener) }
        if let advertised = self.advertisedListener {
            try configuration.apply(property: "advertised.listeners", value: advertised)
        }
        return configuration
    }
}
