import NIOCore
import SpateRecords
import SpateWire
import Testing

@Suite struct DescribeProducersTests {
    @Test func activeIdempotentProducersAreDescribed() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("payments", partitions: 2)
            let id = try await client.send(InitProducerIdRequest(transactionalID: nil, transactionTimeoutMs: -1), version: 5)
            #expect(id.errorCode == .none)
            var builder = RecordBatchBuilder(producerID: id.producerID.rawValue, producerEpoch: id.producerEpoch, baseSequence: 0)
            for index in 0..<3 { builder.append(key: nil, value: ByteBuffer(string: "v\(index)"), timestamp: 5_000 + Int64(index)) }
            let produced = try await client.produce("payments", partition: 1, RecordSet(buffer: try builder.build(compressor: nil)))
            #expect(produced.errorCode == .none)

            let response = try await client.send(
                DescribeProducersRequest(topics: [.init(name: "payments", partitionIndexes: [0, 1, 7])]), version: 0)
            let partitions = try #require(response.topics.first).partitions
            #expect(partitions.map(\.errorCode) == [.none, .none, .unknownTopicOrPartition])
            #expect(partitions[0].activeProducers.isEmpty)
            let producer = try #require(partitions[1].activeProducers.first)
            #expect(producer.producerID == id.producerID)
            #expect(producer.producerEpoch == Int32(id.producerEpoch))
            #expect(producer.lastSequence == 2)
            #expect(producer.lastTimestamp == 5_002)
            #expect(producer.coordinatorEpoch == -1 && producer.currentTxnStartOffset == -1)
        }
    }
}
