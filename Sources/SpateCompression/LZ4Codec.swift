public import NIOCore
import CSpateLZ4

/// LZ4 (Kafka `compression.type=lz4`, codec 3) in the LZ4 frame format over liblz4's `lz4frame`.
///
/// Kafka ≥ 0.10 (KIP-57) and librdkafka use the standard LZ4 frame format. Compression writes independent 64 KiB
/// blocks with no content size or checksums, which every Kafka client reads. Decompression accepts any valid frame,
/// including concatenated and skippable frames, but not the legacy format.
public struct LZ4Codec: CompressionCodec, Hashable {
    /// LZ4's fast mode, `0`, which is librdkafka's default `compression.level` for lz4.
    public static let defaultLevel: Int32 = 0

    /// The `lz4frame` compression level: `0` is fast mode, `3...12` select LZ4HC. Defaults to ``defaultLevel``.
    public var level: Int32

    /// Creates an LZ4 codec compressing at `level` (default ``defaultLevel``; lz4frame clamps out-of-range levels).
    public init(level: Int32 = Self.defaultLevel) {
        self.level = level
    }

    /// Appends `input` as one LZ4 frame to `output`.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.compressionLevel = self.level
        let bound = LZ4F_compressFrameBound(input.readableBytes, &preferences)
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) {
                    (destination) throws(CompressionError) -> Int in
                    let result = LZ4F_compressFrame(
                        destination.baseAddress,
                        destination.count,
                        source.baseAddress,
                        source.count,
                        &preferences
                    )
                    if LZ4F_isError(result) != 0 {
                        throw .libraryFailure("lz4: \(String(cString: LZ4F_getErrorName(result)))")
                    }
                    return result
                }
            }
        }
    }

    /// Appends the decompressed LZ4 frames in `input` to `output`, producing at most `maxSize` bytes.
    public func decompress(_ input: ByteBuffer, maxSize: Int, into output: inout ByteBuffer) throws(CompressionError) {
        var context: OpaquePointer? = nil
        let created = LZ4F_createDecompressionContext(&context, cspate_lz4f_version())
        guard LZ4F_isError(created) == 0, let context else {
            throw .libraryFailure("lz4: cannot create a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }

        try output.writeDecoded(from: input, maxSize: maxSize, codec: "lz4") {
            (source, destination) throws(CompressionError) -> DecoderStep in
            var consumed = source.count
            var produced = destination.count
            let hint = LZ4F_decompress(
                context,
                destination.baseAddress,
                &produced,
                source.baseAddress,
                &consumed,
                nil
            )
            if LZ4F_isError(hint) != 0 {
                throw .corrupt("lz4: \(String(cString: LZ4F_getErrorName(hint)))")
            }
            // A hint of 0 means the frame is fully decoded and flushed; the context is ready for another frame.
            return DecoderStep(consumed: consumed, produced: produced, isStreamEnd: hint == 0)
        }
    }
}
