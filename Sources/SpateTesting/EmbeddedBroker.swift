#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import ServiceLifecycle
public import SpateBroker
import SpateStorage

/// A real Spate broker running in this process, for tests: of Spate itself, and of Swift services that talk to
/// Kafka. It binds an ephemeral port on 127.0.0.1 and keeps its data in a fresh temporary directory, which is removed
/// afterwards.
///
/// ```swift
/// try await EmbeddedBroker.run { broker in
///     // point any Kafka client at broker.bootstrapServers
/// }
/// ```
public struct EmbeddedBroker: Sendable {
    /// The address the broker listens on.
    public let host: String
    public let port: Int
    /// The broker's data directory (removed when ``run(configure:logger:_:)`` returns).
    public let dataDirectory: String
    /// The configuration it runs with.
    public let configuration: BrokerConfiguration

    /// `host:port`, for a client's `bootstrap.servers`.
    public var bootstrapServers: String { "\(self.host):\(self.port)" }

    /// Starts a broker, runs `body` once it accepts connections (no polling: the broker reports its port), then
    /// shuts it down gracefully and removes its data directory.
    /// - Parameters:
    ///   - configure: Changes to the configuration (the listener and data directory are already set).
    ///   - logger: Where the broker logs; silent by default.
    public static func run<T: Sendable>(
        configure: (inout BrokerConfiguration) -> Void = { _ in },
        logger: Logger = Logger(label: "spate.embedded", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (EmbeddedBroker) async throws -> T
    ) async throws -> T {
        let directory = try Self.makeTemporaryDirectory()
        defer { try? PosixFileSystem().remove(directory) }
        var configuration = BrokerConfiguration()
        configuration.network.host = "127.0.0.1"
        configuration.network.port = 0
        configuration.storage.dataDirectory = directory
        configuration.storage.ioThreads = 2
        configure(&configuration)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let broker = Broker(configuration: configuration, logger: logger, onListening: { portContinuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [broker], logger: logger))
        let finalConfiguration = configuration
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { tasks in
            tasks.addTask {
                defer { portContinuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                try await tasks.waitForAll()
                throw EmbeddedBrokerError(message: "the broker stopped before it was listening")
            }
            let handle = EmbeddedBroker(
                host: finalConfiguration.network.host, port: port, dataDirectory: directory,
                configuration: finalConfiguration)
            let result: Result<T, any Error>
            do {
                result = .success(try await body(handle))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/spate-embedded-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw EmbeddedBrokerError(message: "cannot create a temporary directory (errno \(errno))")
        }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why an embedded broker could not run.
public struct EmbeddedBrokerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { self.message }
}
