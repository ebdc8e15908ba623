import NIOCore
import SpateBroker
import SpateClient
import SpateTesting
import SpateWire

/// A real broker in this process (``EmbeddedBroker``, ephemeral port, temporary directory) and a client
/// configuration pointing at it.
func withClientBroker<T: Sendable>(
    configure: (inout BrokerConfiguration) -> Void = { _ in },
    _ body: (EmbeddedBroker, ClientConfiguration) async throws -> T
) async throws -> T {
    try await EmbeddedBroker.run(configure: configure) { broker in
        var configuration = ClientConfiguration(bootstrapServers: [BrokerAddress(host: broker.host, port: broker.port)])
        configuration.clientID = "spate-client-tests"
        configuration.operationTimeout = .seconds(30)
        return try await body(broker, configuration)
    }
}

/// Consumes until `count` records arrived from `partitions` (read from the beginning), or fails after `timeout`.
func consumeAll(
    _ configuration: ClientConfiguration, partitions: [TopicPartition], count: Int,
    timeout: Duration = .seconds(30)
) async throws -> [ConsumerRecord] {
    let consumer = try Consumer(configuration: ConsumerConfiguration(client: configuration))
    await consumer.assign(partitions, from: .beginning)
    var records: [ConsumerRecord] = []
    let deadline = ContinuousClock.now + timeout
    while records.count < count {
        guard ContinuousClock.now < deadline else {
            await consumer.close()
            throw TestFailure("consumed \(records.count) of \(count) records within \(timeout)")
        }
        records += try await consumer.poll(maxWait: .milliseconds(200))
    }
    // Nothing beyond the expected records.
    records += try await consumer.poll(maxWait: .milliseconds(50))
    await consumer.close()
    return records
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ByteBuffer {
    var string: String { String(buffer: self) }
}

/// A record's observable content: key, value and headers as text.
struct Content: Hashable, CustomStringConvertible {
    var key: String?
    var value: String?
    var headers: [String]

    init(_ record: ConsumerRecord) {
        self.key = record.key?.string
        self.value = record.value?.string
        self.headers = record.headers.map { "\($0.key)=\($0.value?.string ?? "null")" }
    }

    init(_ record: ProducerRecord) {
        self.key = record.key?.string
        self.value = record.value?.string
        self.headers = record.headers.map { "\($0.key)=\($0.value?.string ?? "null")" }
    }

    var description: String { "(\(self.key ?? "null"), \(self.value ?? "null"), \(self.headers))" }
}

/// Deterministic records: keys on four of five, a null value every seventh, headers on two of three.
func makeRecords(_ count: Int, topic: String, partitions: Int32? = nil) -> [ProducerRecord] {
    (0..<count).map { i in
        ProducerRecord(
            topic: topic, partition: partitions.map { Int32(i) % $0 }, key: i % 5 == 0 ? nil : "key-\(i)",
            value: i % 7 == 3 ? nil : String(repeating: "value \(i) ", count: 1 + i % 4),
            headers: i % 3 == 0 ? [] : [("seq", "\(i)"), ("origin", "spate-tests")])
    }
}

/// Creates `topic` with `partitions` partitions and writes `batches` one-record batches to each, one send at a time
/// (linger 0), with values "PARTITION-BATCH" (or "BATCH" without `prefixPartition`).
func produceOneRecordBatches(
    topic: String, partitions: Int32, batches: Int, prefixPartition: Bool = true, client: ClientConfiguration
) async throws {
    try await Admin(configuration: client).createTopic(NewTopic(name: TopicName(topic), partitions: partitions))
    var producerConfiguration = ProducerConfiguration(client: client)
    producerConfiguration.linger = .zero
    try await Producer.withProducer(configuration: producerConfiguration) { producer in
        for partition in Int32(0)..<partitions {
            for batch in 0..<batches {
                let value = prefixPartition ? "\(partition)-\(batch)" : "\(batch)"
                _ = try await producer.send(ProducerRecord(topic: topic, partition: partition, value: value))
            }
        }
    }
}
