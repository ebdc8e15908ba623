import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// One idempotent batch of `count` records from producer `producerID`.
func idempotentBatch(
    producerID: Int64 = 1_000, epoch: Int16 = 0, sequence: Int32, count: Int = 2, timestamp: Int64 = 1_000,
    transactional: Bool = false
) throws -> RecordSet {
    var builder = RecordBatchBuilder(
        producerID: producerID, producerEpoch: epoch, baseSequence: sequence, isTransactional: transactional)
    for index in 0..<count {
        builder.append(key: nil, value: ByteBuffer(string: "p\(producerID)-e\(epoch)-s\(sequence)-\(index)"), timestamp: timestamp)
    }
    return RecordSet(buffer: try builder.build(compressor: nil))
}

/// Kafka's idempotence rules in the append path: sequence checks, duplicates answered with their original offsets,
/// epoch fencing, wrap-around at `Int32.max`.
@Suite struct ProducerStateTests {
    static let partition = TopicPartition(topic: "orders", partition: 0)

    static func open(_ fs: any StorageFileSystem, config: LogConfig = LogConfig(), clean: Bool = false) throws -> PartitionLog {
        if !fs.fileExists("/data") {
            try fs.createDirectory("/data")
            try fs.syncDirectory("/")
        }
        return try PartitionLog.open(
            directory: "/data/orders-0", topicPartition: Self.partition, config: config, fileSystem: fs, compressor: nil,
            recoveryPoint: 0, logStartOffset: 0, hadCleanShutdown: clean, nowMs: 0, logger: testLogger)
    }

    static func append(_ log: PartitionLog, _ records: RecordSet, nowMs: Int64 = 0) throws -> AppendResult {
        try log.append(records, leaderEpoch: 0, nowMs: nowMs)
    }

    static func expectError(_ code: ProducerStateError.Code, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(code)")
        } catch let error as ProducerStateError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func inOrderBatchesAreAppended() throws {
        let log = try Self.open(InMemoryFileSystem())
        for i in 0..<10 {
            let result = try Self.append(log, try idempotentBatch(sequence: Int32(i * 2)))
            #expect(result.firstOffset == Int64(i * 2))
            #expect(!result.isDuplicate)
        }
        let entry = try #require(log.producerState.entry(for: 1_000))
        #expect(entry.epoch == 0)
        #expect(entry.lastSequence == 19)
        #expect(entry.batches.count == 5)
        #expect(entry.batches.map(\.firstOffset) == [10, 12, 14, 16, 18])
    }

    @Test func eachOfTheLastFiveBatchesIsADuplicateWithItsOriginalOffset() throws {
        let log = try Self.open(InMemoryFileSystem())
        // Another producer's batches interleave, so offsets differ from sequences.
        var originals: [Int32: Int64] = [:]
        for i in 0..<8 {
            _ = try Self.append(log, try idempotentBatch(producerID: 7, sequence: Int32(i), count: 1))
            originals[Int32(i * 3)] = try Self.append(log, try idempotentBatch(sequence: Int32(i * 3), count: 3)).firstOffset
        }
        let end = log.logEndOffset
        for i in 3..<8 {
            let sequence = Int32(i * 3)
            let result = try Self.append(log, try idempotentBatch(sequence: sequence, count: 3))
            #expect(result.isDuplicate)
            #expect(result.firstOffset == originals[sequence])
            #expect(result.lastOffset == originals[sequence]! + 2)
            #expect(result.recordCount == 0)
        }
        #expect(log.logEndOffset == end, "a duplicate must not be appended")
        // The sixth batch back is no longer known: Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER.
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, try idempotentBatch(sequence: 6, count: 3)) }
        // A retry must match the original range exactly: the same first sequence with another count is out of order.
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, try idempotentBatch(sequence: 21, count: 2)) }
        #expect(log.logEndOffset == end)
        // The producer goes on where it was.
        #expect(try Self.append(log, try idempotentBatch(sequence: 24, count: 1)).firstOffset == end)
    }

    @Test func aGapIsOutOfOrderAndLeavesTheLogAlone() throws {
        let log = try Self.open(InMemoryFileSystem())
        _ = try Self.append(log, try idempotentBatch(sequence: 0, count: 2))
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, try idempotentBatch(sequence: 3)) }
        #expect(log.logEndOffset == 2)
        #expect(log.producerState.entry(for: 1_000)?.lastSequence == 1)
        #expect(try Self.append(log, try idempotentBatch(sequence: 2)).firstOffset == 2)
    }

    @Test func anUnknownProducerMayStartAtAnySequence() throws {
        // KIP-360: no UNKNOWN_PRODUCER_ID from Kafka 2.5 on; the partition may have expired or deleted its state.
        let log = try Self.open(InMemoryFileSystem())
        #expect(try Self.append(log, try idempotentBatch(sequence: 42)).firstOffset == 0)
        #expect(log.producerState.entry(for: 1_000)?.lastSequence == 43)
    }

    @Test func epochBumpAndFencing() throws {
        let log = try Self.open(InMemoryFileSystem())
        _ = try Self.append(log, try idempotentBatch(epoch: 0, sequence: 0))
        _ = try Self.append(log, try idempotentBatch(epoch: 0, sequence: 2))
        // A new epoch must start at 0.
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, try idempotentBatch(epoch: 1, sequence: 4)) }
        #expect(try Self.append(log, try idempotentBatch(epoch: 1, sequence: 0)).firstOffset == 4)
        #expect(log.producerState.entry(for: 1_000)?.epoch == 1)
        #expect(log.producerState.entry(for: 1_000)?.batches.count == 1, "a new epoch forgets the old epoch's batches")
        // The old epoch is fenced, retries included.
        Self.expectError(.invalidProducerEpoch) { _ = try Self.append(log, try idempotentBatch(epoch: 0, sequence: 4)) }
        Self.expectError(.invalidProducerEpoch) { _ = try Self.append(log, try idempotentBatch(epoch: 0, sequence: 2)) }
        // A duplicate needs the same epoch: the same sequences in the new epoch are a duplicate of the new batch.
        let retry = try Self.append(log, try idempotentBatch(epoch: 1, sequence: 0))
        #expect(retry.isDuplicate && retry.firstOffset == 4)
        #expect(log.logEndOffset == 6)
    }

    @Test func sequencesWrapAroundAtInt32Max() throws {
        #expect(ProducerStateManager.inSequence(last: Int32.max, next: 0))
        #expect(!ProducerStateManager.inSequence(last: Int32.max, next: 1))
        #expect(RecordBatch.firstSequence(last: 1, delta: 3) == Int32.max - 1)
        let log = try Self.open(InMemoryFileSystem())
        _ = try Self.append(log, try idempotentBatch(sequence: Int32.max - 3, count: 2))  // max-3, max-2
        let wrapping = try Self.append(log, try idempotentBatch(sequence: Int32.max - 1, count: 4))  // max-1, max, 0, 1
        #expect(log.producerState.entry(for: 1_000)?.lastSequence == 1)
        _ = try Self.append(log, try idempotentBatch(sequence: 2, count: 1))
        let retry = try Self.append(log, try idempotentBatch(sequence: Int32.max - 1, count: 4))
        #expect(retry.isDuplicate && retry.firstOffset == wrapping.firstOffset)
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, try idempotentBatch(sequence: 0, count: 1)) }
    }

    @Test func aRefusedBatchInAMultiBatchAppendRefusesTheWholeAppend() throws {
        let log = try Self.open(InMemoryFileSystem())
        _ = try Self.append(log, try idempotentBatch(sequence: 0))
        let before = log.producerState
        var buffer = try idempotentBatch(sequence: 2).buffer
        var second = try idempotentBatch(sequence: 7).buffer
        buffer.writeBuffer(&second)
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(log, RecordSet(buffer: buffer)) }
        #expect(log.logEndOffset == 2)
        #expect(log.producerState == before)
        // Two batches in order in one append: the second is checked against the first.
        var ok = try idempotentBatch(sequence: 2).buffer
        var next = try idempotentBatch(sequence: 4).buffer
        ok.writeBuffer(&next)
        _ = try Self.append(log, RecordSet(buffer: ok))
        #expect(log.producerState.entry(for: 1_000)?.batches.map(\.firstOffset) == [0, 2, 4])
    }

    @Test func nonIdempotentBatchesAreNotTracked() throws {
        let log = try Self.open(InMemoryFileSystem())
        _ = try Self.append(log, RecordSet(buffer: try makeBatch(count: 3)))
        #expect(log.producerState.producers.isEmpty)
    }

    // MARK: Persistence

    @Test func stateSurvivesACleanRestartThroughASnapshot() throws {
        let fs = InMemoryFileSystem()
        let log = try Self.open(fs)
        var offsets: [Int64] = []
        for i in 0..<6 { offsets.append(try Self.append(log, try idempotentBatch(sequence: Int32(i * 2))).firstOffset) }
        try log.close(nowMs: 0)
        #expect(fs.fileExists("/data/orders-0/00000000000000000012.snapshot"))
        fs.crash(keepUnsynced: .none)  // only what was made durable counts
        let reopened = try Self.open(fs, clean: true)
        #expect(reopened.producerState == log.producerState)
        for i in 1..<6 {
            let retry = try Self.append(reopened, try idempotentBatch(sequence: Int32(i * 2)))
            #expect(retry.isDuplicate && retry.firstOffset == offsets[i])
        }
        Self.expectError(.outOfOrderSequence) { _ = try Self.append(reopened, try idempotentBatch(sequence: 0)) }
        #expect(try Self.append(reopened, try idempotentBatch(sequence: 12)).firstOffset == 12)
    }

    @Test func stateIsRebuiltFromTheLogAfterACrash() throws {
        let fs = InMemoryFileSystem()
        var config = LogConfig()
        config.segmentBytes = 600  // a few batches per segment, so rolls write snapshots
        let log = try Self.open(fs, config: config)
        var offsets: [Int64] = []
        for i in 0..<20 {
            offsets.append(try Self.append(log, try idempotentBatch(sequence: Int32(i * 2))).firstOffset)
            _ = try Self.append(log, try idempotentBatch(producerID: 9, epoch: 3, sequence: Int32(i), count: 1))
        }
        #expect(log.segmentCount > 3)
        #expect(!log.producerSnapshotOffsets.isEmpty)
        try log.flush(nowMs: 0)
        // Appended but never flushed: lost in the crash, and so must be their producer state.
        _ = try Self.append(log, try idempotentBatch(sequence: 40))
        let expected = log.producerState
        fs.crash(keepUnsynced: .none)
        let recovered = try Self.open(fs, config: config)
        #expect(recovered.logEndOffset == 60)
        #expect(recovered.producerState.entry(for: 9) == expected.entry(for: 9))
        #expect(recovered.producerState.entry(for: 1_000)?.lastSequence == 39)
        for i in 15..<20 {
            let retry = try Self.append(recovered, try idempotentBatch(sequence: Int32(i * 2)))
            #expect(retry.isDuplicate && retry.firstOffset == offsets[i])
        }
        // The lost batch is new again.
        let again = try Self.append(recovered, try idempotentBatch(sequence: 40))
        #expect(!again.isDuplicate && again.firstOffset == 60)
    }

    @Test func aSnapshotBeyondTheRecoveredLogEndIsDiscarded() throws {
        let fs = InMemoryFileSystem()
        let log = try Self.open(fs)
        _ = try Self.append(log, try idempotentBatch(sequence: 0))
        try log.flush(nowMs: 0)
        _ = try Self.append(log, try idempotentBatch(sequence: 2))
        // A maintenance snapshot covers the unflushed batch; the crash then loses the batch but not the snapshot.
        #expect(try log.takeProducerSnapshot())
        #expect(!(try log.takeProducerSnapshot()), "nothing changed since")
        fs.crash(keepUnsynced: .none)
        let recovered = try Self.open(fs)
        #expect(recovered.logEndOffset == 2)
        #expect(recovered.producerSnapshotOffsets.allSatisfy { $0 <= 2 })
        #expect(recovered.producerState.entry(for: 1_000)?.lastSequence == 1)
        #expect(!(try Self.append(recovered, try idempotentBatch(sequence: 2))).isDuplicate)
    }

    @Test func truncationForgetsTheRemovedBatches() throws {
        let log = try Self.open(InMemoryFileSystem())
        for i in 0..<4 { _ = try Self.append(log, try idempotentBatch(sequence: Int32(i * 2))) }
        try log.truncate(to: 4)
        #expect(log.producerState.entry(for: 1_000)?.lastSequence == 3)
        #expect(!(try Self.append(log, try idempotentBatch(sequence: 4))).isDuplicate)
    }

    // MARK: Snapshot format

    @Test func snapshotRoundTripAndLayout() throws {
        let state = ProducerStateManager(producers: [
            ProducerStateEntry(
                producerID: 5, epoch: 2,
                batches: [
                    .init(firstSequence: 0, lastSequence: 1, firstOffset: 10, lastOffset: 11, timestamp: 100),
                    .init(firstSequence: 2, lastSequence: 2, firstOffset: 14, lastOffset: 14, timestamp: 200),
                ], lastTimestamp: 200),
            ProducerStateEntry(producerID: 3, epoch: 0, batches: [], lastTimestamp: 50),
        ])
        let bytes = state.encodedSnapshot()
        #expect(try ProducerStateManager(parsingSnapshot: bytes) == state)
        var reader = bytes
        #expect(reader.readInteger(as: Int16.self) == 2)  // version
        let crc = reader.readInteger(as: UInt32.self)
        #expect(crc == CRC32C.checksum(reader))
        #expect(reader.readInteger(as: Int32.self) == 2)  // producers, by ID
        #expect(reader.readInteger(as: Int64.self) == 3)
        #expect(reader.readInteger(as: Int16.self) == 0)
        #expect(reader.readInteger(as: Int64.self) == 50)
        #expect(reader.readInteger(as: Int32.self) == -1)  // coordinator epoch
        #expect(reader.readInteger(as: Int64.self) == -1)  // current transaction's first offset
        #expect(reader.readInteger(as: Int32.self) == 0)  // batches
        #expect(reader.readInteger(as: Int64.self) == 5)
        #expect(bytes.readableBytes == 2 + 4 + 4 + 2 * (8 + 2 + 8 + 4 + 8 + 4) + 2 * (4 + 4 + 8 + 8 + 8))

        // A flipped byte fails the CRC; a short file is refused.
        var corrupt = bytes
        corrupt.setInteger(UInt8(0x7F), at: bytes.readerIndex + 20)
        #expect(throws: StorageError.self) { try ProducerStateManager(parsingSnapshot: corrupt) }
        #expect(throws: StorageError.self) { try ProducerStateManager(parsingSnapshot: bytes.getSlice(at: 0, length: 12)!) }
        #expect(ProducerStateManager.snapshotFileName(offset: 1234) == "00000000000000001234.snapshot")
        #expect(ProducerStateManager.snapshotOffset(fromFileName: "00000000000000001234.snapshot") == 1234)
    }

    @Test func readsKafkasVersionOneSnapshots() throws {
        var body = ByteBuffer()
        body.writeInteger(Int32(1))
        body.writeInteger(Int64(77))  // producerId
        body.writeInteger(Int16(4))  // epoch
        body.writeInteger(Int32(9))  // lastSequence
        body.writeInteger(Int64(120))  // lastOffset
        body.writeInteger(Int32(2))  // offsetDelta
        body.writeInteger(Int64(5_000))  // timestamp
        body.writeInteger(Int32(-1))  // coordinatorEpoch
        body.writeInteger(Int64(-1))  // currentTxnFirstOffset
        var file = ByteBuffer()
        file.writeInteger(Int16(1))
        file.writeInteger(CRC32C.checksum(body))
        file.writeImmutableBuffer(body)
        let state = try ProducerStateManager(parsingSnapshot: file)
        #expect(
            state.entry(for: 77)
                == ProducerStateEntry(
                    producerID: 77, epoch: 4,
                    batches: [.init(firstSequence: 7, lastSequence: 9, firstOffset: 118, lastOffset: 120, timestamp: 5_000)],
                    lastTimestamp: 5_000))
    }

    // MARK: Expiration

    @Test func idleProducersExpireDuringMaintenance() throws {
        let fs = InMemoryFileSystem()
        let manager = try LogManager.open(
            dataDirectory: "/var/spate-data", fileSystem: fs, compressor: nil, config: { _ in LogConfig() }, nowMs: 0,
            logger: testLogger, producerIDExpiration: .seconds(60))
        let log = try manager.getOrCreateLog(for: Self.partition, config: LogConfig(), nowMs: 0)
        _ = try Self.append(log, try idempotentBatch(producerID: 1, sequence: 0, timestamp: 1_000))
        _ = try Self.append(log, try idempotentBatch(producerID: 2, sequence: 0, timestamp: 31_000))
        try manager.runMaintenance(nowMs: 60_999)
        #expect(Set(log.producerState.producers.keys) == [1, 2])
        #expect(log.producerSnapshotOffsets == [4], "maintenance snapshots a changed state")
        try manager.runMaintenance(nowMs: 61_000)
        #expect(Set(log.producerState.producers.keys) == [2])
        try manager.runMaintenance(nowMs: 91_000)
        #expect(log.producerState.producers.isEmpty)
        // An expired producer is unknown again: any sequence is accepted.
        #expect(!(try Self.append(log, try idempotentBatch(producerID: 1, sequence: 9, timestamp: 91_000))).isDuplicate)
        // The expiry survives a restart (the snapshot written by maintenance is the newest).
        try manager.shutdown(nowMs: 91_000)
        let restarted = try LogManager.open(
            dataDirectory: "/var/spate-data", fileSystem: fs, compressor: nil, config: { _ in LogConfig() }, nowMs: 0,
            logger: testLogger)
        #expect(Set(try restarted.log(for: Self.partition)!.producerState.producers.keys) == [1])
    }
}
