import NIOCore
import SpateWire
import Testing

@Suite struct ProduceHandlerTests {
    /// acks other than 0, 1 and -1: Kafka refuses every partition with INVALID_REQUIRED_ACKS and appends nothing; the
    /// answer keeps its place among pipelined produces.
    @Test func invalidAcksRefusesEveryPartitionAndAppendsNothing() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("acks", partitions: 2)
            let before = try client.start(PipeliningTests.produce("acks", partition: 0, acks: 1, value: "a"), version: 11)
            var invalid = try PipeliningTests.produce("acks", partition: 0, acks: 2, value: "b")
            invalid.topicData[0].partitionData.append(
                try PipeliningTests.produce("acks", partition: 1, acks: 2, value: "c").topicData[0].partitionData[0])
            let refused = try client.start(invalid, version: 11)
            let after = try client.start(PipeliningTests.produce("acks", partition: 0, acks: 1, value: "d"), version: 11)

            let first = try ProduceResponse.decodeFrame(try await before.response.get(), version: 11).body
            #expect(first.responses.first?.partitionResponses.first?.baseOffset == 0)
            let (correlationID, answer) = try ProduceResponse.decodeFrame(try await refused.response.get(), version: 11)
            #expect(correlationID == refused.correlationID)
            let partitions = try #require(answer.responses.first?.partitionResponses)
            #expect(partitions.map(\.index) == [0, 1])
            #expect(partitions.allSatisfy { $0.errorCode == .invalidRequiredAcks && $0.baseOffset == -1 })
            let last = try ProduceResponse.decodeFrame(try await after.response.get(), version: 11).body
            #expect(last.responses.first?.partitionResponses.first?.baseOffset == 1)
            #expect(try await client.offset("acks", partition: 1, at: -1) == 0)
        }
    }
}
