public import NIOCore

// Record fields inside a v2 batch use zigzag-encoded LEB128 varints (Kafka `ByteUtils.readVarint`/`readVarlong`).
// Protocol lengths and tags use *unsigned* varints, which live in SpateWire; they are different functions on purpose.

extension ByteBuffer {
    /// Reads a zigzag varint (at most 5 bytes) and moves the reader index past it.
    ///
    /// On error the reader index does not move.
    /// - Throws: ``RecordBatchError/Code/truncated`` when the bytes end mid-varint;
    ///   ``RecordBatchError/Code/malformedVarInt`` when it is longer than 5 bytes or does not fit in 32 bits.
    public mutating func readVarInt() throws(RecordBatchError) -> Int32 {
        let (raw, length) = try self.getRawVarInt(at: self.readerIndex, maxBytes: 5, bits: 32)
        self.moveReaderIndex(forwardBy: length)
        return Int32(truncatingIfNeeded: ByteBuffer.zigzagDecode(raw))
    }

    /// Reads a zigzag varlong (at most 10 bytes) and moves the reader index past it.
    ///
    /// On error the reader index does not move.
    /// - Throws: ``RecordBatchError/Code/truncated`` when the bytes end mid-varlong;
    ///   ``RecordBatchError/Code/malformedVarInt`` when it is longer than 10 bytes or does not fit in 64 bits.
    public mutating func readVarLong() throws(RecordBatchError) -> Int64 {
        let (raw, length) = try self.getRawVarInt(at: self.readerIndex, maxBytes: 10, bits: 64)
        self.moveReaderIndex(forwardBy: length)
        return ByteBuffer.zigzagDecode(raw)
    }

    /// Writes `value` as a zigzag varint.
    /// - Returns: The number of bytes written (1 to 5).
    @discardableResult
    public mutating func writeVarInt(_ value: Int32) -> Int {
        self.writeRawVarInt(UInt64(ByteBuffer.zigzagEncode(Int64(value))))
    }

    /// Writes `value` as a zigzag varlong.
    /// - Returns: The number of bytes written (1 to 10).
    @discardableResult
    public mutating func writeVarLong(_ value: Int64) -> Int {
        self.writeRawVarInt(ByteBuffer.zigzagEncode(value))
    }

    /// The number of bytes ``writeVarInt(_:)`` writes for `value`.
    public static func varIntSize(_ value: Int32) -> Int {
        Self.rawVarIntSize(Self.zigzagEncode(Int64(value)))
    }

    /// The number of bytes ``writeVarLong(_:)`` writes for `value`.
    public static func varLongSize(_ value: Int64) -> Int {
        Self.rawVarIntSize(Self.zigzagEncode(value))
    }

    // MARK: Internals

    @inline(__always)
    static func zigzagEncode(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always)
    static func zigzagDecode(_ raw: UInt64) -> Int64 {
        Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    static func rawVarIntSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    mutating func writeRawVarInt(_ value: UInt64) -> Int {
        if value < 0x80 { return self.writeInteger(UInt8(truncatingIfNeeded: value)) }
        // One capacity and uniqueness check for the whole varint, not one per byte (the producer writes several per
        // record).
        return self.writeWithUnsafeMutableBytes(minimumWritableBytes: 10) { bytes in
            ByteBuffer.putRawVarInt(value, into: bytes, at: 0)
        }
    }

    /// Stores `value` as an unsigned LEB128 varint at `index` of `bytes`, which must have room for it (10 bytes at
    /// most); returns the number of bytes stored.
    @inline(__always)
    static func putRawVarInt(_ value: UInt64, into bytes: UnsafeMutableRawBufferPointer, at index: Int) -> Int {
        var rest = value
        var position = index
        while rest >= 0x80 {
            bytes[position] = UInt8(truncatingIfNeeded: rest) | 0x80
            rest >>= 7
            position += 1
        }
        bytes[position] = UInt8(truncatingIfNeeded: rest)
        return position + 1 - index
    }

    /// Reads an unsigned LEB128 value of at most `maxBytes` bytes whose value fits in `bits` bits (zigzag form).
    func getRawVarInt(at index: Int, maxBytes: Int, bits: Int) throws(RecordBatchError) -> (UInt64, Int) {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var length = 0
        while true {
            guard let byte = self.getInteger(at: index + length, as: UInt8.self) else {
                throw RecordBatchError(.truncated, "varint ends after \(length) byte(s)")
            }
            length += 1
            let payload = UInt64(byte & 0x7F)
            if length == maxBytes {
                // The last permitted byte: no continuation and no bits beyond the value's width.
                let usedBits = UInt64(bits) - shift
                if byte & 0x80 != 0 || payload >> usedBits != 0 {
                    throw RecordBatchError(
                        .malformedVarInt,
                        "varint longer than \(maxBytes) bytes or beyond \(bits) bits"
                    )
                }
            }
            result |= payload << shift
            if byte & 0x80 == 0 {
                return (result, length)
            }
            shift += 7
        }
    }
}
