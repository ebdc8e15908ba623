import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals
import SpateBroker

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
            configuration = try self.makeConfiguration(environment: processEnvironment())
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
            guard let text = readTextFile(path) else {
                throw ConfigurationError("--config", "cannot read \(path)")
            }
            for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.trimmingBlanks
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
                guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                    throw ConfigurationError("\(path):\(number + 1)", "expected key=value")
                }
                try configuration.apply(
                    property: line[..<separator].trimmingBlanks, value: line[line.index(after: separator)...].trimmingBlanks)
            }
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key })
        where key.hasPrefix("SPATE_") && key != "SPATE_BROKERS" {
            let name = String(key.dropFirst("SPATE_".count).lowercased().map { $0 == "_" ? "." : $0 })
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

// The broker executable does not link Foundation (issue 4: idle RSS; Foundation and its ICU libraries were ~6 MB of
// the idle broker's resident memory): the few things `serve` needed from it are below.

/// The process environment (what `ProcessInfo.processInfo.environment` gives).
func processEnvironment() -> [String: String] {
    var environment: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if let eq = text.firstIndex(of: "=") {
            environment[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        entry += 1
    }
    return environment
}

/// The contents of a UTF-8 text file, or nil if it cannot be read or is not valid UTF-8.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        bytes += chunk[..<count]
        if count < chunk.count { break }
    }
    guard ferror(file) == 0 else { return nil }
    return String(validating: bytes, as: UTF8.self)
}

extension StringProtocol {
    /// Without leading and trailing blanks: tabs and Unicode space separators (Foundation's `.whitespaces`).
    var trimmingBlanks: String {
        func isBlank(_ character: Character) -> Bool {
            character == "\t" || (character.isWhitespace && !character.isNewline)
        }
        guard let first = self.firstIndex(where: { !isBlank($0) }) else { return "" }
        let last = self.lastIndex(where: { !isBlank($0) })!
        return String(self[first...last])
    }
}
