public import NIOCore
import CSpateZlib

/// gzip (Kafka `compression.type=gzip`, codec 1) over zlib.
///
/// Compresses to a single gzip member. Decompresses gzip, including concatenated members as Java's
/// `GZIPInputStream` reads them, and also accepts zlib-wrapped deflate.
public struct GzipCodec: CompressionCodec, Hashable {
    /// zlib's default level, `-1`, which it maps to `6`; Kafka's `compression.gzip.level` default.
    public static let defaultLevel: Int32 = -1

    /// The deflate level, `-1` (default) or `0...9`. Defaults to ``defaultLevel``.
    public var level: Int32

    /// Creates a gzip codec compressing at `level` (`-1` or `0...9`); an invalid level makes ``compress(_:into:)``
    /// throw ``CompressionError/Code/invalidConfiguration``.
    public init(level: Int32 = Self.defaultLevel) {
        self.level = level
    }

    /// Window bits selecting a gzip wrapper around a 32 KiB window.
    private static let gzipWindowBits: Int32 = 15 + 16
    /// Window bits accepting either a gzip or a zlib wrapper around a window of up to 32 KiB.
    private static let autoDetectWindowBits: Int32 = 15 + 32
    /// zlib's default memory level.
    private static let memoryLevel: Int32 = 8

    /// Appends `input` as one gzip member to `output`.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let initStatus = cspate_deflateInit2(
            stream, self.level, Z_DEFLATED, Self.gzipWindowBits, Self.memoryLevel, Z_DEFAULT_STRATEGY
        )
        switch initStatus {
        case Z_OK: break
        case Z_STREAM_ERROR: throw .invalidConfiguration("gzip: invalid compression level \(self.level)")
        default: throw .libraryFailure("gzip: deflateInit2 failed (\(initStatus))")
        }
        defer { deflateEnd(stream) }

        // ByteBuffer holds at most UInt32.max bytes, so the lengths fit zlib's uInt.
        let bound = Int(deflateBound(stream, uLong(input.readableBytes)))
        try output.restoringWriterIndexOnError { (output) throws(CompressionError) in
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) {
                    (destination) throws(CompressionError) -> Int in
                    stream.pointee.next_in = UnsafeMutablePointer(
                        mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    )
                    stream.pointee.avail_in = uInt(source.count)
                    stream.pointee.next_out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(clamping: destination.count)
                    let status = deflate(stream, Z_FINISH)
                    guard status == Z_STREAM_END else {
                        throw .libraryFailure("gzip: deflate did not finish within deflateBound (\(status))")
                    }
                    return Int(stream.pointee.total_out)
                }
            }
        }
    }

    /// Appends the decompressed gzip (or zlib) stream in `input` to `output`, producing at most `maxSize` bytes.
    public func decompress(_ input: ByteBuffer, maxSize: Int, into output: inout ByteBuffer) throws(CompressionError) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let initStatus = cspate_inflateInit2(stream, Self.autoDetectWindowBits)
        guard initStatus == Z_OK else {
            throw .libraryFailure("gzip: inflateInit2 failed (\(initStatus))")
        }
        defer { inflateEnd(stream) }

        var needsReset = false
        try output.writeDecoded(from: input, maxSize: maxSize, codec: "gzip") {
            (source, destination) throws(CompressionError) -> DecoderStep in
            if needsReset {
                // Another gzip member follows the one that just ended.
                inflateReset(stream)
                needsReset = false
            }
            let sourceCount = uInt(clamping: source.count)
            let destinationCount = uInt(clamping: destination.count)
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self)
            )
            stream.pointee.avail_in = sourceCount
            stream.pointee.next_out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = destinationCount
            let status = inflate(stream, Z_NO_FLUSH)
            let step = DecoderStep(
                consumed: Int(sourceCount - stream.pointee.avail_in),
                produced: Int(destinationCount - stream.pointee.avail_out),
                isStreamEnd: status == Z_STREAM_END
            )
            switch status {
            case Z_OK, Z_BUF_ERROR:
                return step
            case Z_STREAM_END:
                needsReset = true
                return step
            case Z_NEED_DICT:
                throw .unsupported("gzip: stream needs a preset dictionary")
            case Z_MEM_ERROR:
                throw .libraryFailure("gzip: inflate ran out of memory")
            default:
                throw .corrupt("gzip: \(Self.message(stream) ?? "inflate failed (\(status))")")
            }
        }
    }

    /// zlib's message for the last error on `stream`, if it set one.
    private static func message(_ stream: UnsafeMutablePointer<z_stream>) -> String? {
        stream.pointee.msg.map { String(cString: $0) }
    }
}
