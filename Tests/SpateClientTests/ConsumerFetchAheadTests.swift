import NIOCore
import SpateRecords
import SpateWire
import Testing

@testable import SpateClient

/// The positions a fetch result will leave, read from batch headers before the records are decoded (the fetch ahead
/// goes out from them), and the fetch ahead against a real broker.
@Suite struct ConsumerFetchAheadTests {
    let tp = TopicPartition(topic: "t", partition: 0)
    let other = TopicPartition(topic: "t", partition: 1)

    /// A batch of `count` records starting at `baseOffset`.
    func batch(at baseOffset: Int64, count: Int, control: Bool = false) throws -> ByteBuffer {
        if control {
            return try RecordBatchBuilder.makeEndTransactionBatch(
                marker: EndTransactionMarker(type: .commit, coordinatorEpoch: 0), producerID: 1, producerEpoch: 0,
                timestamp: 0, baseOffset: baseOffset)
        }
        var builder = RecordBatchBuilder(baseOffset: baseOffset)
        for i in 0..<count { builder.append(key: nil, value: ByteBuffer(string: "v\(i)"), timestamp: 0) }
        return try builder.build(compressor: nil)
    }

    func result(
        _ partitions: [(Int32, ErrorCode, [ByteBuffer]?)], topLevel: ErrorCode = .none
    ) -> Consumer.FetchResult {
        let data = partitions.map { index, error, batches in
            FetchResponse.PartitionData(
                partitionIndex: index, errorCode: error,
                records: batches.map { list in
                    var all = ByteBuffer()
                    for var batch in list { all.writeBuffer(&batch) }
                    return RecordSet(buffer: all)
                })
        }
        let response = FetchResponse(
            errorCode: topLevel, responses: [FetchResponse.FetchableTopicResponse(topic: "t", partitions: data)])
        return (BrokerID(1), [self.tp, self.other], .success(response))
    }

    @Test func movesPastTheLastWholeBatchAndKeepsPartitionsWithoutRecords() throws {
        let results = [self.result([(0, .none, [try self.batch(at: 0, count: 3), try self.batch(at: 3, count: 2)])])]
        let next = Consumer.positions(after: results, from: [self.tp: 0, self.other: 7], topicNames: [:])
        #expect(next == [self.tp: 5, self.other: 7])
    }

    @Test func skipsBatchesBeforeThePositionAndCountsOneThatHoldsIt() throws {
        // The broker returns whole batches: the first ends before the position, the second holds it.
        let results = [self.result([(0, .none, [try self.batch(at: 0, count: 3), try self.batch(at: 3, count: 4)])])]
        #expect(Consumer.positions(after: results, from: [self.tp: 5], topicNames: [:]) == [self.tp: 7])
        // Only batches ending before the position: nothing moves.
        #expect(Consumer.positions(after: results, from: [self.tp: 9], topicNames: [:]) == nil)
    }

    @Test func ignoresATrailingPartialBatchAndCountsControlBatches() throws {
        var partial = try self.batch(at: 4, count: 5)
        partial.moveWriterIndex(to: partial.writerIndex - 10)
        let results = [
            self.result([(0, .none, [try self.batch(at: 0, count: 3), try self.batch(at: 3, count: 0, control: true), partial])])
        ]
        #expect(Consumer.positions(after: results, from: [self.tp: 0], topicNames: [:]) == [self.tp: 4])
    }

    @Test func nothingAheadAfterAnErrorAFailureOrNoRecords() throws {
        let good = try self.batch(at: 0, count: 3)
        let fetched = [self.tp: Int64(0), self.other: 0]
        // A partition error (its handling may reset the position).
        #expect(
            Consumer.positions(after: [self.result([(0, .none, [good]), (1, .notLeaderOrFollower, nil)])], from: fetched, topicNames: [:])
                == nil)
        // A top-level error, and a failed request.
        #expect(
            Consumer.positions(after: [self.result([(0, .none, [good])], topLevel: .unknownServerError)], from: fetched, topicNames: [:])
                == nil)
        let failed: Consumer.FetchResult = (BrokerID(2), [self.other], .failure(KafkaClientError(.connectionClosed, "gone")))
        #expect(Consumer.positions(after: [self.result([(0, .none, [good])]), failed], from: fetched, topicNames: [:]) == nil)
        // No records at all: the next poll's fetch is the same one.
        #expect(Consumer.positions(after: [self.result([(0, .none, []), (1, .none, nil)])], from: fetched, topicNames: [:]) == nil)
        // A malformed record set (batchLength below the minimum) before any whole batch.
        var malformed = ByteBuffer()
        malformed.writeInteger(Int64(0))
        malformed.writeInteger(Int32(1))
        malformed.writeRepeatingByte(0, count: 60)
        #expect(Consumer.positions(after: [self.result([(0, .none, [malformed])])], from: fetched, topicNames: [:]) == nil)
    }

    @Test func topicsNamedByIDAreMapped() throws {
        let id = KafkaUUID(high: 1, low: 2)
        var response = FetchResponse(responses: [
            FetchResponse.FetchableTopicResponse(
                topicID: id,
                partitions: [FetchResponse.PartitionData(partitionIndex: 0, records: RecordSet(buffer: try self.batch(at: 0, count: 2)))])
        ])
        response.throttleTimeMs = 0
        let results: [Consumer.FetchResult] = [(BrokerID(1), [self.tp], .success(response))]
        #expect(Consumer.positions(after: results, from: [self.tp: 0], topicNames: [id: "t"]) == [self.tp: 2])
        #expect(Consumer.positions(after: results, from: [self.tp: 0], topicNames: [:]) == nil)
    }

    /// The record count a poll reserves room for: data batches' counts, control batches left out, each bounded by the
    /// batch's size.
    @Test func recordCountFromBatchHeaders() throws {
        var inflated = try self.batch(at: 5, count: 2)
        inflated.setInteger(Int32.max, at: inflated.readerIndex + RecordBatch.FieldOffset.recordCount)
        let results = [
            self.result([
                (0, .none, [try self.batch(at: 0, count: 3), try self.batch(at: 3, count: 0, control: true)]),
                (1, .none, [try self.batch(at: 0, count: 2), inflated]),
            ])
        ]
        let inflatedBound = inflated.readableBytes / 7
        #expect(Consumer.recordCount(in: results) == 3 + 2 + inflatedBound)
        let failed: Consumer.FetchResult = (BrokerID(2), [self.other], .failure(KafkaClientError(.connectionClosed, "gone")))
        #expect(Consumer.recordCount(in: [failed]) == 0)
    }

    /// Kafka's fetch sizes: 1 MiB per partition, 50 MiB per fetch.
    @Test func defaultFetchSizes() {
        let configuration = ConsumerConfiguration(client: ClientConfiguration())
        #expect(configuration.maxPartitionBytes == 1 << 20)
        #expect(configuration.maxBytes == 50 << 20)
    }

    static func poll(_ consumer: Consumer, into seen: inout [TopicPartition: [Int64]]) async throws {
        for record in try await consumer.poll(maxWait: .milliseconds(100)) {
            seen[record.topicPartition, default: []].append(record.offset)
        }
    }

    /// One batch per fetch, so that every poll after the first takes the fetch sent ahead: every record once, in
    /// order, and a seek or a pause while a fetch is ahead is obeyed.
    @Test func fetchAheadKeepsOrderAndObeysSeekAndPause() async throws {
        let (afterSeek, p1WhilePaused, p1Before, p1Offsets) = try await withClientBroker { _, client in
            let topic = "ahead"
            try await produceOneRecordBatches(topic: topic, partitions: 2, batches: 20, client: client)
            var configuration = ConsumerConfiguration(client: client)
            configuration.maxPartitionBytes = 1  // the first batch only (KIP-74)
            let consumer = try Consumer(configuration: configuration)
            let p0 = TopicPartition(topic: topic, partition: 0)
            let p1 = TopicPartition(topic: topic, partition: 1)
            await consumer.assign([p0: .beginning, p1: .beginning])
            var seen: [TopicPartition: [Int64]] = [:]
            while seen[p0, default: []].count < 10 { try await Self.poll(consumer, into: &seen) }
            // A fetch is ahead from the current positions; pausing p1 and seeking p0 back must drop it.
            await consumer.pause([p1])
            let p1Seen = seen[p1, default: []].count
            try await consumer.seek(p0, to: .offset(2))
            seen[p0] = []
            while seen[p0, default: []].count < 18 { try await Self.poll(consumer, into: &seen) }
            let afterSeek = seen[p0, default: []]
            let p1WhilePaused = seen[p1, default: []].count
            await consumer.resume([p1])
            while seen[p1, default: []].count < 20 { try await Self.poll(consumer, into: &seen) }
            let p1Offsets = seen[p1, default: []]
            await consumer.close()
            return (afterSeek, p1WhilePaused, p1Seen, p1Offsets)
        }
        #expect(afterSeek == (2..<20).map { Int64($0) })
        #expect(p1WhilePaused == p1Before)
        #expect(p1Offsets == (0..<20).map { Int64($0) })
    }
}
