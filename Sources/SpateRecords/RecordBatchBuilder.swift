public import NIOCore

/// Builds one v2 record batch, as a producer does.
///
/// Records are encoded as they are appended: record `i` gets `offsetDelta = i` (or an explicit, increasing delta
/// through ``append(offsetDelta:key:value:headers:timestamp:)``), the first timestamp becomes
/// `baseTimestamp`, and the largest becomes `maxTimestamp`. ``build(compressor:)`` writes the header, compresses the
/// records section if asked to, and fills in `batchLength` and the CRC.
///
/// Records are encoded after room left for the header, so ``buildInPlace(compressor:)`` builds an uncompressed batch
/// without copying its records.
///
/// ```swift
/// var builder = RecordBatchBuilder(producerID: 7, producerEpoch: 0, baseSequence: 0)
/// builder.append(key: nil, value: ByteBuffer(string: "hello"), timestamp: 1_700_000_000_000)
/// let bytes = try builder.build(compressor: nil)
/// ```
public struct RecordBatchBuilder: Sendable {
    /// The batch's `baseOffset` (0 from producers; the broker stamps the real one).
    public var baseOffset: Int64
    /// The idempotent producer's ID, or `-1`.
    public var producerID: Int64
    /// The idempotent producer's epoch, or `-1`.
    public var producerEpoch: Int16
    /// The sequence number of the first record, or `-1`.
    public var baseSequence: Int32
    /// Whether the batch belongs to a transaction.
    public var isTransactional: Bool
    /// Whether the batch holds control records.
    public var isControl: Bool
    /// The batch's `partitionLeaderEpoch` (`-1` from producers).
    public var partitionLeaderEpoch: Int32
    /// The codec for the records section.
    public var compression: CompressionType
    /// The timestamp type written to the attributes.
    public var timestampType: TimestampType

    /// Room for the batch header (``RecordBatch/headerSize`` bytes), then the encoded, uncompressed records appended
    /// so far.
    private var records: ByteBuffer
    /// The number of records appended so far.
    public private(set) var recordCount: Int = 0
    /// The timestamp of the first record, which becomes `baseTimestamp`; `nil` before any record.
    public private(set) var baseTimestamp: Int64?
    /// The largest timestamp appended, which becomes `maxTimestamp`; `nil` before any record.
    public private(set) var maxTimestamp: Int64?
    /// Set when a record or the batch outgrew an `int32` length; ``build(compressor:)`` then throws.
    private var tooLarge: String?
    /// The offset delta of the last record appended; `nil` before any record.
    public private(set) var lastOffsetDelta: Int32?
    /// Set when ``append(offsetDelta:key:value:headers:timestamp:)`` got a delta that does not increase;
    /// ``build(compressor:)`` then throws.
    private var invalidOffsetDelta: String?

    /// Creates an empty builder.
    public init(
        baseOffset: Int64 = 0,
        producerID: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        isTransactional: Bool = false,
        isControl: Bool = false,
        partitionLeaderEpoch: Int32 = -1,
        compression: CompressionType = .none,
        timestampType: TimestampType = .createTime,
        reservingCapacity capacity: Int = 0
    ) {
        self.baseOffset = baseOffset
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.compression = compression
        self.timestampType = timestampType
        self.records = ByteBuffer()
        self.records.reserveCapacity(max(capacity, RecordBatch.headerSize))
        self.records.writeRepeatingByte(0, count: RecordBatch.headerSize)
    }

    /// The size of the batch if built uncompressed: header plus encoded records. Compression usually shrinks it.
    public var estimatedSizeInBytes: Int { self.records.readableBytes }

    /// The size of the encoded, uncompressed records.
    private var recordsSizeInBytes: Int { self.records.readableBytes - RecordBatch.headerSize }

    /// Whether no record has been appended.
    public var isEmpty: Bool { self.recordCount == 0 }

    /// Appends a record with the next offset delta.
    ///
    /// Never traps: a record or batch too large for the format makes ``build(compressor:)`` throw
    /// ``RecordBatchError/Code/batchTooLarge`` instead.
    /// - Parameters:
    ///   - key: The key; `nil` is written as length `-1`.
    ///   - value: The value; `nil` (a tombstone) is written as length `-1`.
    ///   - headers: Headers, written in order.
    ///   - timestamp: The record's timestamp in milliseconds.
    public mutating func append(
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        timestamp: Int64
    ) {
        let offsetDelta = self.lastOffsetDelta.map { $0 &+ 1 } ?? 0
        self.appendRecord(offsetDelta: offsetDelta, key: key, value: value, headers: headers, timestamp: timestamp)
    }

    /// Appends a record with an explicit offset delta, leaving gaps in the offsets (as log compaction does).
    ///
    /// Deltas must be non-negative and strictly increasing; the batch's `lastOffsetDelta` becomes the last one
    /// appended, so `recordCount` may be smaller than `lastOffsetDelta + 1`. Never traps: a delta that does not
    /// increase makes ``build(compressor:)`` throw ``RecordBatchError/Code/invalidLastOffsetDelta``.
    /// - Parameters:
    ///   - offsetDelta: The record's offset relative to ``baseOffset``.
    ///   - key: The key; `nil` is written as length `-1`.
    ///   - value: The value; `nil` (a tombstone) is written as length `-1`.
    ///   - headers: Headers, written in order.
    ///   - timestamp: The record's timestamp in milliseconds.
    public mutating func append(
        offsetDelta: Int32,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        timestamp: Int64
    ) {
        guard offsetDelta >= 0, offsetDelta > (self.lastOffsetDelta ?? -1) else {
            self.invalidOffsetDelta =
                self.invalidOffsetDelta
                ?? "offset delta \(offsetDelta) does not follow \(self.lastOffsetDelta.map(String.init) ?? "the start")"
            self.recordCount += 1
            return
        }
        self.appendRecord(offsetDelta: offsetDelta, key: key, value: value, headers: headers, timestamp: timestamp)
    }

    private mutating func appendRecord(
        offsetDelta: Int32,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader],
        timestamp: Int64
    ) {
        self.lastOffsetDelta = offsetDelta
        let baseTimestamp = self.baseTimestamp ?? timestamp
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = max(self.maxTimestamp ?? timestamp, timestamp)

        let limit = Int(Int32.max)
        let fieldsFit =
            (key?.readableBytes ?? 0) <= limit && (value?.readableBytes ?? 0) <= limit && headers.count <= limit
            && headers.allSatisfy { $0.key.utf8.count <= limit && ($0.value?.readableBytes ?? 0) <= limit }
        guard self.tooLarge == nil, fieldsFit, self.recordCount < limit else {
            self.tooLarge = self.tooLarge ?? "record \(self.recordCount) has a field longer than Int32.max bytes"
            self.recordCount += 1
            return
        }
        let timestampDelta = timestamp &- baseTimestamp
        let bodySize = Record.bodySize(
            timestampDelta: timestampDelta,
            offsetDelta: offsetDelta,
            key: key,
            value: value,
            headers: headers
        )
        guard bodySize <= limit, self.estimatedSizeInBytes + bodySize + 5 <= limit else {
            self.tooLarge = "the batch would exceed Int32.max bytes at record \(self.recordCount)"
            self.recordCount += 1
            return
        }
        Record.write(
            into: &self.records,
            bodySize: Int32(truncatingIfNeeded: bodySize),
            timestampDelta: timestampDelta,
            offsetDelta: offsetDelta,
            key: key,
            value: value,
            headers: headers
        )
        self.recordCount += 1
    }

    /// Writes the batch.
    /// - Parameter compressor: Compresses the records section; required unless ``compression`` is `.none`.
    /// - Returns: The whole batch, ready to send or to wrap in a ``RecordSet``.
    /// - Throws: ``RecordBatchError`` with code ``RecordBatchError/Code/emptyBatch``,
    ///   ``RecordBatchError/Code/compressorRequired`` or ``RecordBatchError/Code/batchTooLarge``, or whatever
    ///   `compressor` throws.
    public func build(compressor: (any RecordsCompressor)?) throws -> ByteBuffer {
        var builder = self
        return try builder.buildInPlace(compressor: compressor)
    }

    /// Writes the batch like ``build(compressor:)``, without copying the records of an uncompressed batch: the header
    /// is written into the room left for it and the result shares the builder's storage (appending to the builder
    /// afterwards copies the records once; building again does not).
    public mutating func buildInPlace(compressor: (any RecordsCompressor)?) throws -> ByteBuffer {
        if let tooLarge = self.tooLarge {
            throw RecordBatchError(.batchTooLarge, tooLarge)
        }
        if let invalidOffsetDelta = self.invalidOffsetDelta {
            throw RecordBatchError(.invalidLastOffsetDelta, invalidOffsetDelta)
        }
        guard let baseTimestamp = self.baseTimestamp, let maxTimestamp = self.maxTimestamp, self.recordCount > 0
        else {
            throw RecordBatchError(.emptyBatch, "a record batch needs at least one record")
        }
        let attributes = RecordBatchAttributes(
            compression: self.compression,
            timestampType: self.timestampType,
            isTransactional: self.isTransactional,
            isControl: self.isControl
        )

        let recordsSize = self.recordsSizeInBytes
        var output: ByteBuffer
        if self.compression == .none {
            output = self.records
            self.records = ByteBuffer()  // the only reference while the header is written: no copy
            output.moveWriterIndex(to: output.readerIndex)
        } else {
            output = ByteBuffer()
            output.reserveCapacity(self.estimatedSizeInBytes)
        }
        let start = output.writerIndex
        output.writeMultipleIntegers(
            self.baseOffset,
            Int32(0),  // batchLength, filled in below
            self.partitionLeaderEpoch,
            RecordBatch.currentMagic,
            UInt32(0),  // crc, filled in below
            attributes.rawValue,
            self.lastOffsetDelta ?? Int32(truncatingIfNeeded: self.recordCount - 1),  // lastOffsetDelta
            baseTimestamp,
            maxTimestamp
        )
        output.writeMultipleIntegers(
            self.producerID,
            self.producerEpoch,
            self.baseSequence,
            Int32(truncatingIfNeeded: self.recordCount)
        )

        if self.compression == .none {
            // The records are already in place after the header.
            output.moveWriterIndex(forwardBy: recordsSize)
        } else {
            guard let compressor else {
                throw RecordBatchError(.compressorRequired, "the batch is to be compressed with \(self.compression)")
            }
            try compressor.compress(
                self.records.getSlice(at: self.records.readerIndex + RecordBatch.headerSize, length: recordsSize)!,
                type: self.compression, into: &output)
        }

        let size = output.writerIndex - start
        guard size - RecordBatch.logOverhead <= Int(Int32.max) else {
            if self.compression == .none { self.records = output }
            throw RecordBatchError(.batchTooLarge, "the batch is \(size) bytes, more than Int32.max")
        }
        output.setInteger(
            Int32(truncatingIfNeeded: size - RecordBatch.logOverhead),
            at: start + RecordBatch.FieldOffset.batchLength
        )
        let crc =
            output.getSlice(
                at: start + RecordBatch.FieldOffset.attributes,
                length: size - RecordBatch.FieldOffset.attributes
            ).map(CRC32C.checksum) ?? 0
        output.setInteger(crc, at: start + RecordBatch.FieldOffset.crc)
        if self.compression == .none { self.records = output }
        return output
    }

    /// Builds a control batch holding one transaction marker, as a transaction coordinator writes it.
    /// - Parameters:
    ///   - marker: The commit or abort marker.
    ///   - producerID: The transactional producer's ID.
    ///   - producerEpoch: The transactional producer's epoch.
    ///   - timestamp: The marker's timestamp in milliseconds.
    ///   - baseOffset: The batch's `baseOffset`.
    ///   - partitionLeaderEpoch: The batch's `partitionLeaderEpoch`.
    /// - Returns: The whole batch.
    public static func makeEndTransactionBatch(
        marker: EndTransactionMarker,
        producerID: Int64,
        producerEpoch: Int16,
        timestamp: Int64,
        baseOffset: Int64 = 0,
        partitionLeaderEpoch: Int32 = -1
    ) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(
            baseOffset: baseOffset,
            producerID: producerID,
            producerEpoch: producerEpoch,
            isTransactional: true,
            isControl: true,
            partitionLeaderEpoch: partitionLeaderEpoch
        )
        builder.append(key: marker.makeKey(), value: marker.makeValue(), timestamp: timestamp)
        return try builder.build(compressor: nil)
    }
}
