import NIOCore
import SpateWire
import Testing

@testable import SpateClient

/// The order of partitions in Fetch requests (partitions that returned records go to the back, KIP-74) and the
/// 15 MiB cap on a request's maxBytes.
@Suite struct FetchOrderTests {
    func tp(_ topic: String, _ partition: Int32) -> TopicPartition { TopicPartition(topic: topic, partition: partition) }

    @Test func newPartitionsComeFirstSortedAndServedOnesGoToTheBack() {
        var order = FetchOrder()
        let all = (0..<4).map { self.tp("t", $0) }
        #expect(order.arrange(all.reversed()) == all)
        order.moveToEnd([self.tp("t", 0), self.tp("t", 1)])
        #expect(order.partitions == [self.tp("t", 2), self.tp("t", 3), self.tp("t", 0), self.tp("t", 1)])
        // Partitions served move in the order given; unknown and repeated ones are ignored.
        order.moveToEnd([self.tp("t", 3), self.tp("x", 0), self.tp("t", 2), self.tp("t", 3)])
        #expect(order.partitions == [self.tp("t", 0), self.tp("t", 1), self.tp("t", 3), self.tp("t", 2)])
        order.moveToEnd([])
        #expect(order.partitions == [self.tp("t", 0), self.tp("t", 1), self.tp("t", 3), self.tp("t", 2)])
    }

    @Test func arrangeKeepsTheOrderForgetsUnwantedAndPutsNewOnesFirst() {
        var order = FetchOrder()
        _ = order.arrange([self.tp("a", 0), self.tp("a", 1), self.tp("b", 0)])
        order.moveToEnd([self.tp("a", 0)])
        // a-1 is paused (not wanted), b-1 is new.
        let arranged = order.arrange([self.tp("a", 0), self.tp("b", 0), self.tp("b", 1)])
        #expect(arranged == [self.tp("b", 1), self.tp("b", 0), self.tp("a", 0)])
        // Resumed, a-1 counts as new: first.
        let resumed = order.arrange([self.tp("a", 0), self.tp("a", 1), self.tp("b", 0), self.tp("b", 1)])
        #expect(resumed == [self.tp("a", 1), self.tp("b", 1), self.tp("b", 0), self.tp("a", 0)])
    }

    /// Rotating every served partition through 8 partitions when each response holds two: each is served once in
    /// four fetches.
    @Test func rotationServesEveryPartitionInTurn() {
        var order = FetchOrder()
        let all = (0..<8).map { self.tp("t", $0) }
        var served: [TopicPartition] = []
        for _ in 0..<4 {
            let fetched = order.arrange(all)
            let first = Array(fetched.prefix(2))  // the response's limit holds two partitions' records
            served += first
            order.moveToEnd(first)
        }
        #expect(Set(served) == Set(all))
        #expect(served.count == 8)
    }

    func request(
        _ partitions: [TopicPartition], maxBytes: Int32? = nil, version: Int16 = 12
    ) -> FetchRequest {
        var configuration = ConsumerConfiguration()
        if let maxBytes { configuration.maxBytes = maxBytes }
        let offsets = Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(0)) })
        return Consumer.makeFetchRequest(
            partitions: partitions, offsets: offsets, topicIDs: [:], version: version, maxWait: .milliseconds(500),
            configuration: configuration)
    }

    @Test func maxBytesIsCappedBelow16MiB() {
        // The default, 50 MiB, is asked as 15 MiB: responses stay where NIO slices without copying.
        #expect(Consumer.maxFetchBytes == 15 << 20)
        #expect(Int(Consumer.maxFetchBytes) + (1 << 20) <= 1 << 24)
        #expect(self.request([self.tp("t", 0)]).maxBytes == 15 << 20)
        #expect(self.request([self.tp("t", 0)], maxBytes: 16 << 20).maxBytes == 15 << 20)
        // A smaller setting is sent as it is.
        #expect(self.request([self.tp("t", 0)], maxBytes: 1 << 20).maxBytes == 1 << 20)
    }

    @Test func partitionsAreListedInTheOrderGivenConsecutiveOnesOfATopicTogether() {
        let request = self.request([self.tp("b", 2), self.tp("b", 0), self.tp("a", 1), self.tp("b", 1)])
        let listed = request.topics.map { topic in (topic.topic.rawValue, topic.partitions.map(\.partition)) }
        #expect(listed.map(\.0) == ["b", "a", "b"])
        #expect(listed.map(\.1) == [[2, 0], [1], [1]])
    }

    /// Responses that hold one batch (maxBytes 1, KIP-74: the first batch still comes whole): the partitions take
    /// turns instead of the first one being read to its end before the next gets anything.
    @Test func responsesTooSmallForEveryPartitionStarveNone() async throws {
        let (turns, offsets) = try await withClientBroker { _, client in
            let topic = "turns"
            try await produceOneRecordBatches(topic: topic, partitions: 4, batches: 3, prefixPartition: false, client: client)
            var configuration = ConsumerConfiguration(client: client)
            configuration.maxBytes = 1
            let consumer = try Consumer(configuration: configuration)
            try await consumer.assign(topic: TopicName(topic), from: .beginning)
            var turns: [[Int32]] = []
            var offsets: [Int32: [Int64]] = [:]
            while offsets.values.map(\.count).reduce(0, +) < 12 {
                let records = try await consumer.poll(maxWait: .milliseconds(100))
                guard !records.isEmpty else { continue }
                turns.append(records.map(\.partition))
                for record in records { offsets[record.partition, default: []].append(record.offset) }
            }
            await consumer.close()
            return (turns, offsets)
        }
        // Each poll got one partition's batch; every run of four polls served the four partitions.
        #expect(turns.allSatisfy { $0.count == 1 })
        let served = turns.map { $0[0] }
        #expect(served.count == 12)
        for start in stride(from: 0, to: served.count, by: 4) {
            #expect(Set(served[start..<min(start + 4, served.count)]) == [0, 1, 2, 3])
        }
        #expect(offsets == [0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 1, 2], 3: [0, 1, 2]])
    }
}
