import Glibc
import NIOCore
import SpateRecords
import SpateStorage
import SpateWire
import Testing

@testable import SpateBroker

/// Incremental fetch sessions (KIP-227) against the in-process broker.
@Suite struct FetchSessionTests {
    /// A Fetch request for `partitions` of `topic` (by name before v13, by ID from v13).
    func fetch(
        _ topic: String, id: KafkaUUID = .zero, _ partitions: [(Int32, Int64)], session: Int32, epoch: Int32,
        forget: [Int32] = [], minBytes: Int32 = 0
    ) -> FetchRequest {
        FetchRequest(
            maxWaitMs: 0, minBytes: minBytes, maxBytes: 1 << 20, sessionID: session, sessionEpoch: epoch,
            topics: partitions.isEmpty
                ? []
                : [
                    .init(
                        topic: TopicName(topic), topicID: id,
                        partitions: partitions.map { .init(partition: $0.0, fetchOffset: $0.1, partitionMaxBytes: 1 << 20) })
                ],
            forgottenTopicsData: forget.isEmpty ? [] : [.init(topic: TopicName(topic), topicID: id, partitions: forget)])
    }

    func partitions(_ response: FetchResponse) -> [Int32] {
        response.responses.flatMap { $0.partitions.map(\.partitionIndex) }
    }

    @Test func sessionlessFetchHasNoSession() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("plain", partitions: 2)
            _ = try await client.produce("plain", partition: 1, try makeBatch(count: 2))
            let response = try await client.send(
                self.fetch("plain", [(0, 0), (1, 0)], session: 0, epoch: -1), version: 12)
            #expect(response.errorCode == .none)
            #expect(response.sessionID == 0)
            #expect(self.partitions(response) == [0, 1])
            #expect(response.responses[0].partitions[1].highWatermark == 2)
        }
    }

    @Test func createIncrementalForgetAndClose() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("events", partitions: 3)
            _ = try await client.produce("events", partition: 0, try makeBatch(count: 1))
            _ = try await client.produce("events", partition: 1, try makeBatch(count: 1))

            // Epoch 0: a full fetch that creates a session.
            let full = try await client.send(
                self.fetch("events", [(0, 0), (1, 0), (2, 0)], session: 0, epoch: 0), version: 12)
            #expect(full.errorCode == .none)
            let session = full.sessionID
            #expect(session > 0)
            #expect(self.partitions(full) == [0, 1, 2])
            #expect(full.responses[0].partitions[0].records?.byteCount ?? 0 > 0)

            // Epoch 1: the consumer moves on; nothing changed, so the response carries no partition.
            let quiet = try await client.send(
                self.fetch("events", [(0, 1), (1, 1)], session: session, epoch: 1), version: 12)
            #expect(quiet.errorCode == .none)
            #expect(quiet.sessionID == session)
            #expect(self.partitions(quiet).isEmpty)

            // New data on partition 2: only it comes back, though the request lists nothing.
            _ = try await client.produce("events", partition: 2, try makeBatch(count: 3))
            let changed = try await client.send(self.fetch("events", [], session: session, epoch: 2), version: 12)
            #expect(changed.sessionID == session)
            #expect(self.partitions(changed) == [2])
            #expect(changed.responses[0].partitions[0].highWatermark == 3)
            #expect(changed.responses[0].partitions[0].records?.byteCount ?? 0 > 0)

            // Partition 0 gets a batch at the offset the session fetches from (1); partition 2 is forgotten.
            _ = try await client.produce("events", partition: 0, try makeBatch(count: 1))
            let forgot = try await client.send(
                self.fetch("events", [], session: session, epoch: 3, forget: [2]), version: 12)
            #expect(self.partitions(forgot) == [0])
            _ = try await client.produce("events", partition: 2, try makeBatch(count: 1))
            let afterForget = try await client.send(
                self.fetch("events", [(0, 2)], session: session, epoch: 4), version: 12)
            #expect(self.partitions(afterForget).isEmpty)

            // A repeated epoch, and an unknown session.
            let stale = try await client.send(self.fetch("events", [], session: session, epoch: 4), version: 12)
            #expect(stale.errorCode == .invalidFetchSessionEpoch)
            #expect(stale.sessionID == 0)
            #expect(stale.responses.isEmpty)
            let unknown = try await client.send(
                self.fetch("events", [], session: session &+ 1, epoch: 1), version: 12)
            #expect(unknown.errorCode == .fetchSessionIDNotFound)

            // Epoch -1 closes the session: a full fetch without one.
            let closing = try await client.send(
                self.fetch("events", [(0, 0)], session: session, epoch: -1), version: 12)
            #expect(closing.errorCode == .none)
            #expect(closing.sessionID == 0)
            #expect(self.partitions(closing) == [0])
            let gone = try await client.send(self.fetch("events", [], session: session, epoch: 5), version: 12)
            #expect(gone.errorCode == .fetchSessionIDNotFound)
        }
    }

    @Test func sessionsWithTopicIDs() async throws {
        try await withBroker { client, _ in
            let created = try await client.createTopic("ids", partitions: 2)
            let id = created.topicID
            _ = try await client.produce("ids", partition: 0, try makeBatch(count: 2))
            let full = try await client.send(self.fetch("", id: id, [(0, 0), (1, 0)], session: 0, epoch: 0), version: 13)
            #expect(full.errorCode == .none)
            #expect(full.responses.map(\.topicID) == [id])
            #expect(self.partitions(full) == [0, 1])
            let session = full.sessionID
            #expect(session > 0)

            _ = try await client.produce("ids", partition: 1, try makeBatch(count: 1))
            let incremental = try await client.send(
                self.fetch("", id: id, [(0, 2)], session: session, epoch: 1), version: 17)
            #expect(incremental.sessionID == session)
            #expect(incremental.responses.map(\.topicID) == [id])
            #expect(self.partitions(incremental) == [1])

            // A session made with topic IDs cannot go on without them (nor the reverse).
            let mixed = try await client.send(self.fetch("ids", [], session: session, epoch: 2), version: 12)
            #expect(mixed.errorCode == .fetchSessionTopicIDError)

            // An unknown topic ID in a session is reported on its partition.
            let stranger = KafkaUUID.random()
            let unknown = try await client.send(
                self.fetch("", id: stranger, [(0, 0)], session: session, epoch: 2), version: 13)
            #expect(unknown.errorCode == .none)
            #expect(unknown.responses.first { $0.topicID == stranger }?.partitions.first?.errorCode == .unknownTopicID)
        }
    }

    @Test func noSlotsMeansNoSessions() async throws {
        try await withBroker(configure: { $0.network.maxIncrementalFetchSessionCacheSlots = 0 }) { client, _ in
            try await client.createTopic("nosessions")
            let response = try await client.send(self.fetch("nosessions", [(0, 0)], session: 0, epoch: 0), version: 12)
            #expect(response.errorCode == .none)
            #expect(response.sessionID == 0)
            #expect(self.partitions(response) == [0])
        }
    }

    @Test func forgettingEveryPartitionClosesTheSession() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("emptied")
            let full = try await client.send(self.fetch("emptied", [(0, 0)], session: 0, epoch: 0), version: 12)
            #expect(full.sessionID > 0)
            let emptied = try await client.send(
                self.fetch("emptied", [], session: full.sessionID, epoch: 1, forget: [0]), version: 12)
            #expect(emptied.errorCode == .none)
            #expect(emptied.sessionID == 0)
            let gone = try await client.send(self.fetch("emptied", [], session: full.sessionID, epoch: 2), version: 12)
            #expect(gone.errorCode == .fetchSessionIDNotFound)
        }
    }

    @Test func theCacheEvictsTheLeastRecentlyUsedSession() {
        let cache = FetchSessionCache(capacity: 2)
        let key = FetchSessionKey(topicID: .zero, topic: "t", partition: 0)
        let partition = FetchSessionPartition(key: key, fetchOffset: 0, partitionMaxBytes: 100)
        let first = cache.create(usesTopicIDs: false, partitions: [partition])
        let second = cache.create(usesTopicIDs: false, partitions: [partition])
        // Using the first makes the second the least recently used.
        guard case .success = cache.beginIncremental(
            id: first, epoch: 1, usesTopicIDs: false, updates: [], forgotten: [])
        else {
            Issue.record("the first session should be there")
            return
        }
        let third = cache.create(usesTopicIDs: false, partitions: [partition])
        #expect(cache.count == 2)
        #expect(cache.session(first) != nil)
        #expect(cache.session(second) == nil)
        #expect(cache.session(third) != nil)
        #expect(first > 0 && second > 0 && third > 0)
    }
}

/// Fetch responses whose records go out from segment files (sendfile) are byte for byte the ByteBuffer encoding.
@Suite struct ZeroCopyFetchTests {
    /// A temporary file holding `bytes`, open for reading.
    func temporaryFile(_ bytes: [UInt8]) throws -> (descriptor: CInt, path: String) {
        var template = Array("/tmp/spate-zero-copy-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        #expect(descriptor >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        #expect(written == bytes.count)
        return (descriptor, path)
    }

    @Test func encodingByReferenceEqualsTheBufferEncoding() throws {
        let batchA = try makeBatch(count: 3, prefix: "a").buffer
        let batchB = try makeBatch(count: 200, prefix: "b").buffer  // more than 127 bytes: a longer varint prefix
        let padding: [UInt8] = Array(repeating: 0xEE, count: 17)
        let contents = padding + Array(batchA.readableBytesView) + Array(batchB.readableBytesView)
        let (descriptor, path) = try self.temporaryFile(contents)
        defer {
            close(descriptor)
            unlink(path)
        }
        let inline = try makeBatch(count: 2, prefix: "inline")
        for version in FetchHandler.versions {
            let rangeA = try FileRange(duplicating: descriptor, position: 17, length: batchA.readableBytes)
            let rangeB = try FileRange(
                duplicating: descriptor, position: Int64(17 + batchA.readableBytes), length: batchB.readableBytes)
            let topicID = KafkaUUID.random()
            func partition(_ index: Int32, _ records: RecordSet?, error: ErrorCode = .none) -> FetchResponse.PartitionData {
                FetchResponse.PartitionData(
                    partitionIndex: index, errorCode: error, highWatermark: 42, lastStableOffset: 42, logStartOffset: 0,
                    records: records)
            }
            let empty = RecordSet(buffer: ByteBuffer())
            let byReference = FetchResponse(
                sessionID: version >= 7 ? 77 : 0,
                responses: [
                    .init(topic: "one", topicID: topicID, partitions: [partition(0, empty), partition(1, inline)]),
                    .init(
                        topic: "two", topicID: topicID,
                        partitions: [partition(0, nil, error: .unknownTopicOrPartition), partition(1, empty)]),
                ])
            var inBuffers = byReference
            inBuffers.responses[0].partitions[0].records = RecordSet(buffer: batchA)
            inBuffers.responses[1].partitions[1].records = RecordSet(buffer: batchB)

            let frame = try byReference.encodeFrame(
                files: [[rangeA, nil], [nil, rangeB]], version: version, correlationID: 9)
            guard case .parts(let parts) = frame else {
                Issue.record("v\(version): expected file parts")
                continue
            }
            #expect(parts.filter { if case .file = $0 { true } else { false } }.count == 2)
            let zeroCopy = try frame.materialized()
            var expected = ByteBuffer()
            try inBuffers.encodeFrame(into: &expected, version: version, correlationID: 9)
            #expect(zeroCopy == expected, "v\(version)")

            var body = zeroCopy
            body.moveReaderIndex(forwardBy: 4)
            let decoded = try FetchResponse.decodeFrame(body, version: version)
            #expect(decoded.correlationID == 9)
            #expect(decoded.body.responses[1].partitions[1].records?.buffer == batchB)
            #expect(decoded.body.responses[0].partitions[0].records?.buffer == batchA)
        }
    }

    @Test func aRangeOutlivesItsDeletedFile() throws {
        let (descriptor, path) = try self.temporaryFile(Array("hello, segment".utf8))
        let range = try FileRange(duplicating: descriptor, position: 7, length: 7)
        close(descriptor)
        unlink(path)
        #expect(try range.readBytes() == ByteBuffer(string: "segment"))
        let taken = try #require(range.takeFileRegion())
        #expect(taken.region.readableBytes == 7)
        try taken.handle.close()
        #expect(range.takeFileRegion() == nil)
    }

    /// Through the broker (whose files have descriptors, so records go out with sendfile), every version's fetch
    /// decodes to the batches produced.
    @Test func fetchesThroughTheBrokerDecode() async throws {
        try await withBroker { client, _ in
            let created = try await client.createTopic("zc", partitions: 2)
            let first = try makeBatch(count: 5, prefix: "first")
            let second = try makeBatch(count: 300, prefix: "second")
            _ = try await client.produce("zc", partition: 0, first)
            _ = try await client.produce("zc", partition: 0, second)
            _ = try await client.produce("zc", partition: 1, first)
            for version in FetchHandler.versions {
                let response = try await client.send(
                    FetchRequest(
                        maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20,
                        topics: [
                            .init(
                                topic: "zc", topicID: created.topicID,
                                partitions: [
                                    .init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                                    .init(partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                                    .init(partition: 9, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                                ])
                        ]), version: version)
                let partitions = try #require(response.responses.first).partitions
                #expect(partitions.map(\.errorCode) == [.none, .none, .unknownTopicOrPartition], "v\(version)")
                let records = partitions[0].records?.buffer ?? ByteBuffer()
                #expect(records.readableBytes == first.byteCount + second.byteCount, "v\(version)")
                // The stored batches are the produced ones with offsets assigned: the second starts at offset 5.
                #expect(records.getInteger(at: 0, as: Int64.self) == 0)
                #expect(records.getInteger(at: first.byteCount, as: Int64.self) == 5)
                #expect(partitions[1].records?.byteCount == first.byteCount)
            }
        }
    }
}
