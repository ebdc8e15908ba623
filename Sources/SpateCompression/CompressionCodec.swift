public import NIOCore

/// A compression format for the records section of a Kafka record batch.
///
/// Codecs append to `output` and never consume from it. When a call throws, `output`'s writer index is restored to
/// where it was, so nothing partial becomes readable.
public protocol CompressionCodec: Sendable {
    /// Appends the readable bytes of `input`, compressed, to `output`.
    ///
    /// - Parameters:
    ///   - input: The bytes to compress. Its reader index is not moved.
    ///   - output: The buffer to append to.
    /// - Throws: ``CompressionError`` with code ``CompressionError/Code/invalidConfiguration`` or
    ///   ``CompressionError/Code/libraryFailure``.
    func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError)

    /// Appends the readable bytes of `input`, decompressed, to `output`, producing at most `maxSize` bytes.
    ///
    /// Decoding stops as soon as the output would exceed `maxSize`, so a compression bomb allocates at most about
    /// `maxSize` bytes of output (ByteBuffer rounds its capacity up to a power of two).
    ///
    /// - Parameters:
    ///   - input: The compressed bytes. Its reader index is not moved.
    ///   - maxSize: The largest number of decompressed bytes to accept; negative values count as `0`.
    ///   - output: The buffer to append to.
    /// - Throws: ``CompressionError`` with code ``CompressionError/Code/corrupt`` for malformed or truncated input,
    ///   ``CompressionError/Code/outputTooLarge`` when the result exceeds `maxSize`, and
    ///   ``CompressionError/Code/unsupported`` for valid input using a feature this codec refuses.
    func decompress(_ input: ByteBuffer, maxSize: Int, into output: inout ByteBuffer) throws(CompressionError)
}
