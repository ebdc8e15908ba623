import Logging
import NIOCore
import ServiceLifecycle
import SpateRecords
import SpateWire
import SpateBroker
import SpateTesting
import Synchronization
import Testing

@testable import SpateClient

@Suite struct ProducerConsumerTests {
    @Test(arguments: CompressionType.allCases)
    func roundTripEveryCodec(_ codec: CompressionType) async throws {
        try await withClientBroker { _, client in
            let admin = Admin(configuration: client)
            try await admin.createTopic(NewTopic(name: "round-trip", partitions: 2))
            var configuration = ProducerConfiguration(client: client)
            configuration.compression = codec
            configuration.batchSize = 8192
            let records = makeRecords(3000, topic: "round-trip", partitions: 2)
            let acknowledged = try await Producer.withProducer(configuration: configuration) { producer in
                // Some awaited one by one, the rest fire-and-forget.
                var metadata: [RecordMetadata] = []
                for record in records.prefix(50) {
                    metadata.append(try await producer.send(record))
                }
                for record in records.dropFirst(50) {
                    try await producer.enqueue(record)
                }
                try await producer.flush()
                return metadata
            }
            #expect(acknowledged.map(\.offset) == (0..<50).map { Int64($0 / 2) })
            #expect(acknowledged.map(\.partition) == (0..<50).map { Int32($0 % 2) })
            let consumed = try await consumeAll(
                client, partitions: [.init(topic: "round-trip", partition: 0), .init(topic: "round-trip", partition: 1)],
                count: records.count)
            #expect(consumed.count == records.count)
            for partition in Int32(0)...1 {
                let got = consumed.filter { $0.partition == partition }
                let expected = records.filter { $0.partition == partition }
                #expect(got.map(\.offset) == (0..<Int64(expected.count)).map { $0 })
                #expect(got.map(Content.init) == expected.map(Content.init))
            }
            await admin.close()
        }
    }

    @Test func enqueueContentsOfCallsBackOncePerRecordInOrder() async throws {
        try await withClientBroker { _, client in
            let admin = Admin(configuration: client)
            try await admin.createTopic(NewTopic(name: "callbacks", partitions: 2))
            var configuration = ProducerConfiguration(client: client)
            configuration.batchSize = 4096
            let records = makeRecords(2000, topic: "callbacks", partitions: 2)
            let delivered = Mutex<[RecordMetadata]>([])
            try await Producer.withProducer(configuration: configuration) { producer in
                for chunk in stride(from: 0, to: records.count, by: 300) {
                    try await producer.enqueue(contentsOf: Array(records[chunk..<min(chunk + 300, records.count)])) {
                        result in
                        if case .success(let metadata) = result { delivered.withLock { $0.append(metadata) } }
                    }
                }
                try await producer.enqueue(ProducerRecord(topic: "callbacks", partition: 0, value: "last")) { result in
                    if case .success(let metadata) = result { delivered.withLock { $0.append(metadata) } }
                }
                try await producer.flush()
            }
            let metadata = delivered.withLock { $0 }
            #expect(metadata.count == records.count + 1)
            for partition in Int32(0)...1 {
                let offsets = metadata.filter { $0.partition == partition }.map(\.offset).sorted()
                #expect(offsets == (0..<Int64(offsets.count)).map { $0 })
            }
            let consumed = try await consumeAll(
                client, partitions: [.init(topic: "callbacks", partition: 0), .init(topic: "callbacks", partition: 1)],
                count: records.count + 1)
            for partition in Int32(0)...1 {
                let expected = records.filter { $0.partition == partition }
                let got = consumed.filter { $0.partition == partition && $0.offset < Int64(expected.count) }
                #expect(got.map(Content.init) == expected.map(Content.init))
            }
            await admin.close()
        }
    }

    /// Records of separate calls that share a batch keep their own callbacks (a batch keeps one completion entry per
    /// call, not per record), and keyless records of one call move on to another partition when a batch fills.
    @Test func callsSharingABatchKeepTheirCallbacksAndFullBatchesMoveKeylessRecords() async throws {
        try await withClientBroker { _, client in
            let admin = Admin(configuration: client)
            try await admin.createTopic(NewTopic(name: "shared", partitions: 5))
            var configuration = ProducerConfiguration(client: client)
            configuration.linger = .seconds(10)
            configuration.batchSize = 2048
            let first = Mutex<[Int64]>([])
            let second = Mutex<[Int64]>([])
            let keyless = Mutex<[Int32]>([])
            try await Producer.withProducer(configuration: configuration) { producer in
                let explicit = { (n: Int) in (0..<n).map { ProducerRecord(topic: "shared", partition: 0, value: "\($0)") } }
                try await producer.enqueue(contentsOf: explicit(10)) { result in
                    if case .success(let metadata) = result { first.withLock { $0.append(metadata.offset) } }
                }
                try await producer.enqueue(contentsOf: explicit(8)) { result in
                    if case .success(let metadata) = result { second.withLock { $0.append(metadata.offset) } }
                }
                try await producer.enqueue(contentsOf: explicit(5))
                // ~100-byte records: about 18 to a 2 KiB batch, so 200 fill about 11 batches.
                let records = (0..<200).map { _ in ProducerRecord(topic: "shared", value: ByteBuffer(repeating: 1, count: 80)) }
                try await producer.enqueue(contentsOf: records) { result in
                    if case .success(let metadata) = result { keyless.withLock { $0.append(metadata.partition) } }
                }
                try await producer.flush()
            }
            #expect(first.withLock { $0 } == Array(0..<10))
            #expect(second.withLock { $0 } == Array(10..<18))
            let partitions = keyless.withLock { $0 }
            #expect(partitions.count == 200)
            #expect(Set(partitions).count > 1)
            await admin.close()
        }
    }

    /// Records handed over in one call without a timestamp get the time of the call (CreateTime), one reading for all.
    @Test func enqueueContentsOfStampsTheTimeOfTheCall() async throws {
        let delivered = Mutex<[RecordMetadata]>([])
        let window = Mutex<ClosedRange<Int64>>(0...0)
        try await withClientBroker { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: "stamped", partitions: 1))
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                // Caches the partition count, so that the call below takes the path without suspension.
                _ = try await producer.send(ProducerRecord(topic: "stamped", partition: 0, value: "first"))
                let before = Producer.nowMilliseconds()
                try await producer.enqueue(
                    contentsOf: (0..<50).map { ProducerRecord(topic: "stamped", partition: 0, value: "\($0)") }
                ) { result in
                    if case .success(let metadata) = result { delivered.withLock { $0.append(metadata) } }
                }
                let after = Producer.nowMilliseconds()
                window.withLock { $0 = before...after }
                try await producer.flush()
            }
        }
        let timestamps = Set(delivered.withLock { $0 }.map(\.timestamp))
        #expect(delivered.withLock { $0.count } == 50)
        #expect(timestamps.count == 1)
        let range = window.withLock { $0 }
        #expect(timestamps.allSatisfy { range.contains($0) })
    }

    @Test("An explicit partition the topic does not have fails the send (both the waiting and the cached path)")
    func explicitPartitionOutOfRange() async throws {
        try await withClientBroker { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: "one", partitions: 1))
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                for _ in 0..<2 {  // the second time the partition count is cached
                    await #expect(throws: KafkaClientError.self) {
                        _ = try await producer.send(ProducerRecord(topic: "one", partition: 3, value: "x"))
                    }
                    let sent = try await producer.send(ProducerRecord(topic: "one", partition: 0, value: "y"))
                    #expect(sent.partition == 0)
                }
            }
        }
    }

    @Test func sendReturnsPartitionOffsetAndTimestamp() async throws {
        try await withClientBroker { _, client in
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                let first = try await producer.send(
                    ProducerRecord(topic: "meta", partition: 0, value: "a", timestamp: 1_700_000_000_000))
                let second = try await producer.send(ProducerRecord(topic: "meta", partition: 0, value: "b"))
                #expect(first.topic == "meta")
                #expect(first.partition == 0)
                #expect(first.offset == 0)
                #expect(first.timestamp == 1_700_000_000_000)
                #expect(second.offset == 1)
                #expect(second.timestamp > 1_700_000_000_000)
            }
        }
    }

    @Test(arguments: [ProducerConfiguration.Acks.none, .leader, .all])
    func everyAcksSetting(_ acks: ProducerConfiguration.Acks) async throws {
        try await withClientBroker { _, client in
            var configuration = ProducerConfiguration(client: client)
            configuration.acks = acks
            let records = makeRecords(500, topic: "acks", partitions: 1)
            let offsets = try await Producer.withProducer(configuration: configuration) { producer in
                try await withThrowingTaskGroup(of: Int64.self) { group in
                    // Sends from one task keep their order; acks=0 has no offsets.
                    for record in records.prefix(3) { group.addTask { try await producer.send(record).offset } }
                    var offsets: [Int64] = []
                    for try await offset in group { offsets.append(offset) }
                    for record in records.dropFirst(3) { try await producer.enqueue(record) }
                    try await producer.flush()
                    return offsets.sorted()
                }
            }
            #expect(offsets == (acks == .none ? [-1, -1, -1] : [0, 1, 2]))
            let consumed = try await consumeAll(client, partitions: [.init(topic: "acks", partition: 0)], count: 500)
            #expect(Set(consumed.prefix(3).map(Content.init)) == Set(records.prefix(3).map(Content.init)))
            #expect(consumed.dropFirst(3).map(Content.init) == records.dropFirst(3).map(Content.init))
        }
    }

    @Test func keyedRecordsFollowMurmur2AndKeylessRecordsStick() async throws {
        try await withClientBroker { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: "spread", partitions: 5))
            var configuration = ProducerConfiguration(client: client)
            configuration.linger = .seconds(10)  // one batch per partition until flush
            let keyed = (0..<200).map { ProducerRecord(topic: "spread", key: "user-\($0)", value: "v\($0)") }
            let keyless = (0..<50).map { ProducerRecord(topic: "spread", value: "keyless \($0)") }
            try await Producer.withProducer(configuration: configuration) { producer in
                for record in keyed + keyless { try await producer.enqueue(record) }
                try await producer.flush()
            }
            let partitions = (0..<5).map { TopicPartition(topic: "spread", partition: Int32($0)) }
            let consumed = try await consumeAll(client, partitions: partitions, count: 250)
            for record in consumed where record.key != nil {
                #expect(
                    record.partition
                        == DefaultPartitioner.partition(forKey: record.key!, partitionCount: 5))
            }
            // Sticky: the keyless records, all in one open batch, went to a single partition.
            #expect(Set(consumed.filter { $0.key == nil }.map(\.partition)).count == 1)
        }
    }

    @Test func idempotentProducerStampsProducerIDAndContiguousSequences() async throws {
        try await withClientBroker { _, client in
            var configuration = ProducerConfiguration(client: client)
            configuration.batchSize = 1024  // many batches, several in flight
            configuration.linger = .zero
            #expect(configuration.isIdempotent)
            let records = makeRecords(2000, topic: "idempotent", partitions: 1)
            try await Producer.withProducer(configuration: configuration) { producer in
                for record in records { try await producer.enqueue(record) }
                try await producer.flush()
            }
            let kafka = KafkaClient(configuration: client)
            var batches: [RecordBatch] = []
            var offset: Int64 = 0
            while offset < 2000 {
                let response = try await kafka.send(to: nil, maxVersion: 12) { _ in
                    FetchRequest(
                        replicaID: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 24,
                        topics: [
                            .init(topic: "idempotent", partitions: [.init(partition: 0, fetchOffset: offset, partitionMaxBytes: 1 << 24)])
                        ])
                }
                let fetched = Array(response.responses[0].partitions[0].records.map { Array($0.batches) } ?? [])
                #expect(!fetched.isEmpty)
                batches += fetched
                offset = fetched.last?.nextOffset ?? offset
            }
            await kafka.shutdown()
            #expect(batches.count > 10)
            let producerIDs = Set(batches.map(\.producerID))
            #expect(producerIDs.count == 1)
            #expect(producerIDs.first! >= 0)
            var expectedSequence: Int32 = 0
            for batch in batches {
                #expect(batch.baseSequence == expectedSequence)
                #expect(batch.baseOffset == Int64(expectedSequence))
                expectedSequence += batch.recordCount
            }
            #expect(expectedSequence == 2000)
        }
    }

    @Test func nonIdempotentProducerSendsNoProducerID() async throws {
        try await withClientBroker { _, client in
            var configuration = ProducerConfiguration(client: client)
            configuration.acks = .leader
            #expect(!configuration.isIdempotent)
            try await Producer.withProducer(configuration: configuration) { producer in
                _ = try await producer.send(ProducerRecord(topic: "plain", partition: 0, value: "x"))
            }
            configuration.enableIdempotence = true
            #expect(throws: KafkaClientError.self) { try configuration.validate() }
        }
    }

    @Test func recordLargerThanMaxRequestSizeIsRefused() async throws {
        try await withClientBroker { _, client in
            var configuration = ProducerConfiguration(client: client)
            configuration.maxRequestSize = 1000
            try await Producer.withProducer(configuration: configuration) { producer in
                let error = await #expect(throws: KafkaClientError.self) {
                    _ = try await producer.send(
                        ProducerRecord(topic: "big", partition: 0, value: String(repeating: "x", count: 2000)))
                }
                #expect(error?.code == .invalidArgument)
            }
        }
    }

    @Test func gracefulShutdownOfAServiceGroupFlushesTheProducer() async throws {
        try await withClientBroker { _, client in
            var configuration = ProducerConfiguration(client: client)
            configuration.linger = .seconds(30)  // nothing would be sent before the shutdown without the flush
            let producer = try Producer(configuration: configuration)
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let group = ServiceGroup(configuration: .init(services: [producer], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                for i in 0..<100 { try await producer.enqueue(ProducerRecord(topic: "shutdown", partition: 0, value: "v\(i)")) }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let refused = await #expect(throws: KafkaClientError.self) {
                try await producer.enqueue(ProducerRecord(topic: "shutdown", partition: 0, value: "late"))
            }
            #expect(refused?.code == .shutDown)
            let consumed = try await consumeAll(client, partitions: [.init(topic: "shutdown", partition: 0)], count: 100)
            #expect(consumed.map { $0.value!.string } == (0..<100).map { "v\($0)" })
        }
    }

    @Test func batchFailingForGoodDoesNotTakeTheNextOnesDown() async throws {
        try await withClientBroker { _, client in
            try await Admin(configuration: client).createTopic(
                NewTopic(name: "gap", partitions: 1, configs: ["max.message.bytes": "500"]))
            var configuration = ProducerConfiguration(client: client)
            configuration.batchSize = 100  // one record per batch, several batches in flight
            configuration.linger = .zero
            let values = ["small 1", String(repeating: "x", count: 1000), "small 2", "small 3"]
            try await Producer.withProducer(configuration: configuration) { producer in
                for value in values {
                    try await producer.enqueue(ProducerRecord(topic: "gap", partition: 0, value: value))
                }
                let error = await #expect(throws: KafkaClientError.self) { try await producer.flush() }
                #expect(error?.kafkaErrorCode == .messageTooLarge)
                #expect(error?.message.contains("1 record(s)") == true)
            }
            let consumed = try await consumeAll(client, partitions: [.init(topic: "gap", partition: 0)], count: 3)
            #expect(consumed.map { $0.value!.string } == ["small 1", "small 2", "small 3"])
        }
    }

    /// Records for a topic deleted after the producer learnt of it wait (the partition has no leader any more) and
    /// fail with `timedOut` once the delivery timeout has passed, each reported once; the producer stays usable.
    @Test(.timeLimit(.minutes(1))) func queuedRecordsExpireAfterTheDeliveryTimeout() async throws {
        try await withClientBroker(configure: { $0.topics.autoCreateTopicsEnable = false }) { _, client in
            let admin = Admin(configuration: client)
            try await admin.createTopic(NewTopic(name: "doomed", partitions: 1))
            try await admin.createTopic(NewTopic(name: "kept", partitions: 1))
            var configuration = ProducerConfiguration(client: client)
            configuration.deliveryTimeout = .seconds(2)
            try await Producer.withProducer(configuration: configuration) { producer in
                _ = try await producer.send(ProducerRecord(topic: "doomed", value: "before"))
                try await admin.deleteTopic("doomed")
                let failures = Mutex<[KafkaClientError.Code]>([])
                let started = ContinuousClock.now
                try await producer.enqueue(contentsOf: (0..<3).map { ProducerRecord(topic: "doomed", value: "after \($0)") }) {
                    result in
                    if case .failure(let error) = result { failures.withLock { $0.append(error.code) } }
                }
                try await producer.flush()
                #expect(failures.withLock { $0 } == [.timedOut, .timedOut, .timedOut])
                #expect(ContinuousClock.now - started >= .seconds(2))
                let kept = try await producer.send(ProducerRecord(topic: "kept", value: "still works"))
                #expect(kept.offset == 0)
            }
            await admin.close()
        }
    }

    @Test func brokerErrorIsTypedAndNotRetried() async throws {
        try await withClientBroker(configure: { $0.topics.autoCreateTopicsEnable = true }) { _, client in
            try await Admin(configuration: client).createTopic(
                NewTopic(name: "small", partitions: 1, configs: ["max.message.bytes": "200"]))
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                let error = await #expect(throws: KafkaClientError.self) {
                    _ = try await producer.send(
                        ProducerRecord(topic: "small", partition: 0, value: String(repeating: "x", count: 1000)))
                }
                #expect(error?.kafkaErrorCode == .messageTooLarge)
                #expect(error?.isRetriable == false)
                // The producer carries on (with a new producer ID) after the failed batch.
                let next = try await producer.send(ProducerRecord(topic: "small", partition: 0, value: "ok"))
                #expect(next.offset == 0)
            }
        }
    }
}
