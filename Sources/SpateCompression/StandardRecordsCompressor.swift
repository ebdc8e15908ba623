public import NIOCore
public import SpateRecords

/// The ``RecordsCompressor`` that `SpateCompression` provides: dispatches each ``CompressionType`` to its codec.
///
/// `.none` copies bytes through unchanged, still honouring `maxSize` on decompression.
public struct StandardRecordsCompressor: RecordsCompressor, Hashable {
    /// The codec for `.gzip`. Defaults to `GzipCodec()` (level -1).
    public var gzip: GzipCodec
    /// The codec for `.snappy`. Defaults to `SnappyCodec()` (xerial framing).
    public var snappy: SnappyCodec
    /// The codec for `.lz4`. Defaults to `LZ4Codec()` (level 0).
    public var lz4: LZ4Codec
    /// The codec for `.zstd`. Defaults to `ZstdCodec()` (level 3).
    public var zstd: ZstdCodec

    /// Creates a compressor from one codec per compressed ``CompressionType``.
    public init(
        gzip: GzipCodec = GzipCodec(),
        snappy: SnappyCodec = SnappyCodec(),
        lz4: LZ4Codec = LZ4Codec(),
        zstd: ZstdCodec = ZstdCodec()
    ) {
        self.gzip = gzip
        self.snappy = snappy
        self.lz4 = lz4
        self.zstd = zstd
    }

    /// The codec for `type`, or `nil` for `.none`.
    public func codec(for type: CompressionType) -> (any CompressionCodec)? {
        switch type {
        case .none: nil
        case .gzip: self.gzip
        case .snappy: self.snappy
        case .lz4: self.lz4
        case .zstd: self.zstd
        }
    }

    /// Appends `input` compressed with `type` to `output`.
    ///
    /// - Throws: ``CompressionError``.
    public func compress(_ input: ByteBuffer, type: CompressionType, into output: inout ByteBuffer) throws {
        try self.compressTyped(input, type: type, into: &output)
    }

    /// Appends `input` decompressed with `type` to `output`, failing once the result would exceed `maxSize` bytes.
    ///
    /// - Throws: ``CompressionError``.
    public func decompress(
        _ input: ByteBuffer,
        type: CompressionType,
        maxSize: Int,
        into output: inout ByteBuffer
    ) throws {
        try self.decompressTyped(input, type: type, maxSize: maxSize, into: &output)
    }

    /// ``compress(_:type:into:)`` with a typed error.
    public func compressTyped(
        _ input: ByteBuffer,
        type: CompressionType,
        into output: inout ByteBuffer
    ) throws(CompressionError) {
        switch type {
        case .none: output.writeImmutableBuffer(input)
        case .gzip: try self.gzip.compress(input, into: &output)
        case .snappy: try self.snappy.compress(input, into: &output)
        case .lz4: try self.lz4.compress(input, into: &output)
        case .zstd: try self.zstd.compress(input, into: &output)
        }
    }

    /// ``decompress(_:type:maxSize:into:)`` with a typed error.
    public func decompressTyped(
        _ input: ByteBuffer,
        type: CompressionType,
        maxSize: Int,
        into output: inout ByteBuffer
    ) throws(CompressionError) {
        switch type {
        case .none:
            guard input.readableBytes <= max(0, maxSize) else {
                throw .outputTooLarge(codec: "none", maxSize: max(0, maxSize))
            }
            output.writeImmutableBuffer(input)
        case .gzip: try self.gzip.decompress(input, maxSize: maxSize, into: &output)
        case .snappy: try self.snappy.decompress(input, maxSize: maxSize, into: &output)
        case .lz4: try self.lz4.decompress(input, maxSize: maxSize, into: &output)
        case .zstd: try self.zstd.decompress(input, maxSize: maxSize, into: &output)
        }
    }
}
