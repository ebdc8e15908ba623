import Logging
import NIOCore
import SpateBroker
import SpateTesting
import SpateRecords
import SpateStorage
import SpateWire

/// A real broker in this process (``EmbeddedBroker``) and a connected ``TestClient``, for the duration of `body`.
/// The broker reports its port when it listens (no sleeps); it is shut down gracefully afterwards.
func withBroker<T: Sendable>(
    configure: (inout BrokerConfiguration) -> Void = { _ in },
    _ body: (TestClient, BrokerConfiguration) async throws -> T
) async throws -> T {
    try await EmbeddedBroker.run(configure: configure) { broker in
        let client = try await TestClient.connect(port: broker.port)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client, broker.configuration))
        } catch {
            result = .failure(error)
        }
        try? await client.close()
        return try result.get()
    }
}

/// One record batch of `count` records with values `prefix-N`.
func makeBatch(
    count: Int = 1,
    prefix: String = "value",
    valueSize: Int? = nil,
    timestamp: Int64 = 1_000
) throws
    -> RecordSet
{
    var builder = RecordBatchBuilder()
    for index in 0..<count {
        let value = valueSize.map { String(repeating: "x", count: $0) } ?? "\(prefix)-\(index)"
        builder.append(key: nil, value: ByteBuffer(string: value), timestamp: timestamp + Int64(index))
    }
    return RecordSet(buffer: try builder.build(compressor: nil))
}

extension TestClient {
    /// Creates a topic (CreateTopics v7) and checks that it worked.
    @discardableResult
    func createTopic(
        _ name: String,
        partitions: Int32 = 1,
        configs: [String: String] = [:]
    ) async throws
        -> CreateTopicsResponse.CreatableTopicResult
    {
        let response = try await self.send(
            CreateTopicsRequest(
                topics: [
                    .init(
                        name: TopicName(name),
                        numPartitions: partitions,
                        replicationFactor: 1,
                        configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }
                    )
                ],
                timeoutMs: 10_000
            ),
            version: 7
        )
        guard let result = response.topics.first, result.errorCode == .none else {
            throw TestClientError("creating \(name) failed: \(response)")
        }
        return result
    }

    /// Produces one batch with acks=1 (Produce v11) and returns the partition's response.
    func produce(
        _ topic: String,
        partition: Int32 = 0,
        _ records: RecordSet
    ) async throws -> ProduceResponse.PartitionProduceResponse {
        let response = try await self.send(
            ProduceRequest(
                acks: 1,
                timeoutMs: 10_000,
                topicData: [.init(name: TopicName(topic), partitionData: [.init(index: partition, records: records)])]
            ),
            version: 11
        )
        guard let result = response.responses.first?.partitionResponses.first else {
            throw TestClientError("no partition in \(response)")
        }
        return result
    }

    /// The earliest (-2) or latest (-1) offset of a partition (ListOffsets v10).
    func offset(_ topic: String, partition: Int32 = 0, at timestamp: Int64) async throws -> Int64 {
        let response = try await self.send(
            ListOffsetsRequest(
                replicaID: -1,
                topics: [
                    .init(name: TopicName(topic), partitions: [.init(partitionIndex: partition, timestamp: timestamp)])
                ]
            ),
            version: 10
        )
        guard let result = response.topics.first?.partitions.first, result.errorCode == .none else {
            throw TestClientError("ListOffsets failed: \(response)")
        }
        return result.offset
    }

    /// A topic's configs by name (DescribeConfigs v4 with synonyms).
    func topicConfigs(_ topic: String) async throws -> [String: DescribeConfigsResponse.DescribeConfigsResourceResult] {
        let response = try await self.send(
            DescribeConfigsRequest(
                resources: [.init(resourceType: 2, resourceName: topic, configurationKeys: nil)],
                includeSynonyms: true
            ),
            version: 4
        )
        guard let result = response.results.first, result.errorCode == .none else {
            throw TestClientError("DescribeConfigs failed: \(response)")
        }
        return Dictionary(uniqueKeysWithValues: result.configs.map { ($0.name, $0) })
    }
}
