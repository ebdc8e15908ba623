import SpateWire
import Testing

@Suite struct MetadataTests {
    @Test func authorizedOperationsAreAnsweredWhenRequested() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("orders")
            // v8: both fields exist; requested → every operation (there is no authorizer).
            let requested = try await client.send(
                MetadataRequest(
                    topics: [.init(name: "orders")], allowAutoTopicCreation: false,
                    includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: true),
                version: 8)
            let topicOps = try #require(requested.topics.first).topicAuthorizedOperations
            for operation in [3, 4, 5, 6, 7, 8, 10, 11] {  // READ … ALTER_CONFIGS
                #expect(topicOps & (1 << operation) != 0)
            }
            #expect(requested.clusterAuthorizedOperations & (1 << 8) != 0)  // DESCRIBE
            // Not requested → Kafka's "not requested" value.
            let plain = try await client.send(MetadataRequest(topics: [.init(name: "orders")]), version: 12)
            #expect(plain.topics.first?.topicAuthorizedOperations == Int32.min)
            #expect(plain.topics.first?.partitions.first?.leaderID == 1)
            // Auto-creation off in the request: an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, not created.
            let unknown = try await client.send(
                MetadataRequest(topics: [.init(name: "nope")], allowAutoTopicCreation: false), version: 12)
            #expect(unknown.topics.first?.errorCode == .unknownTopicOrPartition)
            let invalid = try await client.send(MetadataRequest(topics: [.init(name: "bad name!")]), version: 12)
            #expect(invalid.topics.first?.errorCode == .invalidTopicException)
        }
    }
}
