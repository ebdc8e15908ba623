import Logging
import NIOCore
import SpateWire

/// What a handler knows about the request beyond its body.
struct RequestContext: Sendable {
    var header: RequestHeader
    var logger: Logger
    var broker: BrokerState
    /// The client's address as Kafka reports it in group descriptions (`/127.0.0.1`).
    var clientHost: String = ""
}

/// Serves one API. `versions` is what the broker advertises (ApiVersions) and accepts; it may be narrower than the
/// codec's (Kafka 4 removed old versions, KIP-896).
protocol RequestHandler: Sendable {
    associatedtype Request: KafkaRequest
    static var versions: ClosedRange<Int16> { get }
    /// The response, or nil for none (Produce with acks=0).
    func handle(_ request: Request, context: RequestContext) async throws -> Request.Response?
    /// The response frame, or nil for none. The default encodes ``handle(_:context:)``'s response into one buffer;
    /// Fetch sends records from segment files instead.
    func respond(to request: Request, context: RequestContext) async throws -> ResponseFrame?
    /// The reply. The default is ``respond(to:context:)``'s frame, computed before the connection reads its next
    /// request; Produce answers ``Reply/later(_:)`` once its appends are queued.
    func reply(to request: Request, context: RequestContext) async throws -> Reply
}

/// A handler's answer to one request.
enum Reply: Sendable {
    /// No response is due (Produce with acks=0).
    case none
    case frame(ResponseFrame)
    /// The request's ordered part is done (a produce's appends are queued to their partitions, in request order), so
    /// the connection may start its next request; see ``Later``.
    case later(Later)

    struct Later: Sendable {
        /// What must finish before the request's effects are visible (a produce's appends). A connection's next
        /// request other than a Produce starts only after these, so it sees them, as if the requests ran one by one.
        var effects: [any Completion]
        /// Finishes the request and returns its frame (nil: none is due). The connection's writer runs these one at
        /// a time, in request order, and writes their frames in that order.
        var finish: @Sendable () async throws -> ResponseFrame?
    }
}

/// A handler with its types erased, for the registry.
struct HandlerEntry: Sendable {
    let apiKey: APIKey
    let versions: ClosedRange<Int16>
    let run: @Sendable (ByteBuffer, RequestContext) async throws -> Reply
}

/// Why a connection must close: the request cannot be answered in the protocol.
struct ConnectionError: Error, CustomStringConvertible {
    var description: String
}

extension RequestHandler {
    static func entry(_ handler: Self) -> HandlerEntry {
        HandlerEntry(apiKey: Request.apiKey, versions: Self.versions) { body, context in
            let version = context.header.apiVersion
            let request: Request
            do {
                // Bytes after the body are ignored, as Kafka does: librdkafka sends an "all topics" Metadata v9+
                // request with a 4-byte null array where the 1-byte varint belongs (confluentinc/librdkafka#5049).
                var body = body
                request = try Request(from: &body, version: version)
            } catch {
                throw ConnectionError(description: "malformed \(Request.apiKey) v\(version) request: \(error)")
            }
            return try await handler.reply(to: request, context: context)
        }
    }

    func reply(to request: Request, context: RequestContext) async throws -> Reply {
        try await self.respond(to: request, context: context).map(Reply.frame) ?? .none
    }

    func respond(to request: Request, context: RequestContext) async throws -> ResponseFrame? {
        try await self.handle(request, context: context).map { try self.encode($0, context: context) }
    }

    /// `response` as one frame for the request's version and correlation ID.
    func encode(_ response: Request.Response, context: RequestContext) throws -> ResponseFrame {
        let version = context.header.apiVersion
        var frame = ByteBuffer()
        do {
            try response.encodeFrame(into: &frame, version: version, correlationID: context.header.correlationID)
        } catch {
            // A handler built a response its version cannot carry: a broker bug, not the client's.
            throw ConnectionError(description: "could not encode the \(Request.apiKey) v\(version) response: \(error)")
        }
        return .buffer(frame)
    }
}

/// Every handler the broker serves, by API key. One static table feeds dispatch and ApiVersions.
struct HandlerRegistry: Sendable {
    let entries: [Int16: HandlerEntry]

    static let standard = HandlerRegistry(entries: [
        ApiVersionsHandler.entry(ApiVersionsHandler()),
        MetadataHandler.entry(MetadataHandler()),
        CreateTopicsHandler.entry(CreateTopicsHandler()),
        ProduceHandler.entry(ProduceHandler()),
        FetchHandler.entry(FetchHandler()),
        ListOffsetsHandler.entry(ListOffsetsHandler()),
        InitProducerIdHandler.entry(InitProducerIdHandler()),
        DeleteTopicsHandler.entry(DeleteTopicsHandler()),
        DeleteRecordsHandler.entry(DeleteRecordsHandler()),
        OffsetForLeaderEpochHandler.entry(OffsetForLeaderEpochHandler()),
        DescribeConfigsHandler.entry(DescribeConfigsHandler()),
        AlterConfigsHandler.entry(AlterConfigsHandler()),
        DescribeLogDirsHandler.entry(DescribeLogDirsHandler()),
        CreatePartitionsHandler.entry(CreatePartitionsHandler()),
        IncrementalAlterConfigsHandler.entry(IncrementalAlterConfigsHandler()),
        DescribeClusterHandler.entry(DescribeClusterHandler()),
        DescribeTopicPartitionsHandler.entry(DescribeTopicPartitionsHandler()),
        DescribeProducersHandler.entry(DescribeProducersHandler()),
        FindCoordinatorHandler.entry(FindCoordinatorHandler()),
        JoinGroupHandler.entry(JoinGroupHandler()),
        SyncGroupHandler.entry(SyncGroupHandler()),
        HeartbeatHandler.entry(HeartbeatHandler()),
        LeaveGroupHandler.entry(LeaveGroupHandler()),
        OffsetCommitHandler.entry(OffsetCommitHandler()),
        OffsetFetchHandler.entry(OffsetFetchHandler()),
        OffsetDeleteHandler.entry(OffsetDeleteHandler()),
        DescribeGroupsHandler.entry(DescribeGroupsHandler()),
        ListGroupsHandler.entry(ListGroupsHandler()),
        DeleteGroupsHandler.entry(DeleteGroupsHandler()),
        ConsumerGroupHeartbeatHandler.entry(ConsumerGroupHeartbeatHandler()),
        ConsumerGroupDescribeHandler.entry(ConsumerGroupDescribeHandler()),
    ])

    init(entries: [HandlerEntry]) {
        self.entries = Dictionary(uniqueKeysWithValues: entries.map { ($0.apiKey.rawValue, $0) })
    }

    /// What ApiVersions advertises: exactly what is served.
    var advertised: [ApiVersionsResponse.ApiVersion] {
        self.entries.values.sorted { $0.apiKey.rawValue < $1.apiKey.rawValue }.map {
            .init(apiKey: $0.apiKey.rawValue, minVersion: $0.versions.lowerBound, maxVersion: $0.versions.upperBound)
        }
    }

    /// Answers one request frame. Throws ``ConnectionError`` when the connection must close (Kafka's behaviour for an
    /// unknown key, an unsupported version or a malformed request).
    func handle(frame: ByteBuffer, broker: BrokerState, logger: Logger, clientHost: String = "") async throws -> Reply {
        var body = frame
        let header: RequestHeader
        do {
            header = try RequestHeader(from: &body)
        } catch {
            // KIP-511: a flexible ApiVersions header we cannot read still gets the v0 answer if its prefix is there.
            if let prefix = RequestHeader.peek(frame), prefix.apiKey == .apiVersions {
                return .frame(.buffer(try self.apiVersionsFallback(correlationID: prefix.correlationID)))
            }
            throw ConnectionError(description: "malformed request header: \(error)")
        }
        var requestLogger = logger
        requestLogger[metadataKey: "spate.api_key"] = "\(header.apiKey)"
        requestLogger[metadataKey: "spate.api_version"] = "\(header.apiVersion)"
        requestLogger[metadataKey: "spate.correlation_id"] = "\(header.correlationID)"
        guard let entry = self.entries[header.apiKey.rawValue] else {
            throw ConnectionError(description: "unknown API key \(header.apiKey.rawValue)")
        }
        guard entry.versions.contains(header.apiVersion) else {
            if header.apiKey == .apiVersions {
                return .frame(.buffer(try self.apiVersionsFallback(correlationID: header.correlationID)))
            }
            throw ConnectionError(
                description: "unsupported version \(header.apiVersion) of \(header.apiKey) (serving \(entry.versions))")
        }
        requestLogger.trace("Request")
        return try await entry.run(body, RequestContext(header: header, logger: requestLogger, broker: broker, clientHost: clientHost))
    }

    /// UNSUPPORTED_VERSION as ApiVersionsResponse v0 with the supported ranges (KIP-511).
    func apiVersionsFallback(correlationID: Int32) throws -> ByteBuffer {
        var frame = ByteBuffer()
        try ApiVersionsResponse.unsupportedVersionFallback(apiKeys: self.advertised)
            .encodeFrame(into: &frame, version: 0, correlationID: correlationID)
        return frame
    }
}

/// Everything handlers share.
struct BrokerState: Sendable {
    let configuration: BrokerConfiguration
    let clusterID: String
    let topics: TopicStore
    let replicas: ReplicaManager
    let producerIDs: ProducerIDManager
    /// The group coordinator (every group, on one node).
    let groups: GroupCoordinatorService
    /// Incremental fetch sessions (KIP-227).
    let fetchSessions: FetchSessionCache
    let registry: HandlerRegistry
    /// The host and port clients are told to use.
    let advertisedHost: String
    let advertisedPort: Int32
    var nodeID: BrokerID { BrokerID(self.configuration.nodeID) }
}
