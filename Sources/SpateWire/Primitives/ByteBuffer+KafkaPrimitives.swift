public import NIOCore

// The protocol's primitive types (Kafka protocol guide, "Protocol Primitive Types"). Generated message code calls only
// these. `compact` selects the KIP-482 encodings used by flexible versions: lengths as `uvarint(N + 1)`, 0 = null.
// Classic encodings: string int16 length, bytes int32 length, array int32 count; -1 = null.

extension ByteBuffer {
    // MARK: Fixed-width

    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(as type: T.Type = T.self) throws(WireError) -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else { throw .truncated }
        return value
    }

    /// A boolean is one byte; any non-zero value is true, as in Kafka's `readByte() != 0`.
    @inlinable
    public mutating func readKafkaBool() throws(WireError) -> Bool {
        try self.readKafkaInteger(as: UInt8.self) != 0
    }

    @inlinable
    public mutating func writeKafkaBool(_ value: Bool) {
        self.writeInteger(UInt8(value ? 1 : 0))
    }

    @inlinable
    public mutating func readKafkaFloat64() throws(WireError) -> Double {
        Double(bitPattern: try self.readKafkaInteger(as: UInt64.self))
    }

    @inlinable
    public mutating func writeKafkaFloat64(_ value: Double) {
        self.writeInteger(value.bitPattern)
    }

    public mutating func readKafkaUUID() throws(WireError) -> KafkaUUID {
        let high = try self.readKafkaInteger(as: UInt64.self)
        let low = try self.readKafkaInteger(as: UInt64.self)
        return KafkaUUID(high: high, low: low)
    }

    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        self.writeInteger(value.high)
        self.writeInteger(value.low)
    }

    // MARK: Lengths

    /// Reads a string length; nil is the null marker.
    @usableFromInline
    mutating func readStringLength(compact: Bool) throws(WireError) -> Int? {
        let length: Int
        if compact {
            let raw = try self.readUnsignedVarInt()
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else {
            let raw = try self.readKafkaInteger(as: Int16.self)
            if raw == -1 { return nil }
            length = Int(raw)
        }
        guard length >= 0 else { throw .invalidLength(length) }
        guard length <= self.readableBytes else { throw .truncated }
        return length
    }

    /// Reads a bytes or array length; nil is the null marker.
    @usableFromInline
    mutating func readLength32(compact: Bool) throws(WireError) -> Int? {
        let length: Int
        if compact {
            let raw = try self.readUnsignedVarInt()
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else {
            let raw = try self.readKafkaInteger(as: Int32.self)
            if raw == -1 { return nil }
            length = Int(raw)
        }
        guard length >= 0 else { throw .invalidLength(length) }
        // Every element and byte takes at least one byte, so a count beyond what is left is malformed: refusing it
        // here keeps a hostile count from driving a large allocation.
        guard length <= self.readableBytes else { throw .truncated }
        return length
    }

    @usableFromInline
    mutating func writeLength32(_ length: Int, compact: Bool) {
        if compact {
            self.writeUnsignedVarInt(UInt32(length + 1))
        } else {
            self.writeInteger(Int32(length))
        }
    }

    // MARK: Strings

    public mutating func readNullableKafkaString(compact: Bool) throws(WireError) -> String? {
        guard let length = try self.readStringLength(compact: compact) else { return nil }
        guard let string = self.readString(length: length) else { throw .truncated }
        return string
    }

    public mutating func readKafkaString(compact: Bool) throws(WireError) -> String {
        guard let string = try self.readNullableKafkaString(compact: compact) else {
            throw .nullNotAllowed(field: "string", version: -1)
        }
        return string
    }

    /// Writes a non-null string.
    /// - Throws: ``WireError/invalidLength(_:)`` when a classic (int16-length) string is longer than 32,767 bytes.
    public mutating func writeKafkaString(_ value: String, compact: Bool) throws(WireError) {
        let length = value.utf8.count
        if compact {
            self.writeUnsignedVarInt(UInt32(length + 1))
        } else {
            guard length <= Int16.max else { throw .invalidLength(length) }
            self.writeInteger(Int16(length))
        }
        self.writeString(value)
    }

    public mutating func writeNullKafkaString(compact: Bool) {
        if compact { self.writeInteger(UInt8(0)) } else { self.writeInteger(Int16(-1)) }
    }

    // MARK: Bytes

    /// Reads nullable bytes as a slice of this buffer (no copy).
    public mutating func readNullableKafkaBytes(compact: Bool) throws(WireError) -> ByteBuffer? {
        guard let length = try self.readLength32(compact: compact) else { return nil }
        guard let slice = self.readSlice(length: length) else { throw .truncated }
        return slice
    }

    public mutating func readKafkaBytes(compact: Bool) throws(WireError) -> ByteBuffer {
        guard let bytes = try self.readNullableKafkaBytes(compact: compact) else {
            throw .nullNotAllowed(field: "bytes", version: -1)
        }
        return bytes
    }

    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool) {
        self.writeLength32(value.readableBytes, compact: compact)
        var value = value
        self.writeBuffer(&value)
    }

    public mutating func writeNullKafkaBytes(compact: Bool) {
        if compact { self.writeInteger(UInt8(0)) } else { self.writeInteger(Int32(-1)) }
    }

    // MARK: Arrays

    public mutating func readNullableKafkaArray<Element>(
        compact: Bool,
        _ element: (inout ByteBuffer) throws(WireError) -> Element
    ) throws(WireError) -> [Element]? {
        guard let count = try self.readLength32(compact: compact) else { return nil }
        var result: [Element] = []
        for _ in 0..<count {
            result.append(try element(&self))
        }
        return result
    }

    public mutating func readKafkaArray<Element>(
        compact: Bool,
        _ element: (inout ByteBuffer) throws(WireError) -> Element
    ) throws(WireError) -> [Element] {
        guard let array = try self.readNullableKafkaArray(compact: compact, element) else {
            throw .nullNotAllowed(field: "array", version: -1)
        }
        return array
    }

    public mutating func writeKafkaArray<Element>(
        _ array: [Element],
        compact: Bool,
        _ element: (inout ByteBuffer, Element) throws(WireError) -> Void
    ) throws(WireError) {
        self.writeLength32(array.count, compact: compact)
        for item in array {
            try element(&self, item)
        }
    }

    public mutating func writeNullKafkaArray(compact: Bool) {
        if compact { self.writeInteger(UInt8(0)) } else { self.writeInteger(Int32(-1)) }
    }

    // MARK: Tagged fields (KIP-482)

    /// Reads the number of tagged fields that follow.
    public mutating func readTaggedFieldCount() throws(WireError) -> Int {
        let count = Int(try self.readUnsignedVarInt())
        // Each tagged field takes at least two bytes (tag and size).
        guard count <= self.readableBytes / 2 else { throw .invalidLength(count) }
        return count
    }

    /// Reads one tagged field: its tag and its data as a slice.
    public mutating func readTaggedField() throws(WireError) -> (tag: UInt32, data: ByteBuffer) {
        let tag = try self.readUnsignedVarInt()
        let size = Int(try self.readUnsignedVarInt())
        guard let data = self.readSlice(length: size) else { throw .truncated }
        return (tag, data)
    }

    /// Throws unless every byte has been read.
    @inlinable
    public func expectFullyConsumed() throws(WireError) {
        if self.readableBytes != 0 { throw .leftoverBytes(self.readableBytes) }
    }
}
