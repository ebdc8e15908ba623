import Glibc
import NIOCore
import SpateBroker
import SpateWire
import Testing

/// DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs, DescribeCluster and DescribeTopicPartitions against a real
/// broker.
@Suite struct PartitionAdminTests {
    @Test(arguments: [Int16(0), 2])
    func deleteRecordsMovesTheLogStart(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic("trim", partitions: 2)
            for _ in 0..<3 {
                #expect(try await client.produce("trim", makeBatch(count: 2)).errorCode == ErrorCode.none)
            }
            let delete = { (partition: Int32, offset: Int64) in
                try #require(
                    try await client.send(
                        DeleteRecordsRequest(topics: [
                            .init(name: "trim", partitions: [.init(partitionIndex: partition, offset: offset)])
                        ]),
                        version: version
                    ).topics.first?.partitions.first
                )
            }
            let first = try await delete(0, 3)
            #expect(first.errorCode == ErrorCode.none && first.lowWatermark == 3)
            #expect(try await client.offset("trim", at: -2) == 3)
            // Below the log start: nothing changes.
            #expect(try await delete(0, 1).lowWatermark == 3)
            let beyond = try await delete(0, 7)
            #expect(beyond.errorCode == .offsetOutOfRange && beyond.lowWatermark == -1)
            #expect(try await delete(0, -1).lowWatermark == 6)
            #expect(try await client.offset("trim", at: -2) == 6)
            #expect(try await delete(5, 0).errorCode == .unknownTopicOrPartition)
            let fetch = try await client.send(
                FetchRequest(
                    replicaID: -1,
                    maxWaitMs: 0,
                    minBytes: 0,
                    maxBytes: 1 << 20,
                    topics: [
                        .init(
                            topic: "trim",
                            partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]
                        )
                    ]
                ),
                version: 12
            )
            #expect(fetch.responses.first?.partitions.first?.errorCode == .offsetOutOfRange)
        }
    }

    @Test(arguments: [Int16(2), 4])
    func offsetForLeaderEpoch(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic("epochs")
            for _ in 0..<2 {
                #expect(try await client.produce("epochs", makeBatch(count: 2)).errorCode == ErrorCode.none)
            }
            let ask = { (topic: String, current: Int32, epoch: Int32) in
                try #require(
                    try await client.send(
                        OffsetForLeaderEpochRequest(
                            replicaID: -1,
                            topics: [
                                .init(
                                    topic: TopicName(topic),
                                    partitions: [.init(partition: 0, currentLeaderEpoch: current, leaderEpoch: epoch)]
                                )
                            ]
                        ),
                        version: version
                    ).topics.first?.partitions.first
                )
            }
            let latest = try await ask("epochs", 0, 0)
            #expect(latest.errorCode == ErrorCode.none && latest.leaderEpoch == 0 && latest.endOffset == 4)
            let future = try await ask("epochs", -1, 3)
            #expect(future.errorCode == ErrorCode.none && future.leaderEpoch == -1 && future.endOffset == -1)
            #expect(try await ask("epochs", 2, 0).errorCode == .unknownLeaderEpoch)
            #expect(try await ask("missing", -1, 0).errorCode == .unknownTopicOrPartition)
        }
    }

    @Test(arguments: [Int16(1), 4])
    func describeLogDirs(version: Int16) async throws {
        try await withBroker { client, configuration in
            try await client.createTopic("sized", partitions: 2)
            #expect(try await client.produce("sized", makeBatch(count: 5)).errorCode == ErrorCode.none)
            try await client.createTopic("other")
            let all = try await client.send(DescribeLogDirsRequest(topics: nil), version: version)
            let directory = try #require(all.results.first)
            #expect(all.results.count == 1)
            #expect(directory.errorCode == ErrorCode.none)
            let resolved = try #require(realpath(configuration.storage.dataDirectory, nil))
            defer { free(resolved) }
            #expect(directory.logDir == String(cString: resolved))
            #expect(directory.topics.map(\.name).sorted() == ["other", "sized"])
            let sized = try #require(directory.topics.first { $0.name == "sized" })
            #expect(sized.partitions.map(\.partitionIndex) == [0, 1])
            #expect(sized.partitions[0].partitionSize > 0)
            #expect(sized.partitions[1].partitionSize == 0)
            #expect(sized.partitions.allSatisfy { $0.offsetLag == 0 && !$0.isFutureKey })
            if version >= 4 {
                #expect(
                    directory.totalBytes > 0 && directory.usableBytes >= 0
                        && directory.usableBytes <= directory.totalBytes
                )
            } else {
                #expect(directory.totalBytes == -1)
            }
            let some = try await client.send(
                DescribeLogDirsRequest(topics: [
                    .init(topic: "sized", partitions: [1]), .init(topic: "missing", partitions: [0]),
                ]),
                version: version
            )
            #expect(some.results.first?.topics.map(\.name) == ["sized"])
            #expect(some.results.first?.topics.first?.partitions.map(\.partitionIndex) == [1])
        }
    }

    @Test(arguments: [Int16(0), 1])
    func describeCluster(version: Int16) async throws {
        try await withBroker { client, configuration in
            let metadata = try await client.send(MetadataRequest(topics: []), version: 12)
            let response = try await client.send(DescribeClusterRequest(), version: version)
            #expect(response.errorCode == ErrorCode.none)
            #expect(response.clusterID == metadata.clusterID)
            #expect(response.controllerID == BrokerID(configuration.nodeID))
            #expect(response.brokers.map(\.brokerID) == [BrokerID(configuration.nodeID)])
            #expect(response.brokers.first?.port == metadata.brokers.first?.port)
            #expect(response.brokers.first?.host == "127.0.0.1")
            #expect(response.clusterAuthorizedOperations == Int32.min)
            let withOperations = try await client.send(
                DescribeClusterRequest(includeClusterAuthorizedOperations: true),
                version: version
            )
            #expect(withOperations.clusterAuthorizedOperations & (1 << 8) != 0)  // DESCRIBE
            #expect(withOperations.clusterAuthorizedOperations > 0)
            if version >= 1 {
                let controllers = try await client.send(DescribeClusterRequest(endpointType: 2), version: version)
                #expect(controllers.errorCode == .unsupportedEndpointType)
                #expect(controllers.endpointType == 2)
            }
        }
    }

    @Test func describeTopicPartitionsPagesWithTheCursor() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("alpha", partitions: 3)
            try await client.createTopic("beta", partitions: 2)
            func page(
                _ topics: [String],
                cursor: (String, Int32)?,
                limit: Int32
            ) async throws
                -> DescribeTopicPartitionsResponse
            {
                try await client.send(
                    DescribeTopicPartitionsRequest(
                        topics: topics.map { .init(name: TopicName($0)) },
                        responsePartitionLimit: limit,
                        cursor: cursor.map { .init(topicName: TopicName($0.0), partitionIndex: $0.1) }
                    ),
                    version: 0
                )
            }
            func summary(_ response: DescribeTopicPartitionsResponse) -> [String] {
                response.topics.map { topic in
                    "\(topic.name?.rawValue ?? "?"):\(topic.partitions.map { String($0.partitionIndex) }.joined(separator: ","))"
                }
            }
            let first = try await page([], cursor: nil, limit: 2)
            #expect(summary(first) == ["alpha:0,1"])
            #expect(first.nextCursor == .init(topicName: "alpha", partitionIndex: 2))
            let second = try await page([], cursor: ("alpha", 2), limit: 2)
            #expect(summary(second) == ["alpha:2", "beta:0"])
            #expect(second.nextCursor == .init(topicName: "beta", partitionIndex: 1))
            let third = try await page([], cursor: ("beta", 1), limit: 2)
            #expect(summary(third) == ["beta:1"])
            #expect(third.nextCursor == nil)
            let exact = try await page(["alpha", "beta"], cursor: nil, limit: 3)
            #expect(summary(exact) == ["alpha:0,1,2"])
            #expect(exact.nextCursor == .init(topicName: "beta", partitionIndex: 0))

            let partition = try #require(first.topics.first?.partitions.first)
            #expect(partition.leaderID == 1 && partition.replicaNodes == [1] && partition.isrNodes == [1])
            #expect(first.topics.first?.topicID != .zero)

            let named = try await page(["missing", "beta"], cursor: nil, limit: 2000)
            #expect(summary(named) == ["beta:0,1", "missing:"])
            #expect(named.topics.map(\.errorCode) == [.none, .unknownTopicOrPartition])
            let badCursor = try await page(["beta"], cursor: ("alpha", 0), limit: 10)
            #expect(badCursor.topics.map(\.errorCode) == [.invalidRequest])
        }
    }
}
