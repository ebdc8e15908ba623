public import NIOCore

/// A zero-copy view of one v2 record batch: its 61-byte header followed by its records section.
///
/// The view wraps a `ByteBuffer` slice whose readable bytes start at the batch's first byte. Header accessors read in
/// place; nothing is decoded until you ask for ``records(using:maxDecompressedSize:)``. Creating a view only checks
/// that a whole header is present; call ``validate()`` before trusting the rest.
///
/// ```
/// baseOffset: int64            ┐ outside the CRC: the broker stamps these on append
/// batchLength: int32           │ (bytes after this field)
/// partitionLeaderEpoch: int32  ┘
/// magic: int8 (= 2)
/// crc: uint32                  CRC-32C of attributes … end
/// attributes: int16
/// lastOffsetDelta: int32
/// baseTimestamp: int64
/// maxTimestamp: int64
/// producerId: int64
/// producerEpoch: int16
/// baseSequence: int32
/// recordCount: int32
/// records: [Record]            possibly compressed as a whole
/// ```
public struct RecordBatch: Hashable, Sendable {
    /// The batch's bytes: exactly the batch when it came from ``RecordSet/batches``.
    public private(set) var buffer: ByteBuffer

    /// Wraps the bytes of one batch, starting at its reader index.
    /// - Throws: ``RecordBatchError/Code/truncated`` if fewer than ``headerSize`` bytes are readable.
    public init(buffer: ByteBuffer) throws(RecordBatchError) {
        guard buffer.readableBytes >= Self.headerSize else {
            throw RecordBatchError(
                .truncated,
                "a record batch header needs \(Self.headerSize) bytes, have \(buffer.readableBytes)"
            )
        }
        self.buffer = buffer
    }

    // MARK: Layout

    /// The size of the v2 batch header, which is also where the records start (Kafka `RECORD_BATCH_OVERHEAD`).
    public static let headerSize = 61
    /// The fixed cost of a batch beyond its records: the header (Kafka `RECORD_BATCH_OVERHEAD`).
    public static let batchOverhead = 61
    /// The bytes before the part that `batchLength` counts: `baseOffset` and `batchLength` (Kafka `LOG_OVERHEAD`).
    public static let logOverhead = 12
    /// The smallest valid `batchLength`: a header with no records.
    public static let minimumBatchLength = Int32(headerSize - logOverhead)
    /// The only magic value (record format version) supported.
    public static let currentMagic: Int8 = 2

    /// Byte offsets of the header fields from the start of a batch.
    public enum FieldOffset {
        /// `baseOffset: int64`.
        public static let baseOffset = 0
        /// `batchLength: int32`.
        public static let batchLength = 8
        /// `partitionLeaderEpoch: int32`.
        public static let partitionLeaderEpoch = 12
        /// `magic: int8`.
        public static let magic = 16
        /// `crc: uint32` (CRC-32C of `attributes` … end).
        public static let crc = 17
        /// `attributes: int16`, where the CRC coverage starts.
        public static let attributes = 21
        /// `lastOffsetDelta: int32`.
        public static let lastOffsetDelta = 23
        /// `baseTimestamp: int64`.
        public static let baseTimestamp = 27
        /// `maxTimestamp: int64`.
        public static let maxTimestamp = 35
        /// `producerId: int64`.
        public static let producerID = 43
        /// `producerEpoch: int16`.
        public static let producerEpoch = 51
        /// `baseSequence: int32`.
        public static let baseSequence = 53
        /// `recordCount: int32`.
        public static let recordCount = 57
        /// The first record (the end of the header).
        public static let records = 61
    }

    // MARK: Header fields

    /// The offset of the first record (`baseOffset`).
    public var baseOffset: Int64 { self.field(FieldOffset.baseOffset) }
    /// The number of bytes after this field (`batchLength`).
    public var batchLength: Int32 { self.field(FieldOffset.batchLength) }
    /// The epoch of the leader that appended the batch (`partitionLeaderEpoch`); `-1` from producers.
    public var partitionLeaderEpoch: Int32 { self.field(FieldOffset.partitionLeaderEpoch) }
    /// The record format version (`magic`); 2 for every batch this type understands.
    public var magic: Int8 { self.field(FieldOffset.magic) }
    /// The stored CRC-32C of `attributes` through the end of the batch.
    public var crc: UInt32 { self.field(FieldOffset.crc) }
    /// The batch attributes (compression, timestamp type, transactional, control, delete horizon).
    public var attributes: RecordBatchAttributes {
        RecordBatchAttributes(rawValue: self.field(FieldOffset.attributes))
    }
    /// The offset of the last record relative to ``baseOffset`` (`lastOffsetDelta`).
    public var lastOffsetDelta: Int32 { self.field(FieldOffset.lastOffsetDelta) }
    /// The timestamp of the first record, or the delete horizon when ``hasDeleteHorizon`` (`baseTimestamp`).
    public var baseTimestamp: Int64 { self.field(FieldOffset.baseTimestamp) }
    /// The largest record timestamp, or the log append time for ``TimestampType/logAppendTime`` (`maxTimestamp`).
    public var maxTimestamp: Int64 { self.field(FieldOffset.maxTimestamp) }
    /// The idempotent producer's ID (`producerId`); `-1` when not idempotent.
    public var producerID: Int64 { self.field(FieldOffset.producerID) }
    /// The idempotent producer's epoch (`producerEpoch`); `-1` when not idempotent.
    public var producerEpoch: Int16 { self.field(FieldOffset.producerEpoch) }
    /// The sequence number of the first record (`baseSequence`); `-1` when not idempotent.
    public var baseSequence: Int32 { self.field(FieldOffset.baseSequence) }
    /// The number of records (`recordCount`).
    public var recordCount: Int32 { self.field(FieldOffset.recordCount) }

    // MARK: Derived values

    /// The codec in the attributes, or `nil` for an unknown codec ID.
    public var compression: CompressionType? { self.attributes.compression }
    /// The timestamp type in the attributes.
    public var timestampType: TimestampType { self.attributes.timestampType }
    /// Whether the batch belongs to a transaction.
    public var isTransactional: Bool { self.attributes.isTransactional }
    /// Whether the batch holds control records.
    public var isControl: Bool { self.attributes.isControl }
    /// Whether ``baseTimestamp`` is the delete horizon set by compaction (KIP-534).
    public var hasDeleteHorizon: Bool { self.attributes.hasDeleteHorizon }
    /// The delete horizon in milliseconds when ``hasDeleteHorizon``, else `nil`.
    public var deleteHorizonMs: Int64? { self.hasDeleteHorizon ? self.baseTimestamp : nil }

    /// The offset of the last record: `baseOffset + lastOffsetDelta`.
    public var lastOffset: Int64 { self.baseOffset &+ Int64(self.lastOffsetDelta) }
    /// The offset after the batch: `lastOffset + 1`.
    public var nextOffset: Int64 { self.lastOffset &+ 1 }

    /// The sequence number of the last record, wrapping from `Int32.max` to 0 as Kafka does; `-1` if not idempotent.
    public var lastSequence: Int32 {
        let base = self.baseSequence
        guard base >= 0 else { return -1 }
        let last = Int64(base) + Int64(self.lastOffsetDelta)
        return Int32(truncatingIfNeeded: last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    /// The total size in bytes as given by the header: `batchLength + 12`.
    public var sizeInBytes: Int { Int(self.batchLength) + Self.logOverhead }

    /// The records section (after the header) as a slice, possibly compressed; it ends where the view's bytes end.
    public var recordsSection: ByteBuffer {
        self.buffer.getSlice(
            at: self.buffer.readerIndex + Self.headerSize,
            length: self.buffer.readableBytes - Self.headerSize
        ) ?? ByteBuffer()
    }

    /// Computes the CRC-32C of `attributes` through the end of the view's bytes.
    public func computeCRC() -> UInt32 {
        let start = self.buffer.readerIndex + FieldOffset.attributes
        let length = self.buffer.readableBytes - FieldOffset.attributes
        guard let covered = self.buffer.getSlice(at: start, length: length) else { return 0 }
        return CRC32C.checksum(covered)
    }

    // MARK: Validation

    /// Checks the header and the CRC: what a broker checks before appending a produced batch as received.
    ///
    /// - Throws: ``RecordBatchError`` with code
    ///   ``RecordBatchError/Code/unsupportedMagic`` if `magic` is not 2,
    ///   ``RecordBatchError/Code/invalidBatchLength`` if `batchLength` is below 49 or disagrees with the bytes,
    ///   ``RecordBatchError/Code/crcMismatch`` if the CRC does not match (checked before the fields it covers),
    ///   ``RecordBatchError/Code/invalidRecordCount`` if `recordCount` is negative or cannot fit,
    ///   ``RecordBatchError/Code/invalidLastOffsetDelta`` if `lastOffsetDelta` is negative or below
    ///   `recordCount - 1`, or
    ///   ``RecordBatchError/Code/unknownCompression`` for codec IDs 5–7.
    public func validate() throws(RecordBatchError) {
        let magic = self.magic
        guard magic == Self.currentMagic else {
            throw RecordBatchError(.unsupportedMagic, "record batch magic \(magic) is not supported; only 2 is")
        }
        let batchLength = self.batchLength
        guard batchLength >= Self.minimumBatchLength else {
            throw RecordBatchError(
                .invalidBatchLength,
                "batchLength \(batchLength) is below the minimum \(Self.minimumBatchLength)"
            )
        }
        guard Int(batchLength) + Self.logOverhead == self.buffer.readableBytes else {
            throw RecordBatchError(
                .invalidBatchLength,
                "batchLength \(batchLength) implies \(Int(batchLength) + Self.logOverhead) bytes, have \(self.buffer.readableBytes)"
            )
        }
        let stored = self.crc
        let computed = self.computeCRC()
        guard stored == computed else {
            throw RecordBatchError(.crcMismatch, "stored CRC \(hex(stored)) but computed \(hex(computed))")
        }
        let recordCount = self.recordCount
        guard recordCount >= 0 else {
            throw RecordBatchError(.invalidRecordCount, "recordCount \(recordCount) is negative")
        }
        let lastOffsetDelta = self.lastOffsetDelta
        guard lastOffsetDelta >= 0, Int64(recordCount) <= Int64(lastOffsetDelta) + 1 else {
            throw RecordBatchError(
                .invalidLastOffsetDelta,
                "lastOffsetDelta \(lastOffsetDelta) cannot hold \(recordCount) record(s)"
            )
        }
        let attributes = self.attributes
        guard attributes.compression != nil else {
            throw RecordBatchError(.unknownCompression, "unknown compression codec ID \(attributes.compressionID)")
        }
        if attributes.compression == CompressionType.none {
            let available = self.buffer.readableBytes - Self.headerSize
            guard Int(recordCount) <= available / Record.minimumEncodedSize else {
                throw RecordBatchError(
                    .invalidRecordCount,
                    "recordCount \(recordCount) cannot fit in \(available) uncompressed bytes"
                )
            }
        }
    }

    // MARK: In-place stamping

    /// Overwrites `baseOffset` in place. It lies outside the CRC, which stays valid.
    public mutating func setBaseOffset(_ offset: Int64) {
        self.setField(offset, FieldOffset.baseOffset)
    }

    /// Overwrites `partitionLeaderEpoch` in place. It lies outside the CRC, which stays valid.
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        self.setField(epoch, FieldOffset.partitionLeaderEpoch)
    }

    /// Rewrites the timestamp-type bit and `maxTimestamp`, then recomputes the CRC (for `LogAppendTime` topics).
    ///
    /// Validate the batch first: the new CRC covers whatever bytes are present, so it would hide earlier corruption.
    /// Nothing is written when both values are already as requested.
    public mutating func setMaxTimestamp(_ timestamp: Int64, timestampType: TimestampType) {
        var attributes = self.attributes
        if attributes.timestampType == timestampType && self.maxTimestamp == timestamp {
            return
        }
        attributes.timestampType = timestampType
        self.setField(attributes.rawValue, FieldOffset.attributes)
        self.setField(timestamp, FieldOffset.maxTimestamp)
        self.setField(self.computeCRC(), FieldOffset.crc)
    }

    // MARK: Helpers

    @inline(__always)
    private func field<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        // The initialiser guarantees a whole header, so the fallback is never taken.
        self.buffer.getInteger(at: self.buffer.readerIndex + offset, as: T.self) ?? 0
    }

    @inline(__always)
    private mutating func setField<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
        self.buffer.setInteger(value, at: self.buffer.readerIndex + offset)
    }
}

/// Formats a CRC for error messages.
private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
