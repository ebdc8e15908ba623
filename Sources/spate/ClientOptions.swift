import ArgumentParser
import Foundation
import SpateClient

/// Options every client subcommand shares; `--brokers` may also come before the subcommand (`spate --brokers …`).
struct ClientOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The brokers to bootstrap from. Default: $SPATE_BROKERS, else 127.0.0.1:9092.",
            valueName: "host:port[,host:port…]"))
    var brokers: String?

    @Option(
        help: ArgumentHelp(
            "How long to keep trying an unreachable broker or a partition without a leader before giving up.",
            valueName: "seconds"))
    var clientTimeout: Double = 10

    func makeConfiguration(clientID: String) throws -> ClientConfiguration {
        let text = self.brokers ?? ProcessInfo.processInfo.environment["SPATE_BROKERS"] ?? "127.0.0.1:9092"
        var configuration = ClientConfiguration()
        do {
            configuration.bootstrapServers = try BrokerAddress.parseList(text)
        } catch {
            throw ValidationError("--brokers: \(error)")
        }
        guard self.clientTimeout > 0 else { throw ValidationError("--client-timeout must be positive") }
        configuration.clientID = clientID
        configuration.operationTimeout = .milliseconds(Int64(self.clientTimeout * 1000))
        configuration.connectTimeout = min(configuration.connectTimeout, configuration.operationTimeout)
        configuration.requestTimeout = max(configuration.requestTimeout, .seconds(5))
        return configuration
    }
}

/// Exit codes of the client subcommands.
enum ClientExit {
    /// Something failed (a broker error, bad input, …).
    static let failure = ExitCode(1)
    /// No broker could be reached.
    static let unreachable = ExitCode(2)
    /// The topic or partition does not exist.
    static let unknownTopic = ExitCode(3)
}

/// Runs a client operation and turns ``KafkaClientError``s into a one-line message on stderr and an exit code.
func runClient(brokers: ClientOptions, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as KafkaClientError {
        let exit: ExitCode
        var message = error.message
        switch error.code {
        case .connectionFailed:
            exit = ClientExit.unreachable
            let list = (try? brokers.makeConfiguration(clientID: "spate-cli").bootstrapServers.map(\.description))?
                .joined(separator: ",") ?? "?"
            message = "cannot reach the broker(s) at \(list): \(error.message)\n"
                + "Is a broker running (spate serve)? Point to it with --brokers HOST:PORT or SPATE_BROKERS."
        case .unknownTopic:
            exit = ClientExit.unknownTopic
        default:
            exit = ClientExit.failure
        }
        printError(message)
        throw exit
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("spate: error: \(message)\n".utf8))
}

/// Parses `key=value`.
func parseKeyValue(_ text: String, option: String) throws -> (String, String) {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
        throw ValidationError("\(option) expects key=value, got '\(text)'")
    }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}

/// Left-aligned columns for tables.
func formatTable(_ rows: [[String]]) -> String {
    guard let width = rows.map(\.count).max() else { return "" }
    var widths = Array(repeating: 0, count: width)
    for row in rows {
        for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    return rows.map { row in
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
