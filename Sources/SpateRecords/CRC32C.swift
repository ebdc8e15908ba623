import CSpateCRC32C
public import NIOCore

/// CRC-32C (Castagnoli), the checksum of record batch v2.
///
/// The hardware path uses the SSE4.2 `crc32` instruction when the CPU has it, otherwise a slicing-by-8 table. Values
/// chain: `update(checksum(a), b) == checksum(a + b)`. Bytes are read in place, never copied.
public enum CRC32C {
    /// Returns the CRC-32C of the readable bytes of `bytes`.
    public static func checksum(_ bytes: ByteBuffer) -> UInt32 {
        Self.update(0, bytes)
    }

    /// Extends the CRC-32C `crc` of earlier bytes with the readable bytes of `bytes`.
    /// - Parameters:
    ///   - crc: The checksum so far; `0` before any bytes.
    ///   - bytes: The bytes that follow.
    /// - Returns: The checksum of the earlier bytes followed by `bytes`.
    public static func update(_ crc: UInt32, _ bytes: ByteBuffer) -> UInt32 {
        bytes.withUnsafeReadableBytes { Self.update(crc, $0) }
    }

    /// Extends the CRC-32C `crc` of earlier bytes with `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return spate_crc32c(crc, base, bytes.count)
    }

    /// Returns the CRC-32C of the readable bytes of `bytes` using the portable table implementation (for tests).
    public static func checksumPortable(_ bytes: ByteBuffer) -> UInt32 {
        Self.updatePortable(0, bytes)
    }

    /// Extends `crc` with the readable bytes of `bytes` using the portable table implementation (for tests).
    public static func updatePortable(_ crc: UInt32, _ bytes: ByteBuffer) -> UInt32 {
        bytes.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return crc }
            return spate_crc32c_portable(crc, base, raw.count)
        }
    }
}
