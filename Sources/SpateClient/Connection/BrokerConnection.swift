#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import NIOPosix
import SpateWire
import Synchronization

/// One TCP connection to a broker, with the API versions negotiated on it.
///
/// Requests are pipelined: each gets the next correlation ID and is written at once; responses (which a broker sends
/// in request order) are matched to their requests by correlation ID. A request that gets no response within its
/// timeout fails, and the connection is closed, since what the broker did with it is unknown (as Kafka's
/// `NetworkClient` does). Produce with `acks=0` expects no response and registers none.
final class BrokerConnection: Sendable {
    let channel: any Channel
    let address: BrokerAddress
    let clientID: String
    /// The versions the broker serves, by API key (from ApiVersions).
    let apiVersions: [Int16: ClosedRange<Int16>]
    private let correlation: Mutex<Int32>

    private init(
        channel: any Channel, address: BrokerAddress, clientID: String, apiVersions: [Int16: ClosedRange<Int16>],
        nextCorrelationID: Int32
    ) {
        self.channel = channel
        self.address = address
        self.clientID = clientID
        self.apiVersions = apiVersions
        self.correlation = Mutex(nextCorrelationID)
    }

    /// Whether the connection is still open.
    var isActive: Bool { self.channel.isActive }

    /// Connects to `address` and negotiates API versions (ApiVersions, KIP-511 fallback included).
    /// - Throws: ``KafkaClientError`` with ``KafkaClientError/Code/connectionFailed``, ``KafkaClientError/Code/timedOut``
    ///   or ``KafkaClientError/Code/protocolViolation``.
    static func connect(
        to address: BrokerAddress,
        configuration: ClientConfiguration,
        group: any EventLoopGroup,
        logger: Logger
    ) async throws -> BrokerConnection {
        let maxFrame = configuration.maxResponseSize
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.nanoseconds(Int64(clamping: configuration.connectTimeout.nanoseconds)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ResponseFrameDecoder(splitter: FrameSplitter(maxFrameSize: maxFrame)))
                        try channel.pipeline.syncOperations.addHandler(InFlightRequestHandler())
                    }
                }
                .connect(host: address.host, port: address.port).get()
        } catch {
            throw KafkaClientError(.connectionFailed, "cannot connect to broker \(address): \(Self.describe(error))")
        }
        do {
            let versions = try await Self.negotiateVersions(
                channel: channel, clientID: configuration.clientID, timeout: configuration.requestTimeout)
            logger.debug("connected", metadata: [LogKey.broker: "\(address)"])
            return BrokerConnection(
                channel: channel, address: address, clientID: configuration.clientID, apiVersions: versions.apiKeys,
                nextCorrelationID: versions.nextCorrelationID)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// ApiVersions at our highest version; when the broker answers `UNSUPPORTED_VERSION` (as a v0 body, KIP-511) the
    /// request is repeated at the highest version both support.
    private static func negotiateVersions(
        channel: any Channel, clientID: String, timeout: Duration
    ) async throws -> (apiKeys: [Int16: ClosedRange<Int16>], nextCorrelationID: Int32) {
        var version = ApiVersionsRequest.supportedVersions.upperBound
        var correlationID: Int32 = 0
        for _ in 0..<3 {
            correlationID += 1
            let request = ApiVersionsRequest(clientSoftwareName: "spate-swift", clientSoftwareVersion: "1.0")
            var buffer = channel.allocator.buffer(capacity: 64)
            try request.encodeFrame(into: &buffer, version: version, correlationID: correlationID, clientID: clientID)
            var frame = try await Self.write(
                channel: channel, frame: [buffer], correlationID: correlationID, expectsResponse: true, timeout: timeout)!
            _ = try ResponseHeader(from: &frame, headerVersion: 0)
            let response: ApiVersionsResponse
            if let decoded = try? ApiVersionsResponse.decode(from: frame, version: version), decoded.errorCode == .none {
                response = decoded
            } else if let fallback = try? ApiVersionsResponse.decode(from: frame, version: 0) {
                guard fallback.errorCode == .unsupportedVersion else {
                    throw KafkaClientError.broker(fallback.errorCode, "ApiVersions")
                }
                let theirs = fallback.apiKeys.first { $0.apiKey == APIKey.apiVersions.rawValue }
                let high = min(theirs?.maxVersion ?? 0, ApiVersionsRequest.supportedVersions.upperBound)
                guard high < version else {
                    throw KafkaClientError(.protocolViolation, "the broker refused ApiVersions v\(version) twice")
                }
                version = high
                continue
            } else {
                throw KafkaClientError(.protocolViolation, "cannot decode the ApiVersions response")
            }
            var map: [Int16: ClosedRange<Int16>] = [:]
            for key in response.apiKeys where key.minVersion <= key.maxVersion {
                map[key.apiKey] = key.minVersion...key.maxVersion
            }
            return (map, correlationID + 1)
        }
        throw KafkaClientError(.protocolViolation, "ApiVersions negotiation did not converge")
    }

    /// The highest version of `Request` that both this client's codec and the broker support, at most `cap`.
    /// - Throws: ``KafkaClientError/Code/unsupportedVersion`` when they share none.
    func version<Request: KafkaRequest>(for type: Request.Type, cap: Int16? = nil) throws -> Int16 {
        let ours = Request.supportedVersions
        guard let theirs = self.apiVersions[Request.apiKey.rawValue] else {
            throw KafkaClientError(
                .unsupportedVersion, "broker \(self.address) does not serve \(Request.apiKey) (API key \(Request.apiKey.rawValue))")
        }
        let high = min(ours.upperBound, theirs.upperBound, cap ?? .max)
        let low = max(ours.lowerBound, theirs.lowerBound)
        guard low <= high else {
            throw KafkaClientError(
                .unsupportedVersion,
                "broker \(self.address) serves \(Request.apiKey) v\(theirs.lowerBound)-\(theirs.upperBound); "
                    + "this client speaks v\(ours.lowerBound)-\(min(ours.upperBound, cap ?? .max))")
        }
        return high
    }

    /// Sends `request` at `version` and waits for its response.
    func send<Request: KafkaRequest>(_ request: Request, version: Int16, timeout: Duration) async throws
        -> Request.Response
    {
        do {
            return try await self.start(request, version: version, timeout: timeout).get()
        } catch let error as KafkaClientError {
            throw error
        } catch {
            throw KafkaClientError(.connectionClosed, "connection to \(self.address) failed: \(Self.describe(error))")
        }
    }

    /// Writes `request` at once (requests started one after another are written in that order) and returns the
    /// future of its decoded response.
    func start<Request: KafkaRequest>(_ request: Request, version: Int16, timeout: Duration)
        throws -> EventLoopFuture<Request.Response>
    {
        try self.start(Request.self, version: version, timeout: timeout) { (correlationID, clientID) throws(WireError) in
            var buffer = ByteBuffer()
            try request.encodeFrame(into: &buffer, version: version, correlationID: correlationID, clientID: clientID)
            return [buffer]
        }
    }

    /// ``start(_:version:timeout:)`` for a Produce request whose batches go out as they are, in a gather write,
    /// instead of being copied into the frame.
    func start(gathering request: ProduceRequest, version: Int16, timeout: Duration)
        throws -> EventLoopFuture<ProduceResponse>
    {
        try self.start(ProduceRequest.self, version: version, timeout: timeout) { (correlationID, clientID) throws(WireError) in
            try request.encodeFrameGathering(version: version, correlationID: correlationID, clientID: clientID)
        }
    }

    private func start<Request: KafkaRequest>(
        _ type: Request.Type, version: Int16, timeout: Duration,
        encode: (Int32, String) throws(WireError) -> [ByteBuffer]
    ) throws -> EventLoopFuture<Request.Response> {
        let (correlationID, parts) = try self.frame(of: Request.self, version: version, encode)
        let channel = self.channel
        let address = self.address
        let response = Self.writeRequest(
            channel: channel, frame: parts, correlationID: correlationID, timeout: timeout, address: "\(address)")
        return response.flatMapThrowing { frame in
            do {
                return try Request.Response.decodeFrame(frame, version: version).body
            } catch {
                channel.close(promise: nil)
                throw KafkaClientError(
                    .protocolViolation, "cannot decode the \(Request.apiKey) v\(version) response from \(address): \(error)")
            }
        }
    }

    /// Sends a Produce request with `acks=0` (no response), its batches in a gather write; returns once written.
    func sendWithoutResponse(gathering request: ProduceRequest, version: Int16, timeout: Duration) async throws {
        let (correlationID, parts) = try self.frame(of: ProduceRequest.self, version: version) {
            (correlationID, clientID) throws(WireError) in
            try request.encodeFrameGathering(version: version, correlationID: correlationID, clientID: clientID)
        }
        _ = try await Self.write(
            channel: self.channel, frame: parts, correlationID: correlationID, expectsResponse: false, timeout: timeout)
    }

    /// A request's frame, encoded by `encode` with the next correlation ID; an encoding failure is the caller's
    /// ``KafkaClientError/Code/invalidArgument``.
    private func frame<Request: KafkaRequest>(
        of type: Request.Type, version: Int16, _ encode: (Int32, String) throws(WireError) -> [ByteBuffer]
    ) throws -> (correlationID: Int32, parts: [ByteBuffer]) {
        let correlationID = self.nextCorrelationID()
        do {
            return (correlationID, try encode(correlationID, self.clientID))
        } catch {
            throw KafkaClientError(.invalidArgument, "cannot encode \(Request.apiKey) v\(version): \(error)")
        }
    }

    func close() {
        self.channel.close(promise: nil)
    }

    private func nextCorrelationID() -> Int32 {
        self.correlation.withLock { value in
            let id = value
            value = value == .max ? 1 : value + 1
            return id
        }
    }

    private static func write(
        channel: any Channel, frame: [ByteBuffer], correlationID: Int32, expectsResponse: Bool, timeout: Duration
    ) async throws -> ByteBuffer? {
        let address = channel.remoteAddress.map { "\($0)" } ?? "the broker"
        if expectsResponse {
            do {
                return try await Self.writeRequest(
                    channel: channel, frame: frame, correlationID: correlationID, timeout: timeout, address: address
                ).get()
            } catch let error as KafkaClientError {
                throw error
            } catch {
                throw KafkaClientError(.connectionClosed, "connection to \(address) failed: \(Self.describe(error))")
            }
        } else {
            let written = channel.eventLoop.makePromise(of: Void.self)
            channel.writeAndFlush(
                OutboundRequest(frame: frame, correlationID: correlationID, response: nil, timeout: .zero),
                promise: written)
            do {
                try await written.futureResult.get()
            } catch {
                throw KafkaClientError(.connectionClosed, "connection to \(address) failed: \(Self.describe(error))")
            }
            return nil
        }
    }

    /// Writes a request that expects a response and returns the future of its response frame.
    ///
    /// ``InFlightRequestHandler`` completes the response (or fails it on timeout or close) once the request reaches
    /// it. But a connection can close between a caller finding it open and the write running on the event loop: once
    /// NIO has torn the pipeline down, the write never reaches that handler and only the write's own promise learns
    /// of it. So a failed write fails the response too (if the handler failed it already, NIO ignores the second
    /// completion).
    private static func writeRequest(
        channel: any Channel, frame: [ByteBuffer], correlationID: Int32, timeout: Duration, address: String
    ) -> EventLoopFuture<ByteBuffer> {
        let response = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            response.fail(
                error as? KafkaClientError
                    ?? KafkaClientError(.connectionClosed, "cannot write to \(address): \(Self.describe(error))"))
        }
        channel.writeAndFlush(
            OutboundRequest(
                frame: frame, correlationID: correlationID, response: response,
                timeout: .nanoseconds(Int64(clamping: timeout.nanoseconds))),
            promise: written)
        return response.futureResult
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? KafkaClientError { return error.message }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode))
        }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return Self.describe(first.error) }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve host: \(dns)" }
        }
        if error is ChannelError {
            switch error as! ChannelError {
            case .connectTimeout(let amount): return "connection timed out after \(amount.nanoseconds / 1_000_000) ms"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}

/// A request frame on its way to the broker and what to do with its response.
struct OutboundRequest: Sendable {
    /// The frame, in one buffer or in pieces to write in order (a gather write).
    var frame: [ByteBuffer]
    var correlationID: Int32
    /// Completed with the response frame (header included); `nil` when no response is expected.
    var response: EventLoopPromise<ByteBuffer>?
    var timeout: TimeAmount
}

/// Splits the inbound byte stream into response frames (each passed on without its size prefix).
///
/// A frame that arrives whole within one read is passed on as a slice of that read, with no copy. A frame spread
/// over reads (a Fetch response of many MiB arrives in many) is gathered into one buffer of its size, allocated once
/// its size prefix is in, rather than in a buffer that doubles and copies itself as it grows.
///
/// The buffers of large frames are reused: the last ``spareCount`` are kept, and the next large frame is gathered
/// into the oldest of them. If every slice of the frame it held (the records of a Fetch response) is gone by then,
/// the same memory is written again; otherwise (`ByteBuffer` is copy-on-write) fresh memory is allocated and the old
/// frame stays intact for whoever holds it. Without the reuse each large response would get fresh memory from
/// malloc, which for blocks above glibc's mmap threshold (at most 32 MiB: a 50 MiB Fetch response of 8 partitions ×
/// 10 MiB) means newly mapped pages, a page fault and a zeroed page per 4 KiB, for every response. The cost: up to
/// ``spareCount`` buffers of the largest recent frame stay allocated per connection (a spare more than 4 times the
/// size of the frame that would reuse it is freed instead).
final class ResponseFrameDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Frames at least this large (size prefix included) are gathered into reused buffers.
    static let reuseThreshold = 256 * 1024
    /// How many buffers of earlier large frames are kept for reuse. Two: while a consumer decodes one Fetch response
    /// and the next is on its way, the one before has normally been released.
    static let spareCount = 2

    let splitter: FrameSplitter
    /// The bytes of the frame being gathered, size prefix included.
    private var partial: ByteBuffer?
    /// Buffers of earlier large frames, oldest first.
    private var spares: [ByteBuffer] = []
    private var failed = false

    init(splitter: FrameSplitter) {
        self.splitter = splitter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        var chunk = Self.unwrapInboundIn(data)
        do {
            while chunk.readableBytes > 0 {
                if let frame = try self.nextFrame(from: &chunk, allocator: context.channel.allocator) {
                    context.fireChannelRead(Self.wrapInboundOut(frame))
                }
            }
        } catch {
            self.failed = true
            self.partial = nil
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partial = nil
        self.spares = []
        context.fireChannelInactive()
    }

    /// Consumes bytes of `chunk` and returns the frame they complete, if any.
    private func nextFrame(from chunk: inout ByteBuffer, allocator: ByteBufferAllocator) throws(WireError)
        -> ByteBuffer?
    {
        guard var buffer = self.partial else {
            if let frame = try self.splitter.nextFrame(from: &chunk) { return frame }
            // The rest of the chunk is the start of a frame (whose size prefix, if in, the splitter checked).
            if let size = chunk.getInteger(at: chunk.readerIndex, as: Int32.self) {
                var buffer = self.makeBuffer(capacity: 4 + Int(size), allocator: allocator)
                buffer.writeBuffer(&chunk)
                self.partial = buffer
            } else {
                var buffer = allocator.buffer(capacity: 4)
                buffer.writeBuffer(&chunk)
                self.partial = buffer
            }
            return nil
        }
        self.partial = nil  // `buffer` holds the only reference while it is written
        if buffer.readableBytes < 4 {
            // The size prefix itself was split.
            var head = chunk.readSlice(length: min(4 - buffer.readableBytes, chunk.readableBytes))!
            buffer.writeBuffer(&head)
            guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else {
                self.partial = buffer
                return nil
            }
            guard size >= 0, Int(size) <= self.splitter.maxFrameSize else {
                throw .frameTooLarge(size: Int(size), limit: self.splitter.maxFrameSize)
            }
            var sized = self.makeBuffer(capacity: 4 + Int(size), allocator: allocator)
            sized.writeBuffer(&buffer)
            buffer = sized
        }
        let total = 4 + Int(buffer.getInteger(at: buffer.readerIndex, as: Int32.self)!)
        var piece = chunk.readSlice(length: min(total - buffer.readableBytes, chunk.readableBytes))!
        buffer.writeBuffer(&piece)
        guard buffer.readableBytes == total else {
            self.partial = buffer
            return nil
        }
        let frame = buffer.getSlice(at: buffer.readerIndex + 4, length: total - 4)!
        if buffer.capacity >= Self.reuseThreshold {
            self.spares.append(buffer)
            if self.spares.count > Self.spareCount { self.spares.removeFirst() }
        }
        return frame
    }

    /// A buffer of at least `capacity` bytes for a frame: the oldest spare for a large frame (the same memory if no
    /// slice of its last frame is alive), else a new one.
    private func makeBuffer(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Until there are `spareCount` spares, new buffers: the one a frame just filled is likely still in use.
        guard capacity >= Self.reuseThreshold, self.spares.count >= Self.spareCount else {
            return allocator.buffer(capacity: capacity)
        }
        var buffer = self.spares.removeFirst()
        guard buffer.capacity <= 4 * capacity else { return allocator.buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }
}

/// Keeps the requests awaiting responses, matches responses by correlation ID, enforces request timeouts and fails
/// everything outstanding when the connection ends.
final class InFlightRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: Scheduled<Void>?
    }

    private var pending: [Int32: Pending] = [:]
    private var closedError: KafkaClientError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let error = self.closedError {
            request.response?.fail(error)
            promise?.fail(error)
            return
        }
        if let response = request.response {
            let correlationID = request.correlationID
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let timeout = context.eventLoop.scheduleTask(in: request.timeout) {
                loopBound.value.timedOut(correlationID: correlationID, context: contextBound.value)
            }
            self.pending[correlationID] = Pending(promise: response, timeout: timeout)
        }
        // The pieces of a frame are written together (NIO sends them with one writev); the promise goes with the
        // last, which succeeds only once all have been written.
        for piece in request.frame.dropLast() {
            context.write(Self.wrapOutboundOut(piece), promise: nil)
        }
        context.write(Self.wrapOutboundOut(request.frame.last ?? ByteBuffer()), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard let correlationID = frame.getInteger(at: frame.readerIndex, as: Int32.self),
            let entry = self.pending.removeValue(forKey: correlationID)
        else {
            self.failAll(KafkaClientError(.protocolViolation, "a response arrived for no outstanding request"))
            context.close(promise: nil)
            return
        }
        entry.timeout?.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(KafkaClientError(.connectionClosed, "the broker closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failAll(KafkaClientError(.connectionClosed, "connection error: \(BrokerConnection.describe(error))"))
        context.close(promise: nil)
    }

    private func timedOut(correlationID: Int32, context: ChannelHandlerContext) {
        guard let entry = self.pending.removeValue(forKey: correlationID) else { return }
        let error = KafkaClientError(.timedOut, "no response from the broker within the request timeout")
        entry.promise.fail(error)
        // What the broker did with the request is unknown; the connection cannot be trusted to stay in order.
        self.failAll(KafkaClientError(.connectionClosed, "the connection was closed after a request timed out"))
        context.close(promise: nil)
    }

    private func failAll(_ error: KafkaClientError) {
        if self.closedError == nil { self.closedError = error }
        let pending = self.pending
        self.pending = [:]
        for (_, entry) in pending {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}

/// Logger metadata keys of the client (STYLE §3.4).
enum LogKey {
    static let broker = "spate.broker"
    static let topic = "spate.topic"
    static let partition = "spate.partition"
    static let producerID = "spate.producer_id"
    static let error = "spate.error"
    static let groupID = "spate.group_id"
}
