/// An error found in record-batch bytes: a malformed varint, header, record or batch framing.
///
/// Decoding never traps on input bytes; it throws one of these instead. Compare ``code`` to the static codes (the set
/// may grow without breaking the API); ``message`` is for humans and may change.
///
/// ```swift
/// do { try batch.validate() } catch let error as RecordBatchError where error.code == .crcMismatch { … }
/// ```
public struct RecordBatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, including the offending values.
    public var message: String

    /// Creates an error with a code and an explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RecordBatchError(\(self.code)): \(self.message)" }

    /// The kind of a ``RecordBatchError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case truncated
            case malformedVarInt
            case unsupportedMagic
            case invalidBatchLength
            case invalidRecordCount
            case invalidLastOffsetDelta
            case crcMismatch
            case unknownCompression
            case compressorRequired
            case invalidRecord
            case recordCountMismatch
            case trailingBytes
            case invalidControlRecord
            case emptyBatch
            case batchTooLarge
        }

        let base: Base

        init(_ base: Base) { self.base = base }

        public var description: String { self.base.rawValue }

        /// Fewer bytes than a field, record or batch needs (inside bytes that should be complete).
        public static let truncated = Self(.truncated)
        /// A zigzag varint longer than 5 bytes (10 for a varlong) or with bits beyond the value's width.
        public static let malformedVarInt = Self(.malformedVarInt)
        /// The batch's magic byte is not 2; only record batch v2 is supported.
        public static let unsupportedMagic = Self(.unsupportedMagic)
        /// `batchLength` is negative, smaller than the v2 minimum of 49, or disagrees with the bytes present.
        public static let invalidBatchLength = Self(.invalidBatchLength)
        /// `recordCount` is negative or more than the batch can hold.
        public static let invalidRecordCount = Self(.invalidRecordCount)
        /// `lastOffsetDelta` is negative or smaller than `recordCount - 1`.
        public static let invalidLastOffsetDelta = Self(.invalidLastOffsetDelta)
        /// The stored CRC-32C differs from the one computed over `attributes` through the end of the batch.
        public static let crcMismatch = Self(.crcMismatch)
        /// Attribute bits 0–2 name no known codec.
        public static let unknownCompression = Self(.unknownCompression)
        /// The batch is (or is to be) compressed, but no ``RecordsCompressor`` was supplied.
        public static let compressorRequired = Self(.compressorRequired)
        /// A record's length, key, value or header is malformed, or its length disagrees with its contents.
        public static let invalidRecord = Self(.invalidRecord)
        /// The records section holds a different number of records than `recordCount`.
        public static let recordCountMismatch = Self(.recordCountMismatch)
        /// Bytes are left over after the last record.
        public static let trailingBytes = Self(.trailingBytes)
        /// A control record's key or value is malformed.
        public static let invalidControlRecord = Self(.invalidControlRecord)
        /// A batch with no records was requested from ``RecordBatchBuilder``.
        public static let emptyBatch = Self(.emptyBatch)
        /// A batch, record or field exceeds what its `int32` length or count can express.
        public static let batchTooLarge = Self(.batchTooLarge)
    }
}
