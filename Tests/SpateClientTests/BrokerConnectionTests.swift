import Logging
import NIOCore
import NIOPosix
import SpateWire
import Testing

@testable import SpateClient

@Suite struct BrokerConnectionTests {
    /// The outcome of `future`, or a failure once `limit` has passed (the future may never complete: its result is
    /// then ignored).
    func outcome<T: Sendable>(of future: EventLoopFuture<T>, within limit: TimeAmount) async -> Result<T, any Error> {
        let first = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: first)
        let timer = future.eventLoop.scheduleTask(in: limit) { first.fail(TestFailure("no outcome within \(limit)")) }
        defer { timer.cancel() }
        do {
            return .success(try await first.futureResult.get())
        } catch {
            return .failure(error)
        }
    }

    /// A listener that closes every connection as soon as it accepts it, as a broker being killed may do.
    final class CloseOnAccept: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelActive(context: ChannelHandlerContext) { context.close(promise: nil) }
    }

    /// Connecting to a broker that closes the connection at once fails. The close usually wins the race with the
    /// ApiVersions request that `connect` writes first, and a request written after NIO tore the pipeline down was
    /// dropped, so `connect` waited forever (taking every later caller for that broker with it: `spate produce`
    /// reconnecting while its broker was killed hung that way; `spate topic list` against such a listener hung in
    /// 9 runs of 10, past its --client-timeout).
    @Test func connectingToABrokerThatClosesAtOnceFails() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CloseOnAccept())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let address = BrokerAddress(host: "127.0.0.1", port: try #require(server.localAddress?.port))
        let configuration = ClientConfiguration(bootstrapServers: [address])
        let logger = Logger(label: "spate.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        for attempt in 0..<20 {
            // Through a promise, so that a connect that never returns fails the test instead of hanging it.
            let connected = server.eventLoop.makePromise(of: BrokerConnection.self)
            connected.completeWithTask {
                try await BrokerConnection.connect(
                    to: address, configuration: configuration, group: MultiThreadedEventLoopGroup.singleton,
                    logger: logger)
            }
            let result = await self.outcome(of: connected.futureResult, within: .seconds(10))
            guard case .failure(let error) = result else {
                Issue.record("attempt \(attempt): connected to a listener that closes every connection")
                break
            }
            guard let clientError = error as? KafkaClientError else {
                Issue.record("attempt \(attempt): \(error)")
                break
            }
            #expect(clientError.code == .connectionClosed || clientError.code == .connectionFailed, "\(clientError)")
        }
        try await server.close()
    }

    /// A connection can close (the broker died) between the moment a caller finds it open and the moment its request
    /// reaches the channel. Once NIO has torn the pipeline down, the request never reaches the handler that tracks
    /// responses and timeouts: its response must still fail rather than never complete. (A Produce lost that way
    /// stayed in flight forever, so `spate produce` never retried its partition's failed batches and hung after a
    /// broker was killed.)
    @Test func requestWrittenAfterTheConnectionClosedFails() async throws {
        try await withClientBroker { _, configuration in
            let client = KafkaClient(configuration: configuration)
            let connection = try await client.anyConnection()
            let version = try connection.version(for: MetadataRequest.self)
            connection.close()
            // The close future completes once NIO has removed the channel's handlers.
            try await connection.channel.closeFuture.get()

            let future = try connection.start(MetadataRequest(topics: []), version: version, timeout: .seconds(60))
            let result = await self.outcome(of: future, within: .seconds(10))
            guard case .failure(let error) = result else {
                Issue.record("a request on a closed connection succeeded")
                return
            }
            let clientError = try #require(error as? KafkaClientError, "\(error)")
            #expect(clientError.code == .connectionClosed)
            await client.shutdown()
        }
    }
}
