import NIOCore
import SpateRecords
import SpateWire
import Testing

/// A client may send requests without waiting for their responses (librdkafka pipelines produces). The broker
/// answers them in request order, appends a connection's produces in request order, and lets a later request other
/// than Produce see every earlier append.
@Suite struct PipeliningTests {
    static func produce(_ topic: String, partition: Int32, acks: Int16, value: String) throws -> ProduceRequest {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: value), timestamp: 1_000)
        let records = RecordSet(buffer: try builder.build(compressor: nil))
        return ProduceRequest(
            acks: acks, timeoutMs: 10_000,
            topicData: [.init(name: TopicName(topic), partitionData: [.init(index: partition, records: records)])])
    }

    @Test func pipelinedProducesAreAppendedAndAnsweredInRequestOrder() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("pipelined", partitions: 2)
            // 60 produces over two partitions, acks=1 and acks=all alternating, with a Metadata request now and then,
            // all written before any response is read.
            var produces: [(partition: Int32, response: EventLoopFuture<ByteBuffer>, correlationID: Int32)] = []
            var metadata: [(response: EventLoopFuture<ByteBuffer>, correlationID: Int32)] = []
            for number in 0..<60 {
                let partition = Int32(number % 2)
                let acks: Int16 = (number / 2) % 2 == 0 ? 1 : -1
                let started = try client.start(
                    Self.produce("pipelined", partition: partition, acks: acks, value: "value-\(number)"), version: 11)
                produces.append((partition, started.response, started.correlationID))
                if number % 10 == 9 {
                    let started = try client.start(MetadataRequest(topics: nil), version: 12)
                    metadata.append((started.response, started.correlationID))
                }
            }
            var next: [Int32: Int64] = [0: 0, 1: 0]
            for produce in produces {
                let (correlationID, response) = try ProduceResponse.decodeFrame(try await produce.response.get(), version: 11)
                #expect(correlationID == produce.correlationID)
                let answer = try #require(response.responses.first?.partitionResponses.first)
                #expect(answer.errorCode == .none)
                // Each partition's produces got consecutive offsets in the order they were sent.
                #expect(answer.baseOffset == next[produce.partition], "partition \(produce.partition)")
                next[produce.partition, default: 0] += 1
            }
            for started in metadata {
                let (correlationID, response) = try MetadataResponse.decodeFrame(try await started.response.get(), version: 12)
                #expect(correlationID == started.correlationID)
                #expect(response.topics.contains { $0.name?.rawValue == "pipelined" })
            }
        }
    }

    @Test func aRequestBehindPipelinedProducesSeesTheirRecords() async throws {
        try await withBroker { client, _ in
            // flush.messages=1: every append fsyncs, so appends are still queued when the ListOffsets arrives.
            try await client.createTopic("acks-zero", configs: ["flush.messages": "1"])
            // acks=0: no responses; the ListOffsets written right behind them starts only once they are appended.
            for number in 0..<200 {
                try client.sendWithoutResponse(
                    Self.produce("acks-zero", partition: 0, acks: 0, value: "value-\(number)"), version: 11)
            }
            #expect(try await client.offset("acks-zero", at: -1) == 200)
            // The same behind produces that do get responses, not awaited yet.
            var started: [EventLoopFuture<ByteBuffer>] = []
            for number in 0..<20 {
                started.append(
                    try client.start(Self.produce("acks-zero", partition: 0, acks: -1, value: "more-\(number)"), version: 11)
                        .response)
            }
            #expect(try await client.offset("acks-zero", at: -1) == 220)
            for response in started { _ = try await response.get() }
        }
    }

    @Test func repliesBeforeARequestThatClosesTheConnectionAreWritten() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("then-garbage")
            var started: [EventLoopFuture<ByteBuffer>] = []
            for number in 0..<10 {
                started.append(
                    try client.start(Self.produce("then-garbage", partition: 0, acks: -1, value: "value-\(number)"), version: 11)
                        .response)
            }
            // An unknown API key: Kafka closes the connection.
            var garbage = ByteBuffer()
            garbage.writeInteger(Int32(10))
            garbage.writeInteger(Int16(32_000))
            garbage.writeInteger(Int16(0))
            garbage.writeInteger(Int32(99))
            garbage.writeInteger(Int16(-1))
            let last = client.startRaw(frame: garbage)
            for (number, response) in started.enumerated() {
                let (_, answer) = try ProduceResponse.decodeFrame(try await response.get(), version: 11)
                #expect(answer.responses.first?.partitionResponses.first?.baseOffset == Int64(number))
            }
            await #expect(throws: (any Error).self) { try await last.get() }
        }
    }
}
