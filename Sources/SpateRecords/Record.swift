public import NIOCore

/// A record header: a UTF-8 key and a nullable value.
public struct RecordHeader: Hashable, Sendable {
    /// The header key (decoded leniently, as Kafka does: invalid UTF-8 becomes U+FFFD).
    public var key: String
    /// The header value; `nil` is distinct from empty.
    public var value: ByteBuffer?

    /// Creates a header.
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// One record of a v2 batch, decoded from an uncompressed records section.
///
/// ```
/// length: varint           bytes after this field
/// attributes: int8         unused, 0
/// timestampDelta: varlong  relative to the batch's baseTimestamp
/// offsetDelta: varint      relative to the batch's baseOffset
/// keyLength: varint        -1 = null
/// key: bytes
/// valueLength: varint      -1 = null
/// value: bytes
/// headerCount: varint
/// headers: [headerKeyLength varint, headerKey UTF-8, headerValueLength varint (-1 = null), headerValue]
/// ```
/// Keys and values are slices of the (decompressed) records bytes, not copies.
public struct Record: Hashable, Sendable {
    /// The record attributes byte (unused by Kafka; 0).
    public var attributes: Int8
    /// The timestamp relative to the batch's `baseTimestamp`.
    public var timestampDelta: Int64
    /// The offset relative to the batch's `baseOffset`.
    public var offsetDelta: Int32
    /// The key; `nil` is distinct from empty.
    public var key: ByteBuffer?
    /// The value; `nil` is distinct from empty (a tombstone on compacted topics).
    public var value: ByteBuffer?
    /// The headers, in order.
    public var headers: [RecordHeader]
    /// The `baseOffset` of the batch the record came from.
    public var baseOffset: Int64
    /// The `baseTimestamp` of the batch the record came from.
    public var baseTimestamp: Int64
    /// The log append time when the batch uses ``TimestampType/logAppendTime``; it then replaces every timestamp.
    public var logAppendTime: Int64?

    /// Creates a record from its parts.
    public init(
        attributes: Int8 = 0,
        timestampDelta: Int64,
        offsetDelta: Int32,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        baseOffset: Int64 = 0,
        baseTimestamp: Int64 = 0,
        logAppendTime: Int64? = nil
    ) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
        self.baseOffset = baseOffset
        self.baseTimestamp = baseTimestamp
        self.logAppendTime = logAppendTime
    }

    /// The record's offset: `baseOffset + offsetDelta`.
    public var offset: Int64 { self.baseOffset &+ Int64(self.offsetDelta) }

    /// The record's timestamp: the log append time if any, else `baseTimestamp + timestampDelta`.
    public var timestamp: Int64 { self.logAppendTime ?? (self.baseTimestamp &+ self.timestampDelta) }

    /// The smallest possible encoded record: seven one-byte fields.
    static let minimumEncodedSize = 7

    /// Decodes one length-prefixed record and moves the reader index past it.
    ///
    /// The record's `length` must match the bytes its fields use exactly.
    /// - Parameters:
    ///   - buffer: The records section, positioned at a record.
    ///   - baseOffset: The batch's `baseOffset`.
    ///   - baseTimestamp: The batch's `baseTimestamp`.
    ///   - logAppendTime: The batch's `maxTimestamp` if it uses ``TimestampType/logAppendTime``, else `nil`.
    /// - Throws: ``RecordBatchError`` with code ``RecordBatchError/Code/truncated``,
    ///   ``RecordBatchError/Code/malformedVarInt`` or ``RecordBatchError/Code/invalidRecord``.
    public init(
        from buffer: inout ByteBuffer,
        baseOffset: Int64,
        baseTimestamp: Int64,
        logAppendTime: Int64? = nil
    ) throws(RecordBatchError) {
        let length = try buffer.readVarInt()
        guard length >= 0 else {
            throw RecordBatchError(.invalidRecord, "record length \(length) is negative")
        }
        guard var body = buffer.readSlice(length: Int(length)) else {
            throw RecordBatchError(
                .truncated,
                "record length \(length) exceeds the \(buffer.readableBytes) remaining byte(s)"
            )
        }
        guard let attributes = body.readInteger(as: Int8.self) else {
            throw RecordBatchError(.invalidRecord, "record length \(length) leaves no room for attributes")
        }
        self.attributes = attributes
        self.timestampDelta = try Self.readField { () throws(RecordBatchError) in try body.readVarLong() }
        self.offsetDelta = try Self.readField { () throws(RecordBatchError) in try body.readVarInt() }
        self.key = try Self.readField { () throws(RecordBatchError) in try body.readNullableBytes(what: "key") }
        self.value = try Self.readField { () throws(RecordBatchError) in try body.readNullableBytes(what: "value") }
        let headerCount = try Self.readField { () throws(RecordBatchError) in try body.readVarInt() }
        guard headerCount >= 0 else {
            throw RecordBatchError(.invalidRecord, "header count \(headerCount) is negative")
        }
        // Each header needs at least two bytes, which bounds the allocation by the bytes present.
        guard Int(headerCount) <= body.readableBytes / 2 else {
            throw RecordBatchError(.invalidRecord, "header count \(headerCount) exceeds the record's bytes")
        }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(Int(headerCount))
        for _ in 0..<headerCount {
            let keyLength = try Self.readField { () throws(RecordBatchError) in try body.readVarInt() }
            guard keyLength >= 0 else {
                throw RecordBatchError(.invalidRecord, "header key length \(keyLength) is negative")
            }
            guard let key = body.readString(length: Int(keyLength)) else {
                throw RecordBatchError(.invalidRecord, "header key length \(keyLength) exceeds the record's bytes")
            }
            let value = try Self.readField { () throws(RecordBatchError) in
                try body.readNullableBytes(what: "header value")
            }
            headers.append(RecordHeader(key: key, value: value))
        }
        guard body.readableBytes == 0 else {
            throw RecordBatchError(
                .invalidRecord,
                "record length \(length) leaves \(body.readableBytes) byte(s) unused"
            )
        }
        self.headers = headers
        self.baseOffset = baseOffset
        self.baseTimestamp = baseTimestamp
        self.logAppendTime = logAppendTime
    }

    /// Runs a field read inside a record body, where running out of bytes means the record length lied.
    @inline(__always)
    private static func readField<T>(_ read: () throws(RecordBatchError) -> T) throws(RecordBatchError) -> T {
        do {
            return try read()
        } catch  where error.code == .truncated {
            throw RecordBatchError(.invalidRecord, "record length too small for its fields: \(error.message)")
        }
    }

    // MARK: Encoding

    /// The number of bytes of a record body (everything after its length varint).
    static func bodySize(
        timestampDelta: Int64,
        offsetDelta: Int32,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader]
    ) -> Int {
        var size = 1 + ByteBuffer.varLongSize(timestampDelta) + ByteBuffer.varIntSize(offsetDelta)
        size += nullableBytesSize(key)
        size += nullableBytesSize(value)
        size += ByteBuffer.varIntSize(Int32(clamping: headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += ByteBuffer.varIntSize(Int32(clamping: keyLength)) + keyLength
            size += nullableBytesSize(header.value)
        }
        return size
    }

    private static func nullableBytesSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return ByteBuffer.varIntSize(Int32(clamping: bytes.readableBytes)) + bytes.readableBytes
    }

    /// Writes a record (length varint, then body); the caller has checked every length fits in an `Int32`.
    static func write(
        into buffer: inout ByteBuffer,
        bodySize: Int32,
        timestampDelta: Int64,
        offsetDelta: Int32,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader]
    ) {
        // The fixed-order head (length, attributes, deltas, key length) in one write: at most 5 + 1 + 10 + 5 + 5 bytes.
        let keyLength = key.map { Int64($0.readableBytes) } ?? -1
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 26) { bytes in
            var index = ByteBuffer.putRawVarInt(ByteBuffer.zigzagEncode(Int64(bodySize)), into: bytes, at: 0)
            bytes[index] = 0
            index += 1
            index += ByteBuffer.putRawVarInt(ByteBuffer.zigzagEncode(timestampDelta), into: bytes, at: index)
            index += ByteBuffer.putRawVarInt(ByteBuffer.zigzagEncode(Int64(offsetDelta)), into: bytes, at: index)
            index += ByteBuffer.putRawVarInt(ByteBuffer.zigzagEncode(keyLength), into: bytes, at: index)
            return index
        }
        if let key { buffer.writeImmutableBuffer(key) }
        buffer.writeNullableBytes(value)
        buffer.writeVarInt(Int32(clamping: headers.count))
        for header in headers {
            buffer.writeVarInt(Int32(clamping: header.key.utf8.count))
            buffer.writeString(header.key)
            buffer.writeNullableBytes(header.value)
        }
    }
}

extension ByteBuffer {
    /// Reads a varint length (`-1` = null) and that many bytes as a slice.
    mutating func readNullableBytes(what: String) throws(RecordBatchError) -> ByteBuffer? {
        let length = try self.readVarInt()
        if length == -1 {
            return nil
        }
        guard length >= 0 else {
            throw RecordBatchError(.invalidRecord, "\(what) length \(length) is invalid")
        }
        guard let bytes = self.readSlice(length: Int(length)) else {
            throw RecordBatchError(.truncated, "\(what) length \(length) exceeds \(self.readableBytes) byte(s)")
        }
        return bytes
    }

    /// Writes a varint length (`-1` for `nil`) and the bytes.
    mutating func writeNullableBytes(_ bytes: ByteBuffer?) {
        guard let bytes else {
            self.writeVarInt(-1)
            return
        }
        self.writeVarInt(Int32(clamping: bytes.readableBytes))
        self.writeImmutableBuffer(bytes)
    }
}
