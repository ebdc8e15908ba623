import NIOCore
import NIOPosix
import SpateWire
import Synchronization

/// A minimal Kafka client for tests: one connection, one request at a time, typed requests and responses.
///
/// `send` writes a request frame (`encodeFrame`) and returns the decoded response; responses arrive in request order
/// on a connection, so each is matched to the oldest outstanding request and its correlation ID is checked.
final class TestClient: Sendable {
    let channel: any Channel
    let clientID: String?
    private let correlation = CorrelationCounter()

    private init(channel: any Channel, clientID: String?) {
        self.channel = channel
        self.clientID = clientID
    }

    /// Connects to `host:port`.
    static func connect(
        host: String = "127.0.0.1",
        port: Int,
        clientID: String? = "spate-tests",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TestClient {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(TestFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(ResponseMatcher())
                }
            }
            .connect(host: host, port: port).get()
        return TestClient(channel: channel, clientID: clientID)
    }

    /// Sends `request` at `version` and waits for its response.
    func send<Request: KafkaRequest>(_ request: Request, version: Int16) async throws -> Request.Response {
        let frame = try await self.sendRaw(request, version: version)
        let (correlationID, body) = try Request.Response.decodeFrame(frame.response, version: version)
        guard correlationID == frame.correlationID else {
            throw TestClientError("response correlation ID \(correlationID), expected \(frame.correlationID)")
        }
        return body
    }

    /// Sends a type-erased request at `version` and decodes the response for its API.
    func send(any request: AnyRequest, version: Int16) async throws -> AnyResponse {
        let correlationID = self.correlation.next()
        var buffer = self.channel.allocator.buffer(capacity: 256)
        try RequestFrame(
            header: RequestHeader(
                apiKey: request.apiKey,
                apiVersion: version,
                correlationID: correlationID,
                clientID: self.clientID
            ),
            body: request
        ).encode(into: &buffer)
        let promise = self.channel.eventLoop.makePromise(of: ByteBuffer.self)
        self.channel.writeAndFlush(OutboundRequest(frame: buffer, response: promise), promise: nil)
        var frame = try await promise.futureResult.get()
        let header = try ResponseHeader(
            from: &frame,
            headerVersion: request.apiKey.responseHeaderVersion(for: version)
        )
        guard header.correlationID == correlationID else {
            throw TestClientError("response correlation ID \(header.correlationID), expected \(correlationID)")
        }
        return try AnyResponse.decode(apiKey: request.apiKey, version: version, from: frame)
    }

    /// Sends `request` and returns the raw response frame (without its size prefix).
    func sendRaw<Request: KafkaRequest>(
        _ request: Request,
        version: Int16
    ) async throws -> (correlationID: Int32, response: ByteBuffer) {
        let started = try self.start(request, version: version)
        return (started.correlationID, try await started.response.get())
    }

    /// Writes `request` at once and returns its raw response frame's future, so that a test can send more requests
    /// before reading responses (pipelining).
    func start<Request: KafkaRequest>(
        _ request: Request,
        version: Int16
    ) throws -> (correlationID: Int32, response: EventLoopFuture<ByteBuffer>) {
        let correlationID = self.correlation.next()
        var buffer = self.channel.allocator.buffer(capacity: 256)
        try request.encodeFrame(into: &buffer, version: version, correlationID: correlationID, clientID: self.clientID)
        return (correlationID, self.startRaw(frame: buffer))
    }

    /// Writes a whole frame (size prefix included) and returns the future of the response it expects.
    func startRaw(frame: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        let promise = self.channel.eventLoop.makePromise(of: ByteBuffer.self)
        self.channel.writeAndFlush(OutboundRequest(frame: frame, response: promise), promise: nil)
        return promise.futureResult
    }

    /// Writes a request that gets no response (Produce with acks=0).
    func sendWithoutResponse<Request: KafkaRequest>(_ request: Request, version: Int16) throws {
        var buffer = self.channel.allocator.buffer(capacity: 256)
        try request.encodeFrame(
            into: &buffer, version: version, correlationID: self.correlation.next(), clientID: self.clientID)
        self.channel.writeAndFlush(OutboundRequest(frame: buffer, response: nil), promise: nil)
    }

    func close() async throws {
        try await self.channel.close()
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A request frame and the promise its response completes (nil: no response is due).
struct OutboundRequest: Sendable {
    var frame: ByteBuffer
    var response: EventLoopPromise<ByteBuffer>?
}

/// Splits the inbound byte stream into response frames.
struct TestFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let splitter = FrameSplitter()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try self.splitter.nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}

/// Matches response frames to requests in order; fails the outstanding requests when the connection ends.
final class ResponseMatcher: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    private var pending: [EventLoopPromise<ByteBuffer>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let response = request.response { self.pending.append(response) }
        context.write(Self.wrapOutboundOut(request.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard !self.pending.isEmpty else {
            context.fireErrorCaught(TestClientError("a response arrived with no request outstanding"))
            return
        }
        self.pending.removeFirst().succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(TestClientError("the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        let pending = self.pending
        self.pending = []
        for promise in pending { promise.fail(error) }
    }
}

/// Hands out correlation IDs.
final class CorrelationCounter: Sendable {
    private let value = Mutex<Int32>(0)
    func next() -> Int32 {
        self.value.withLock { value in
            value &+= 1
            return value
        }
    }
}
