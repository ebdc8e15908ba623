/// A broker address: host and port.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (`[v6addr]:PORT` for IPv6 literals); a missing port means 9092.
    public init?(_ text: Substring) {
        let text = text.trimmingSpaces
        guard !text.isEmpty else { return nil }
        var host = Substring(text)
        var port = 9092
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            guard let p = Int(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// Parses a comma-separated list `HOST:PORT[,HOST:PORT…]`.
    /// - Throws: ``KafkaClientError/Code/invalidArgument`` for an empty list or an entry that is not `HOST:PORT`.
    public static func parseList(_ text: String) throws -> [BrokerAddress] {
        var result: [BrokerAddress] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let address = BrokerAddress(part) else {
                throw KafkaClientError(.invalidArgument, "'\(part)' is not a broker address of the form HOST:PORT")
            }
            result.append(address)
        }
        guard !result.isEmpty else {
            throw KafkaClientError(.invalidArgument, "no broker address given (expected HOST:PORT[,HOST:PORT…])")
        }
        return result
    }

    public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

/// How a ``KafkaClient`` connects to the cluster.
public struct ClientConfiguration: Sendable {
    /// The brokers to bootstrap from (bootstrap.servers). Defaults to `127.0.0.1:9092`.
    public var bootstrapServers: [BrokerAddress] = [BrokerAddress(host: "127.0.0.1", port: 9092)]
    /// The client ID sent in every request header (client.id). Defaults to `spate-client`.
    public var clientID: String = "spate-client"
    /// How long to wait for a TCP connection (socket.connection.setup.timeout.ms). Defaults to 10 seconds.
    public var connectTimeout: Duration = .seconds(10)
    /// How long to wait for a response before the request fails and the connection is closed (request.timeout.ms).
    /// Defaults to 30 seconds.
    public var requestTimeout: Duration = .seconds(30)
    /// The first wait before reconnecting to a broker that failed (reconnect.backoff.ms). Defaults to 50 ms.
    public var reconnectBackoff: Duration = .milliseconds(50)
    /// The longest wait between reconnection attempts; the wait doubles up to it (reconnect.backoff.max.ms).
    /// Defaults to 1 second.
    public var reconnectBackoffMax: Duration = .seconds(1)
    /// The wait before retrying an operation that failed with a retriable error (retry.backoff.ms). Defaults to 100 ms.
    public var retryBackoff: Duration = .milliseconds(100)
    /// How long metadata is trusted before it is refreshed (metadata.max.age.ms). Defaults to 5 minutes.
    public var metadataMaxAge: Duration = .seconds(300)
    /// How long an operation may keep retrying retriable failures (no connection, no leader, …) before it fails;
    /// the bound behind "broker unreachable" errors (default.api.timeout.ms). Defaults to 60 seconds.
    public var operationTimeout: Duration = .seconds(60)
    /// Whether a metadata request may create a topic that does not exist, where the broker allows that
    /// (allow.auto.create.topics). Defaults to `true`.
    public var allowAutoTopicCreation: Bool = true
    /// The largest response frame accepted, in bytes. Defaults to 100 MiB.
    public var maxResponseSize: Int = 104_857_600

    public init() {}

    public init(bootstrapServers: [BrokerAddress]) {
        self.bootstrapServers = bootstrapServers
    }

    /// Checks the settings.
    /// - Throws: ``KafkaClientError`` with ``KafkaClientError/Code/invalidArgument``.
    public func validate() throws {
        guard !self.bootstrapServers.isEmpty else {
            throw KafkaClientError(.invalidArgument, "bootstrapServers is empty")
        }
        guard self.requestTimeout > .zero, self.connectTimeout > .zero, self.operationTimeout > .zero else {
            throw KafkaClientError(.invalidArgument, "timeouts must be positive")
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, clamped to `Int32` (for protocol fields).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }

    var int32Milliseconds: Int32 { Int32(clamping: self.milliseconds) }
}
