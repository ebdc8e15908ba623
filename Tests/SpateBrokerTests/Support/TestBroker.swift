import Glibc
import Logging
import NIOCore
import ServiceLifecycle
import SpateBroker
import SpateRecords
import SpateStorage
import SpateWire

/// A real broker in this process on an ephemeral port with a fresh data directory, for the duration of `body`.
///
/// The broker runs in a `ServiceGroup`; the test waits for `onListening` (no sleeps), talks to it over TCP with
/// ``TestClient``, then shuts it down gracefully and removes the data directory.
func withBroker<T: Sendable>(
    configure: (inout BrokerConfiguration) -> Void = { _ in },
    _ body: (TestClient, BrokerConfiguration) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    var configuration = BrokerConfiguration()
    configuration.network.host = "127.0.0.1"
    configuration.network.port = 0
    configuration.storage.dataDirectory = directory.path
    configuration.storage.ioThreads = 2
    configure(&configuration)
    let logger = Logger(label: "spate.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let broker = Broker(configuration: configuration, logger: logger, onListening: { portContinuation.yield($0) })
    let group = ServiceGroup(configuration: .init(services: [broker], logger: logger))
    let finalConfiguration = configuration
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { tasks in
        tasks.addTask {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await tasks.waitForAll()
            throw TestClientError("the broker stopped before listening")
        }
        let client: TestClient
        do {
            client = try await TestClient.connect(port: port)
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client, finalConfiguration))
        } catch {
            result = .failure(error)
        }
        try? await client.close()
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/spate-broker-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        self.path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() {
        try? PosixFileSystem().remove(self.path)
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
