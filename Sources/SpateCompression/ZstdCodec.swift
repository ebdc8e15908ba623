public import NIOCore
import CSpateZstd

/// Zstandard (Kafka `compression.type=zstd`, codec 4, KIP-110) over libzstd.
///
/// Decompression uses the streaming API because producers such as Java's `ZstdOutputStream` do not record the
/// content size in the frame, and it accepts concatenated and skippable frames. libzstd's default window limit
/// (2^27 bytes) bounds the decoder's own window allocation; `maxSize` bounds the output.
public struct ZstdCodec: CompressionCodec, Hashable {
    /// Level 3, zstd's and Kafka's default `compression.zstd.level`.
    public static let defaultLevel: Int32 = 3

    /// The compression level, from `ZSTD_minCLevel()` to `ZSTD_maxCLevel()` (22). Defaults to ``defaultLevel``.
    public var level: Int32

    /// Creates a zstd codec compressing at `level` (default ``defaultLevel``; libzstd clamps out-of-range levels).
    public init(level: Int32 = Self.defaultLevel) {
        self.level = level
    }

    /// Appends `input` as one zstd frame, recording its content size, to `output`.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        guard let context = ZSTD_createCCtx() else {
            throw .libraryFailure("zstd: cannot create a compression context")
        }
        defer { ZSTD_freeCCtx(context) }
        let configured = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, self.level)
        if ZSTD_isError(configured) != 0 {
            throw .invalidConfiguration("zstd: level \(self.level): \(Self.errorName(configured))")
        }
        let bound = ZSTD_compressBound(input.readableBytes)
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) {
                    (destination) throws(CompressionError) -> Int in
                    let result = ZSTD_compress2(
                        context,
                        destination.baseAddress,
                        destination.count,
                        source.baseAddress,
                        source.count
                    )
                    if ZSTD_isError(result) != 0 {
                        throw .libraryFailure("zstd: \(Self.errorName(result))")
                    }
                    return result
                }
            }
        }
    }

    /// Appends the decompressed zstd frames in `input` to `output`, producing at most `maxSize` bytes.
    public func decompress(_ input: ByteBuffer, maxSize: Int, into output: inout ByteBuffer) throws(CompressionError) {
        guard let context = ZSTD_createDCtx() else {
            throw .libraryFailure("zstd: cannot create a decompression context")
        }
        defer { ZSTD_freeDCtx(context) }

        try output.writeDecoded(from: input, maxSize: maxSize, codec: "zstd") {
            (source, destination) throws(CompressionError) -> DecoderStep in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var outBuffer = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
            let hint = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            if ZSTD_isError(hint) != 0 {
                switch ZSTD_getErrorCode(hint) {
                case ZSTD_error_frameParameter_windowTooLarge:
                    throw .unsupported("zstd: \(Self.errorName(hint))")
                case ZSTD_error_memory_allocation:
                    throw .libraryFailure("zstd: \(Self.errorName(hint))")
                default:
                    throw .corrupt("zstd: \(Self.errorName(hint))")
                }
            }
            // A hint of 0 means a frame is complete and flushed; further input starts a new frame.
            return DecoderStep(consumed: inBuffer.pos, produced: outBuffer.pos, isStreamEnd: hint == 0)
        }
    }

    private static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }
}
