import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SpateWire

/// A listener that answers just enough of the protocol for a producer to get going (ApiVersions, Metadata,
/// InitProducerId, Produce) and records every request frame exactly as it arrived, so that tests can decode what real
/// clients send. It is not a broker: it stores nothing and serves no reads.
final class CaptureBroker: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let frames: NIOLockedValueBox<[ByteBuffer]>
    var port: Int { self.channel.localAddress!.port! }

    static func start() async throws -> CaptureBroker {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let frames = NIOLockedValueBox<[ByteBuffer]>([])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CaptureHandler(frames: frames))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CaptureBroker(group: group, channel: channel, frames: frames)
    }

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, frames: NIOLockedValueBox<[ByteBuffer]>) {
        self.group = group
        self.channel = channel
        self.frames = frames
    }

    func stop() async throws {
        try await self.channel.close()
        try await self.group.shutdownGracefully()
    }

    /// Every request frame so far (without size prefixes), in arrival order across connections.
    var capturedFrames: [ByteBuffer] { self.frames.withLockedValue { $0 } }
}

private final class CaptureHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let frames: NIOLockedValueBox<[ByteBuffer]>
    var pending = ByteBuffer()
    let splitter = FrameSplitter()
    var nextOffset: Int64 = 0

    init(frames: NIOLockedValueBox<[ByteBuffer]>) {
        self.frames = frames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        self.pending.writeBuffer(&incoming)
        do {
            while let frame = try self.splitter.nextFrame(from: &self.pending) {
                self.frames.withLockedValue { $0.append(frame) }
                if let response = try self.respond(to: frame, port: context.localAddress?.port ?? 0) {
                    context.write(self.wrapOutboundOut(response), promise: nil)
                }
            }
            context.flush()
        } catch {
            context.close(promise: nil)
        }
    }

    func respond(to frame: ByteBuffer, port: Int) throws -> ByteBuffer? {
        let request = try RequestFrame(decoding: frame)
        let version = request.header.apiVersion
        let correlationID = request.header.correlationID
        var out = ByteBuffer()
        switch request.body {
        case .apiVersions:
            let keys = APIKey.allKnown.map { key in
                let versions = key.codecVersions!
                return ApiVersionsResponse.ApiVersion(
                    apiKey: key.rawValue, minVersion: versions.lowerBound, maxVersion: versions.upperBound)
            }
            try ApiVersionsResponse(errorCode: .none, apiKeys: keys)
                .encodeFrame(into: &out, version: version, correlationID: correlationID)
        case .metadata(let metadata):
            let names = metadata.topics?.compactMap(\.name) ?? []
            let topics = names.map { name in
                MetadataResponse.MetadataResponseTopic(
                    name: name, topicID: KafkaUUID(high: 1, low: 2),
                    partitions: [
                        MetadataResponse.MetadataResponsePartition(
                            partitionIndex: 0, leaderID: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0])
                    ])
            }
            try MetadataResponse(
                brokers: [MetadataResponse.MetadataResponseBroker(nodeID: 0, host: "127.0.0.1", port: Int32(port))],
                clusterID: "capture", controllerID: 0, topics: topics
            ).encodeFrame(into: &out, version: version, correlationID: correlationID)
        case .initProducerID:
            try InitProducerIdResponse(producerID: 1000, producerEpoch: 0)
                .encodeFrame(into: &out, version: version, correlationID: correlationID)
        case .produce(let produce):
            if produce.acks == 0 { return nil }
            let responses = produce.topicData.map { topic in
                ProduceResponse.TopicProduceResponse(
                    name: topic.name,
                    partitionResponses: topic.partitionData.map { partition in
                        defer { self.nextOffset += 1_000 }
                        return ProduceResponse.PartitionProduceResponse(
                            index: partition.index, baseOffset: self.nextOffset, logAppendTimeMs: -1)
                    })
            }
            try ProduceResponse(responses: responses)
                .encodeFrame(into: &out, version: version, correlationID: correlationID)
        default:
            return nil
        }
        return out
    }
}
