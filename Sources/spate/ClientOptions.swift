import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SpateClient
import SpateWire

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
        let text = self.brokers ?? getenv("SPATE_BROKERS").map { String(cString: $0) } ?? "127.0.0.1:9092"
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
    /// The topic, partition or group does not exist.
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
        case _ where error.kafkaErrorCode == .groupIDNotFound:
            exit = ClientExit.unknownTopic
        default:
            exit = ClientExit.failure
        }
        printError(message)
        throw exit
    }
}

func printError(_ message: String) {
    writeAll("spate: error: \(message)\n", to: 2)
}

// The `spate` executable does not link Foundation (the broker's idle memory; see Serve.swift): the little file and
// standard-stream I/O the client commands need is done with the C library.

/// Writes all of `text` to a file descriptor (1: standard output, 2: standard error), retrying short writes.
func writeAll(_ text: String, to descriptor: Int32) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
    }
    bytes.removeAll()
}

/// The whole content of a file, or nil when it cannot be opened or read.
func readWholeFile(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { return result }
        result += chunk[0..<count]
    }
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
            i == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - cell.count))
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
