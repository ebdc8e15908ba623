public import NIOCore

extension ByteBuffer {
    /// Reads an unsigned LEB128 varint of at most 5 bytes (protocol lengths, counts and tags; KIP-482).
    /// - Throws: ``WireError/truncated`` or ``WireError/invalidVarInt``.
    @inlinable
    public mutating func readUnsignedVarInt() throws(WireError) -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = self.readInteger(as: UInt8.self) else { throw .truncated }
            if shift == 28 && byte > 0x0F { throw .invalidVarInt }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Writes `value` as an unsigned LEB128 varint.
    /// - Returns: The number of bytes written.
    @inlinable
    @discardableResult
    public mutating func writeUnsignedVarInt(_ value: UInt32) -> Int {
        var value = value
        var written = 0
        while value >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
            written += 1
        }
        self.writeInteger(UInt8(value))
        return written + 1
    }

    /// The size of `value` as an unsigned varint.
    @inlinable
    public static func unsignedVarIntSize(_ value: UInt32) -> Int {
        value < 1 << 7 ? 1 : value < 1 << 14 ? 2 : value < 1 << 21 ? 3 : value < 1 << 28 ? 4 : 5
    }
}
