#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import SpateRecords
import SpateWire
import SpateBroker
import SpateTesting
import Testing

@testable import SpateClient

@Suite struct ConsumerTests {
    @Test func seekToOffsetTimestampBeginningAndEnd() async throws {
        try await withClientBroker { _, client in
            let records = (0..<10).map {
                ProducerRecord(topic: "seek", partition: 0, value: "v\($0)", timestamp: 1_000_000 + Int64($0) * 1000)
            }
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                for record in records { _ = try await producer.send(record) }
            }
            let tp = TopicPartition(topic: "seek", partition: 0)
            let consumer = try Consumer(configuration: ConsumerConfiguration(client: client))
            await consumer.assign([tp: .offset(4)])
            #expect(try await consumer.poll().first?.offset == 4)
            try await consumer.seek(tp, to: .timestamp(1_006_500))
            #expect(try await consumer.position(of: tp) == 7)
            #expect(try await consumer.poll().map(\.offset) == [7, 8, 9])
            try await consumer.seek(tp, to: .beginning)
            #expect(try await consumer.poll().map(\.offset) == Array(0...9))
            try await consumer.seek(tp, to: .end)
            #expect(try await consumer.position(of: tp) == 10)
            try await consumer.seek(tp, to: .timestamp(9_999_999_999))
            #expect(try await consumer.position(of: tp) == 10)
            #expect(await consumer.highWatermark(of: tp) == 10)
            await consumer.close()
        }
    }

    @Test(arguments: [ConsumerConfiguration.OffsetReset.earliest, .latest, .nearest, .none])
    func outOfRangePositions(_ reset: ConsumerConfiguration.OffsetReset) async throws {
        try await withClientBroker { _, client in
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                for i in 0..<10 { try await producer.enqueue(ProducerRecord(topic: "range", partition: 0, value: "v\(i)")) }
                try await producer.flush()
            }
            let tp = TopicPartition(topic: "range", partition: 0)
            _ = try await Admin(configuration: client).deleteRecords(before: [tp: 3])
            var configuration = ConsumerConfiguration(client: client)
            configuration.autoOffsetReset = reset
            let consumer = try Consumer(configuration: configuration)
            for (start, expected) in [(Int64(1), reset == .latest ? 10 : 3), (50, reset == .earliest ? 3 : 10)] {
                await consumer.assign([tp: .offset(start)])
                if reset == .none {
                    let error = await #expect(throws: KafkaClientError.self) { _ = try await consumer.poll() }
                    #expect(error?.kafkaErrorCode == .offsetOutOfRange)
                    continue
                }
                #expect(try await consumer.poll().isEmpty)
                #expect(try await consumer.position(of: tp) == Int64(expected), "from \(start)")
            }
            await consumer.close()
        }
    }

    @Test func pauseAndResume() async throws {
        try await withClientBroker { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: "pause", partitions: 2))
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                for i in 0..<6 { try await producer.enqueue(ProducerRecord(topic: "pause", partition: Int32(i % 2), value: "v\(i)")) }
                try await producer.flush()
            }
            let p0 = TopicPartition(topic: "pause", partition: 0)
            let p1 = TopicPartition(topic: "pause", partition: 1)
            let consumer = try Consumer(configuration: ConsumerConfiguration(client: client))
            await consumer.assign([p0, p1], from: .beginning)
            await consumer.pause([p1])
            #expect(await consumer.pausedPartitions == [p1])
            let first = try await consumer.poll()
            #expect(Set(first.map(\.partition)) == [0])
            #expect(first.count == 3)
            await consumer.resume([p1])
            let second = try await consumer.poll()
            #expect(second.map(\.partition) == [1, 1, 1])
            await consumer.close()
        }
    }

    @Test func recordsAsyncSequenceFollowsNewRecords() async throws {
        try await withClientBroker { _, client in
            let consumer = try Consumer(configuration: ConsumerConfiguration(client: client))
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                _ = try await producer.send(ProducerRecord(topic: "follow", partition: 0, value: "before"))
                try await consumer.assign(topic: "follow", from: .end)
                _ = try await consumer.position(of: TopicPartition(topic: "follow", partition: 0))
                for i in 0..<3 { _ = try await producer.send(ProducerRecord(topic: "follow", partition: 0, value: "after \(i)")) }
            }
            var values: [String] = []
            for try await record in consumer.records {
                values.append(record.value!.string)
                if values.count == 3 { break }
            }
            #expect(values == ["after 0", "after 1", "after 2"])
            await consumer.close()
        }
    }

    @Test func unknownTopicFailsAtOnce() async throws {
        try await withClientBroker { _, client in
            var configuration = client
            configuration.allowAutoTopicCreation = false
            let consumer = try Consumer(configuration: ConsumerConfiguration(client: configuration))
            let started = ContinuousClock.now
            let error = await #expect(throws: KafkaClientError.self) {
                try await consumer.assign(topic: "does-not-exist", from: .beginning)
            }
            #expect(error?.code == .unknownTopic)
            #expect(error?.kafkaErrorCode == .unknownTopicOrPartition)
            #expect(ContinuousClock.now - started < .seconds(5))
            await consumer.close()
        }
    }

    @Test func unsupportedGroupSettingsAreRefused() async throws {
        var configuration = ConsumerConfiguration()
        configuration.groupID = "g"
        configuration.groupProtocol = .consumer
        configuration.serverAssignor = ""
        #expect(throws: KafkaClientError.self) { try Consumer(configuration: configuration) }
        configuration.serverAssignor = nil
        configuration.groupProtocol = .classic
        configuration.assignors = []
        #expect(throws: KafkaClientError.self) { try Consumer(configuration: configuration) }
        let standalone = try Consumer(configuration: ConsumerConfiguration())
        await #expect(throws: KafkaClientError.self) { try await standalone.subscribe(["t"]) }
        await #expect(throws: KafkaClientError.self) { try await standalone.subscribe(pattern: "t.*") }
        await #expect(throws: KafkaClientError.self) { try await standalone.commit(offsets: [TopicPartition(topic: "t", partition: 0): 1]) }
        await standalone.close()
    }
}

@Suite struct AdminTests {
    @Test func topicLifecycleConfigsPartitionsAndRecords() async throws {
        try await withClientBroker { broker, client in
            let admin = Admin(configuration: client)
            try await admin.createTopic(NewTopic(name: "admin", partitions: 2, configs: ["retention.ms": "3600000"]))
            let duplicate = await #expect(throws: KafkaClientError.self) {
                try await admin.createTopic(NewTopic(name: "admin", partitions: 2))
            }
            #expect(duplicate?.kafkaErrorCode == .topicAlreadyExists)

            #expect(try await admin.listTopics().map(\.name).contains("admin"))
            let described = try await admin.describeTopic("admin")
            #expect(described.partitions.map(\.partition) == [0, 1])
            #expect(described.topicID != .zero)

            var configs = try await admin.describeConfigs(.topic("admin"))
            #expect(configs.first { $0.name == "retention.ms" }?.value == "3600000")
            #expect(configs.first { $0.name == "retention.ms" }?.source == .dynamicTopic)
            try await admin.incrementalAlterConfigs(
                .topic("admin"), [.set("cleanup.policy", "compact"), .delete("retention.ms")])
            configs = try await admin.describeConfigs(.topic("admin"), names: ["cleanup.policy", "retention.ms"])
            #expect(configs.first { $0.name == "cleanup.policy" }?.value == "compact")
            #expect(configs.first { $0.name == "retention.ms" }?.isDefault == true)

            try await admin.createPartitions("admin", totalCount: 4)
            #expect(try await admin.describeTopic("admin").partitions.count == 4)

            try await admin.incrementalAlterConfigs(.topic("admin"), [.set("cleanup.policy", "delete")])
            try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
                for i in 0..<10 { try await producer.enqueue(ProducerRecord(topic: "admin", partition: 0, value: "v\(i)")) }
                try await producer.flush()
            }
            let tp = TopicPartition(topic: "admin", partition: 0)
            #expect(try await admin.deleteRecords(before: [tp: 4]) == [tp: 4])
            let offsets = try await admin.listOffsets([tp: .earliest])
            #expect(offsets[tp]?.offset == 4)
            #expect(try await admin.listOffsets([tp: .latest])[tp]?.offset == 10)

            let cluster = try await admin.describeCluster()
            #expect(cluster.brokers.map(\.port) == [broker.port])
            #expect(!cluster.clusterID.isEmpty)

            try await admin.deleteTopic("admin")
            let gone = await #expect(throws: KafkaClientError.self) { try await admin.describeTopic("admin") }
            #expect(gone?.code == .unknownTopic)
            await admin.close()
        }
    }

    @Test func negotiatesTheHighestCommonVersion() async throws {
        try await withClientBroker { _, client in
            let kafka = KafkaClient(configuration: client)
            let produce = try await kafka.negotiatedVersion(of: ProduceRequest.self, node: nil)
            let fetch = try await kafka.negotiatedVersion(of: FetchRequest.self, node: nil)
            let advertised = try await kafka.send(to: nil) { _ in ApiVersionsRequest() }.apiKeys
            let broker = Dictionary(uniqueKeysWithValues: advertised.map { ($0.apiKey, $0.maxVersion) })
            #expect(produce == min(ProduceRequest.supportedVersions.upperBound, broker[0]!))
            #expect(fetch == min(FetchRequest.supportedVersions.upperBound, broker[1]!))
            await kafka.shutdown()
        }
    }
}

@Suite struct FailureTests {
    /// A port nothing listens on: bind one, note it, close it.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func unreachableBrokerFailsClearlyWithinTheTimeout() async throws {
        var client = ClientConfiguration(bootstrapServers: [BrokerAddress(host: "127.0.0.1", port: try Self.closedPort())])
        client.operationTimeout = .seconds(2)
        var configuration = ProducerConfiguration(client: client)
        configuration.maxBlock = .seconds(2)
        let started = ContinuousClock.now
        try await Producer.withProducer(configuration: configuration) { producer in
            let error = await #expect(throws: KafkaClientError.self) {
                _ = try await producer.send(ProducerRecord(topic: "t", value: "x"))
            }
            #expect(error?.code == .connectionFailed)
            #expect(error?.message.contains("cannot connect") == true)
            #expect(error?.isRetriable == true)
        }
        // The configured 2 s, not the 60 s default. The bound is loose because the whole suite runs in parallel in
        // this process on two cores; tests/interop/test_spate_client.py checks the CLI's timing (a process of its
        // own) closely.
        #expect(ContinuousClock.now - started < .seconds(30))

        let admin = Admin(configuration: client)
        let adminStarted = ContinuousClock.now
        let adminError = await #expect(throws: KafkaClientError.self) { _ = try await admin.listTopics() }
        #expect(adminError?.code == .connectionFailed)
        #expect(ContinuousClock.now - adminStarted < .seconds(30))
        await admin.close()
    }

    /// A listener that accepts TCP connections (the kernel does, into its backlog) but never answers.
    @Test func silentBrokerTimesOutRequests() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(listen(fd, 16) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var client = ClientConfiguration(
            bootstrapServers: [BrokerAddress(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))])
        client.requestTimeout = .milliseconds(300)
        client.operationTimeout = .seconds(1)
        let admin = Admin(configuration: client)
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaClientError.self) { _ = try await admin.describeCluster() }
        #expect(error?.message.contains("no response from the broker within the request timeout") == true)
        #expect(error?.isRetriable == true)
        #expect(ContinuousClock.now - started < .seconds(30))
        await admin.close()
    }

    @Test func bootstrapSkipsDeadBrokers() async throws {
        try await withClientBroker { broker, client in
            var configuration = client
            configuration.bootstrapServers = [
                BrokerAddress(host: "127.0.0.1", port: try Self.closedPort()),
                BrokerAddress(host: broker.host, port: broker.port),
            ]
            let admin = Admin(configuration: configuration)
            #expect(try await admin.describeCluster().brokers.count == 1)
            await admin.close()
        }
    }

    @Test func brokerAddressParsing() throws {
        #expect(try BrokerAddress.parseList("a:1,b:2") == [.init(host: "a", port: 1), .init(host: "b", port: 2)])
        #expect(try BrokerAddress.parseList("host") == [.init(host: "host", port: 9092)])
        #expect(try BrokerAddress.parseList("[::1]:9093") == [.init(host: "::1", port: 9093)])
        #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("a:b") }
        #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("") }
    }
}
