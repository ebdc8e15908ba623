import NIOCore
import SpateBroker
import SpateWire
import Testing

/// DeleteTopics and CreatePartitions against a real broker.
@Suite struct TopicAdminTests {
    func metadata(_ client: TestClient, _ topic: String) async throws -> MetadataResponse.MetadataResponseTopic {
        let response = try await client.send(
            MetadataRequest(topics: [.init(name: TopicName(topic))], allowAutoTopicCreation: false),
            version: 12
        )
        return try #require(response.topics.first)
    }

    @Test func deleteByNameThenRecreateStartsEmpty() async throws {
        try await withBroker { client, _ in
            let created = try await client.createTopic("orders", partitions: 2)
            #expect(try await client.produce("orders", makeBatch(count: 3)).errorCode == ErrorCode.none)
            #expect(try await client.produce("orders", partition: 1, makeBatch(count: 2)).errorCode == ErrorCode.none)
            #expect(try await client.offset("orders", at: -1) == 3)

            let response = try await client.send(
                DeleteTopicsRequest(topicNames: ["orders"], timeoutMs: 1000),
                version: 1
            )
            #expect(response.responses.map(\.errorCode) == [.none])
            #expect(response.responses.first?.name == "orders")
            #expect(try await self.metadata(client, "orders").errorCode == .unknownTopicOrPartition)
            #expect(try await client.produce("orders", makeBatch()).errorCode == .unknownTopicOrPartition)

            let recreated = try await client.createTopic("orders", partitions: 2)
            #expect(recreated.topicID != created.topicID)
            #expect(try await client.offset("orders", at: -1) == 0)
            #expect(try await client.offset("orders", partition: 1, at: -1) == 0)
            #expect(try await client.produce("orders", makeBatch()).baseOffset == 0)
            // The old override-free settings are gone too: the new topic has only its own configs.
            #expect(try await client.topicConfigs("orders")["retention.ms"]?.configSource == 5)
        }
    }

    @Test func deleteByTopicIDAtTheNewestVersion() async throws {
        try await withBroker { client, _ in
            let created = try await client.createTopic("by-id")
            let unknownID = KafkaUUID.random()
            let response = try await client.send(
                DeleteTopicsRequest(topics: [
                    .init(name: nil, topicID: created.topicID), .init(name: nil, topicID: unknownID),
                ]),
                version: 6
            )
            #expect(response.responses.count == 2)
            #expect(response.responses[0].errorCode == ErrorCode.none)
            #expect(response.responses[0].name == "by-id")
            #expect(response.responses[0].topicID == created.topicID)
            #expect(response.responses[1].errorCode == .unknownTopicID)
            #expect(response.responses[1].name == nil)
            #expect(try await self.metadata(client, "by-id").errorCode == .unknownTopicOrPartition)

            let both = try await client.send(
                DeleteTopicsRequest(topics: [.init(name: "x", topicID: unknownID)]),
                version: 6
            )
            #expect(both.responses.first?.errorCode == .invalidRequest)
        }
    }

    @Test func deleteRefusals() async throws {
        try await withBroker { client, _ in
            let unknown = try await client.send(DeleteTopicsRequest(topicNames: ["nope"]), version: 1)
            #expect(unknown.responses.first?.errorCode == .unknownTopicOrPartition)
            // Users cannot create the internal topic; FindCoordinator does, as in Kafka.
            let created = try await client.send(
                CreateTopicsRequest(topics: [.init(name: "__consumer_offsets", numPartitions: 1, replicationFactor: 1)]),
                version: 7)
            #expect(created.topics.first?.errorCode == .invalidRequest)
            let found = try await client.send(FindCoordinatorRequest(keyType: 0, coordinatorKeys: ["g"]), version: 4)
            #expect(found.coordinators.first?.errorCode == ErrorCode.none)
            // Only the coordinator writes to it.
            #expect(try await client.produce("__consumer_offsets", makeBatch(count: 1)).errorCode == .invalidTopicException)
            let internalTopic = try await client.send(
                DeleteTopicsRequest(topicNames: ["__consumer_offsets"]),
                version: 5
            )
            #expect(internalTopic.responses.first?.errorCode == .invalidTopicException)
            #expect(try await self.metadata(client, "__consumer_offsets").errorCode == ErrorCode.none)
        }
        try await withBroker(configure: { $0.topics.deleteTopicEnable = false }) { client, _ in
            try await client.createTopic("kept")
            let v6 = try await client.send(DeleteTopicsRequest(topics: [.init(name: "kept")]), version: 6)
            #expect(v6.responses.first?.errorCode == .topicDeletionDisabled)
            let v1 = try await client.send(DeleteTopicsRequest(topicNames: ["kept"]), version: 1)
            #expect(v1.responses.first?.errorCode == .invalidRequest)
            #expect(try await self.metadata(client, "kept").errorCode == ErrorCode.none)
        }
    }

    @Test(arguments: [Int16(0), 3])
    func createPartitions(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic("grow")
            let check = try await client.send(
                CreatePartitionsRequest(topics: [.init(name: "grow", count: 4, assignments: nil)], validateOnly: true),
                version: version
            )
            #expect(check.results.first?.errorCode == ErrorCode.none)
            #expect(try await self.metadata(client, "grow").partitions.count == 1)

            let grown = try await client.send(
                CreatePartitionsRequest(
                    topics: [
                        .init(name: "grow", count: 3, assignments: [.init(brokerIDs: [1]), .init(brokerIDs: [1])])
                    ]),
                version: version
            )
            #expect(grown.results.first?.errorCode == ErrorCode.none)
            #expect(try await self.metadata(client, "grow").partitions.count == 3)
            #expect(try await client.produce("grow", partition: 2, makeBatch()).errorCode == ErrorCode.none)

            let refusals = try await client.send(
                CreatePartitionsRequest(topics: [
                    .init(name: "grow", count: 3, assignments: nil),
                    .init(name: "missing", count: 2, assignments: nil),
                ]),
                version: version
            )
            #expect(refusals.results.map(\.errorCode) == [.invalidPartitions, .unknownTopicOrPartition])
            let shrink = try await client.send(
                CreatePartitionsRequest(topics: [.init(name: "grow", count: 2, assignments: nil)]),
                version: version
            )
            #expect(shrink.results.first?.errorCode == .invalidPartitions)
            let elsewhere = try await client.send(
                CreatePartitionsRequest(topics: [.init(name: "grow", count: 4, assignments: [.init(brokerIDs: [2])])]),
                version: version
            )
            #expect(elsewhere.results.first?.errorCode == .invalidReplicaAssignment)
            #expect(try await self.metadata(client, "grow").partitions.count == 3)
        }
    }
}
