public import NIOCore
import CSpateSnappy

/// Snappy (Kafka `compression.type=snappy`, codec 2) over libsnappy.
///
/// Java clients write snappy in the xerial `SnappyOutputStream` framing; librdkafka and others may write a raw
/// snappy block. Decompression accepts both, choosing by the xerial magic header as Java and librdkafka do.
public struct SnappyCodec: CompressionCodec, Hashable {
    /// How compressed output is laid out.
    public enum Framing: Hashable, Sendable {
        /// xerial framing, as Java's client writes it: a 16-byte header, then blocks of
        /// `[int32 big-endian compressed length][raw snappy block]`, each holding up to 32 KiB of input.
        case xerial
        /// A single raw snappy block with no framing.
        case raw
    }

    /// The framing ``compress(_:into:)`` writes. Defaults to ``Framing/xerial``.
    public var framing: Framing

    /// Creates a snappy codec that compresses with `framing` (default ``Framing/xerial``).
    public init(framing: Framing = .xerial) {
        self.framing = framing
    }

    /// xerial's magic: `0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00`.
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    /// The header version and minimum compatible version Java's `SnappyOutputStream` writes.
    static let xerialVersion: Int32 = 1
    static let xerialCompatibleVersion: Int32 = 1
    /// Magic plus two int32 versions.
    static let xerialHeaderSize = 16
    /// Uncompressed bytes per xerial block, `SnappyOutputStream`'s default block size.
    static let xerialBlockSize = 32 * 1024

    /// Appends `input`, compressed with snappy in ``framing``, to `output`.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        switch self.framing {
        case .raw: try Self.compressRaw(input, into: &output)
        case .xerial: try Self.compressXerial(input, into: &output)
        }
    }

    /// Appends the decompressed xerial-framed or raw snappy `input` to `output`, producing at most `maxSize` bytes.
    public func decompress(_ input: ByteBuffer, maxSize: Int, into output: inout ByteBuffer) throws(CompressionError) {
        let maxSize = max(0, maxSize)
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                if Self.hasXerialHeader(source) {
                    try Self.decompressXerial(source, maxSize: maxSize, into: &output)
                } else {
                    _ = try Self.decompressBlock(source, budget: maxSize, maxSize: maxSize, into: &output)
                }
            }
        }
    }

    private static func compressRaw(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: snappy_max_compressed_length(source.count)) {
                    (destination) throws(CompressionError) -> Int in
                    try Self.compressBlock(source, into: destination)
                }
            }
        }
    }

    private static func compressXerial(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        let count = input.readableBytes
        let blocks = (count + Self.xerialBlockSize - 1) / Self.xerialBlockSize
        let fullBlockBound = 4 + snappy_max_compressed_length(Self.xerialBlockSize)
        let bound = Self.xerialHeaderSize + blocks * fullBlockBound
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            output.reserveCapacity(minimumWritableBytes: bound)
            output.writeBytes(Self.xerialMagic)
            output.writeInteger(Self.xerialVersion, endianness: .big)
            output.writeInteger(Self.xerialCompatibleVersion, endianness: .big)
            _ = try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound - Self.xerialHeaderSize) {
                    (destination) throws(CompressionError) -> Int in
                    var written = 0
                    var offset = 0
                    while offset < source.count {
                        let end = min(offset + Self.xerialBlockSize, source.count)
                        let length = try Self.compressBlock(
                            UnsafeRawBufferPointer(rebasing: source[offset..<end]),
                            into: UnsafeMutableRawBufferPointer(rebasing: destination[(written + 4)...])
                        )
                        destination.storeBytes(of: UInt32(length).bigEndian, toByteOffset: written, as: UInt32.self)
                        written += 4 + length
                        offset = end
                    }
                    return written
                }
            }
        }
    }

    /// Compresses `source` as one raw snappy block into `destination`, returning the compressed length.
    private static func compressBlock(
        _ source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer
    ) throws(CompressionError) -> Int {
        var length = destination.count
        let status = snappy_compress(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            source.count,
            destination.baseAddress?.assumingMemoryBound(to: CChar.self),
            &length
        )
        guard status == SNAPPY_OK else {
            throw .libraryFailure("snappy: snappy_compress failed (\(status.rawValue))")
        }
        return length
    }

    private static func hasXerialHeader(_ source: UnsafeRawBufferPointer) -> Bool {
        source.count >= Self.xerialHeaderSize && source.prefix(Self.xerialMagic.count).elementsEqual(Self.xerialMagic)
    }

    /// Decodes the blocks after a xerial header. Java's reader ignores the header versions, and so do we.
    private static func decompressXerial(
        _ source: UnsafeRawBufferPointer,
        maxSize: Int,
        into output: inout ByteBuffer
    ) throws(CompressionError) {
        var offset = Self.xerialHeaderSize
        var produced = 0
        while offset < source.count {
            guard source.count - offset >= 4 else {
                throw .corrupt("snappy: truncated xerial block length")
            }
            let length = Int(UInt32(bigEndian: source.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            offset += 4
            guard length <= source.count - offset else {
                throw .corrupt("snappy: xerial block of \(length) bytes overruns the input")
            }
            produced += try Self.decompressBlock(
                UnsafeRawBufferPointer(rebasing: source[offset..<(offset + length)]),
                budget: maxSize - produced,
                maxSize: maxSize,
                into: &output
            )
            offset += length
        }
    }

    /// Decodes one raw snappy block, refusing it before allocating if it would exceed `budget` bytes.
    private static func decompressBlock(
        _ block: UnsafeRawBufferPointer,
        budget: Int,
        maxSize: Int,
        into output: inout ByteBuffer
    ) throws(CompressionError) -> Int {
        let compressed = block.baseAddress?.assumingMemoryBound(to: CChar.self)
        var length = 0
        guard snappy_uncompressed_length(compressed, block.count, &length) == SNAPPY_OK else {
            throw .corrupt("snappy: invalid block header")
        }
        guard length <= budget else {
            throw .outputTooLarge(codec: "snappy", maxSize: maxSize)
        }
        return try output.writeWithUnsafeMutableBytes(minimumWritableBytes: length) {
            (destination) throws(CompressionError) -> Int in
            var written = length
            let status = snappy_uncompress(
                compressed,
                block.count,
                destination.baseAddress?.assumingMemoryBound(to: CChar.self),
                &written
            )
            guard status == SNAPPY_OK, written == length else {
                throw .corrupt("snappy: invalid block")
            }
            return written
        }
    }
}
