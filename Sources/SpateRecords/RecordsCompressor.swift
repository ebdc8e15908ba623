public import NIOCore

/// Compresses and decompresses the records section of a v2 batch (everything after the 61-byte header).
///
/// `SpateRecords` knows the batch format but no codec; `SpateCompression` provides the implementation, so the batch
/// builder and readers take one of these as a parameter.
public protocol RecordsCompressor: Sendable {
    /// Appends `input` compressed with `type` to `output`.
    func compress(_ input: ByteBuffer, type: CompressionType, into output: inout ByteBuffer) throws

    /// Appends `input` decompressed with `type` to `output`, failing once the result would exceed `maxSize` bytes.
    func decompress(_ input: ByteBuffer, type: CompressionType, maxSize: Int, into output: inout ByteBuffer) throws
}
