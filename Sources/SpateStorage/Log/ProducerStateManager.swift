public import NIOCore
import SpateRecords

/// Why an idempotent (or transactional) batch was refused. Each code maps to one Kafka error code.
public struct ProducerStateError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable { case invalidProducerEpoch, outOfOrderSequence }
        let base: Base
        private init(_ base: Base) { self.base = base }
        /// The batch's epoch is older than the producer's current one (`INVALID_PRODUCER_EPOCH`, 47).
        public static let invalidProducerEpoch = Code(.invalidProducerEpoch)
        /// The batch's first sequence does not follow the producer's last one (`OUT_OF_ORDER_SEQUENCE_NUMBER`, 45).
        public static let outOfOrderSequence = Code(.outOfOrderSequence)
        public var description: String { "\(self.base)" }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}

/// One appended batch of a producer, as kept for duplicate detection (Kafka `BatchMetadata`).
public struct ProducerBatchMetadata: Hashable, Sendable {
    public var firstSequence: Int32
    public var lastSequence: Int32
    public var firstOffset: Int64
    public var lastOffset: Int64
    /// The batch's max timestamp (the log append time on `LogAppendTime` topics).
    public var timestamp: Int64

    public init(firstSequence: Int32, lastSequence: Int32, firstOffset: Int64, lastOffset: Int64, timestamp: Int64) {
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.timestamp = timestamp
    }
}

/// What a partition knows about one producer (Kafka `ProducerStateEntry`): its epoch and its last five batches.
public struct ProducerStateEntry: Hashable, Sendable {
    /// Kafka's `NUM_BATCHES_TO_RETAIN`: the most batches a producer has in flight (`max.in.flight.requests.per.connection`
    /// is at most 5 with idempotence), so a retry is always one of these.
    public static let batchesRetained = 5

    public var producerID: Int64
    /// -1 for none yet.
    public var epoch: Int16
    /// Oldest first, at most ``batchesRetained``.
    public var batches: [ProducerBatchMetadata]
    /// The max timestamp of the producer's last batch, which `producer.id.expiration.ms` counts from.
    public var lastTimestamp: Int64

    public init(producerID: Int64, epoch: Int16 = -1, batches: [ProducerBatchMetadata] = [], lastTimestamp: Int64 = -1) {
        self.producerID = producerID
        self.epoch = epoch
        self.batches = batches
        self.lastTimestamp = lastTimestamp
    }

    public var lastSequence: Int32 { self.batches.last?.lastSequence ?? -1 }

    /// The retained batch with exactly this epoch and sequence range, if any (Kafka `findDuplicateBatch`).
    public func duplicate(epoch: Int16, firstSequence: Int32, lastSequence: Int32) -> ProducerBatchMetadata? {
        guard epoch == self.epoch else { return nil }
        return self.batches.first { $0.firstSequence == firstSequence && $0.lastSequence == lastSequence }
    }

    /// Records an appended batch: a new epoch forgets the old epoch's batches (Kafka `addBatch`).
    mutating func add(epoch: Int16, _ batch: ProducerBatchMetadata) {
        if epoch != self.epoch {
            self.epoch = epoch
            self.batches.removeAll()
        }
        if self.batches.count == Self.batchesRetained { self.batches.removeFirst() }
        self.batches.append(batch)
        self.lastTimestamp = batch.timestamp
    }
}

/// The producer state of one partition: for each producer ID, its epoch and last batches, so that appends can check
/// sequence numbers, fence old epochs and answer retried batches with their original offsets.
///
/// A value type owned by ``PartitionLog`` and changed only under its lock, so that sequence checks and offset
/// assignment are one atomic step. It persists as snapshots (`<20-digit offset>.snapshot`, see
/// ``encodedSnapshot()``) and is rebuilt from the log after them.
public struct ProducerStateManager: Sendable, Hashable {
    public private(set) var producers: [Int64: ProducerStateEntry] = [:]

    public init() {}

    public init(producers: [ProducerStateEntry]) {
        for entry in producers { self.producers[entry.producerID] = entry }
    }

    public func entry(for producerID: Int64) -> ProducerStateEntry? { self.producers[producerID] }

    /// Kafka's `inSequence`: `next` follows `last`, wrapping from `Int32.max` to 0.
    static func inSequence(last: Int32, next: Int32) -> Bool {
        Int64(next) == Int64(last) + 1 || (next == 0 && last == Int32.max)
    }

    /// Checks a client's batch against the producer's state and returns the entry as it would be after the batch.
    ///
    /// Kafka 4's rules (`ProducerAppendInfo.checkProducerEpoch` and `checkSequence`):
    /// - an epoch older than the producer's is `INVALID_PRODUCER_EPOCH` (for transactional producers too since
    ///   Kafka 2.7, KIP-588; `PRODUCER_FENCED` is the coordinator's answer, not the log's);
    /// - a newer epoch must start at sequence 0, unless the partition has no epoch for the producer yet;
    /// - within an epoch the first sequence must follow the last one (wrapping at `Int32.max`);
    /// - a producer the partition does not know (new, expired, or whose records were all deleted) may start at any
    ///   sequence: since KIP-360 (Kafka 2.5) the broker no longer answers `UNKNOWN_PRODUCER_ID` for this.
    /// - Parameters:
    ///   - pending: The entry as earlier batches of the same append left it, if any.
    ///   - validateSequence: False for appends that are not from clients (replication, replay).
    public func validated(
        pending: ProducerStateEntry?, producerID: Int64, epoch: Int16, firstSequence: Int32,
        batch: ProducerBatchMetadata, validateSequence: Bool = true
    ) throws(ProducerStateError) -> ProducerStateEntry {
        let current = self.producers[producerID]
        // Like Kafka's `updatedEntry`: the current epoch with only this append's batches.
        var updated = pending ?? ProducerStateEntry(
            producerID: producerID, epoch: current?.epoch ?? -1, lastTimestamp: current?.lastTimestamp ?? -1)
        if validateSequence {
            if epoch < updated.epoch {
                throw ProducerStateError(
                    .invalidProducerEpoch,
                    "epoch \(epoch) of producer \(producerID) is older than its current epoch \(updated.epoch)")
            }
            if epoch != updated.epoch {
                if firstSequence != 0 && updated.epoch != -1 {
                    throw ProducerStateError(
                        .outOfOrderSequence,
                        "the new epoch \(epoch) of producer \(producerID) starts at sequence \(firstSequence), not 0 "
                            + "(current epoch \(updated.epoch))")
                }
            } else {
                let lastSequence: Int32
                if !updated.batches.isEmpty {
                    lastSequence = updated.lastSequence
                } else if let current, epoch == current.epoch {
                    lastSequence = current.lastSequence
                } else {
                    lastSequence = -1
                }
                let knownEpoch = (current?.epoch ?? -1) != -1
                if knownEpoch && !Self.inSequence(last: lastSequence, next: firstSequence) {
                    throw ProducerStateError(
                        .outOfOrderSequence,
                        "producer \(producerID) epoch \(epoch) sent sequence \(firstSequence) after \(lastSequence)")
                }
            }
        }
        if pending == nil, let current, current.epoch == epoch {
            updated.batches = current.batches  // keep the last batches of the epoch for duplicate detection
        }
        updated.add(epoch: epoch, batch)
        return updated
    }

    /// Stores entries produced by ``validated(pending:producerID:epoch:firstSequence:batch:validateSequence:)`` once
    /// their batches are in the log.
    public mutating func commit(_ entries: [Int64: ProducerStateEntry]) {
        for (id, entry) in entries { self.producers[id] = entry }
    }

    /// Applies a batch read back from the log (recovery replay): no checks, as Kafka's replay does not check.
    mutating func replay(_ header: StoredBatchHeader) {
        guard header.producerID >= 0, !header.isControl else { return }
        let last = RecordBatch.lastSequence(base: header.baseSequence, delta: Int32(header.lastOffset - header.baseOffset))
        var entry = self.producers[header.producerID] ?? ProducerStateEntry(producerID: header.producerID)
        entry.add(
            epoch: header.producerEpoch,
            ProducerBatchMetadata(
                firstSequence: header.baseSequence, lastSequence: last, firstOffset: header.baseOffset,
                lastOffset: header.lastOffset, timestamp: header.maxTimestamp))
        self.producers[header.producerID] = entry
    }

    /// Removes producers whose last batch is at least `expirationMs` old (`producer.id.expiration.ms`); returns how many.
    @discardableResult
    public mutating func removeExpired(nowMs: Int64, expirationMs: Int64) -> Int {
        let expired = self.producers.values.filter { nowMs - $0.lastTimestamp >= expirationMs }.map(\.producerID)
        for id in expired { self.producers.removeValue(forKey: id) }
        return expired.count
    }

    // MARK: Snapshots

    /// The snapshot file name for the state up to (excluding) `offset`: `<20-digit offset>.snapshot`, as Kafka names it.
    public static func snapshotFileName(offset: Int64) -> String { LogSegment.fileName(offset, ".snapshot") }

    public static func snapshotOffset(fromFileName name: String) -> Int64? {
        LogSegment.baseOffset(fromFileName: name, suffix: ".snapshot")
    }

    /// Spate's snapshot format (version 2). Kafka's version 1 keeps only each producer's last batch, so a broker
    /// restarted with five batches in flight would refuse retries of the first four as out of order; version 2 keeps
    /// every retained batch. Layout (big-endian), modelled on Kafka's:
    /// ```
    /// version: int16 (= 2)
    /// crc: uint32                 CRC-32C of everything after this field
    /// producerCount: int32
    ///   producerID: int64, epoch: int16, lastTimestamp: int64,
    ///   coordinatorEpoch: int32 (-1), currentTxnFirstOffset: int64 (-1)   (reserved for transactions)
    ///   batchCount: int32
    ///     firstSequence: int32, lastSequence: int32, firstOffset: int64, lastOffset: int64, timestamp: int64
    /// ```
    /// Kafka's version 1 files (one batch per producer) are read too.
    public static let snapshotVersion: Int16 = 2

    public func encodedSnapshot() -> ByteBuffer {
        var body = ByteBuffer()
        let entries = self.producers.values.sorted { $0.producerID < $1.producerID }
        body.writeInteger(Int32(entries.count))
        for entry in entries {
            body.writeInteger(entry.producerID)
            body.writeInteger(entry.epoch)
            body.writeInteger(entry.lastTimestamp)
            body.writeInteger(Int32(-1))
            body.writeInteger(Int64(-1))
            body.writeInteger(Int32(entry.batches.count))
            for batch in entry.batches {
                body.writeInteger(batch.firstSequence)
                body.writeInteger(batch.lastSequence)
                body.writeInteger(batch.firstOffset)
                body.writeInteger(batch.lastOffset)
                body.writeInteger(batch.timestamp)
            }
        }
        var out = ByteBuffer()
        out.writeInteger(Self.snapshotVersion)
        out.writeInteger(CRC32C.checksum(body))
        out.writeImmutableBuffer(body)
        return out
    }

    /// Parses a snapshot (Spate's version 2 or Kafka's version 1).
    /// - Throws: ``StorageError/Code/corrupt`` for a bad CRC, an unknown version or truncated contents.
    public init(parsingSnapshot buffer: ByteBuffer) throws(StorageError) {
        var buffer = buffer
        func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(StorageError) -> T {
            guard let value = buffer.readInteger(as: T.self) else {
                throw StorageError(.corrupt, "a producer-state snapshot ends early")
            }
            return value
        }
        let version: Int16 = try read()
        let crc: UInt32 = try read()
        guard CRC32C.checksum(buffer) == crc else { throw StorageError(.corrupt, "a producer-state snapshot fails its CRC") }
        let count: Int32 = try read()
        guard count >= 0 else { throw StorageError(.corrupt, "a producer-state snapshot has \(count) producers") }
        for _ in 0..<count {
            switch version {
            case 1:
                // Kafka: producerId, epoch, lastSequence, lastOffset, offsetDelta, timestamp, coordinatorEpoch,
                // currentTxnFirstOffset.
                let id: Int64 = try read()
                let epoch: Int16 = try read()
                let lastSequence: Int32 = try read()
                let lastOffset: Int64 = try read()
                let delta: Int32 = try read()
                let timestamp: Int64 = try read()
                _ = try read(Int32.self)
                _ = try read(Int64.self)
                var batches: [ProducerBatchMetadata] = []
                if lastSequence >= 0 {
                    batches.append(
                        ProducerBatchMetadata(
                            firstSequence: RecordBatch.firstSequence(last: lastSequence, delta: delta),
                            lastSequence: lastSequence, firstOffset: lastOffset - Int64(delta), lastOffset: lastOffset,
                            timestamp: timestamp))
                }
                self.producers[id] = ProducerStateEntry(
                    producerID: id, epoch: epoch, batches: batches, lastTimestamp: timestamp)
            case 2:
                let id: Int64 = try read()
                let epoch: Int16 = try read()
                let lastTimestamp: Int64 = try read()
                _ = try read(Int32.self)
                _ = try read(Int64.self)
                let batchCount: Int32 = try read()
                guard (0...Int32(ProducerStateEntry.batchesRetained)).contains(batchCount) else {
                    throw StorageError(.corrupt, "a producer-state snapshot has \(batchCount) batches for a producer")
                }
                var batches: [ProducerBatchMetadata] = []
                for _ in 0..<batchCount {
                    batches.append(
                        ProducerBatchMetadata(
                            firstSequence: try read(), lastSequence: try read(), firstOffset: try read(),
                            lastOffset: try read(), timestamp: try read()))
                }
                self.producers[id] = ProducerStateEntry(
                    producerID: id, epoch: epoch, batches: batches, lastTimestamp: lastTimestamp)
            default:
                throw StorageError(.corrupt, "unknown producer-state snapshot version \(version)")
            }
        }
        guard buffer.readableBytes == 0 else {
            throw StorageError(.corrupt, "a producer-state snapshot has \(buffer.readableBytes) bytes left over")
        }
    }
}

extension RecordBatch {
    /// The last sequence of a batch whose first is `base` and whose last offset delta is `delta`, wrapping from
    /// `Int32.max` to 0 (Kafka `incrementSequence`).
    static func lastSequence(base: Int32, delta: Int32) -> Int32 {
        guard base >= 0 else { return -1 }
        let last = Int64(base) + Int64(delta)
        return Int32(truncatingIfNeeded: last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    /// The first sequence of a batch whose last is `last` (Kafka `decrementSequence`).
    static func firstSequence(last: Int32, delta: Int32) -> Int32 {
        last < delta ? Int32(truncatingIfNeeded: Int64(Int32.max) - Int64(delta) + Int64(last) + 1) : last - delta
    }
}
