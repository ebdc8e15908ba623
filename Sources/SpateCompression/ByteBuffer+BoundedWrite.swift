import NIOCore

/// The outcome of one call into a streaming decoder.
struct DecoderStep {
    /// Input bytes the decoder consumed.
    var consumed: Int
    /// Output bytes the decoder wrote.
    var produced: Int
    /// Whether the decoder ended a stream or frame with all of its output flushed.
    var isStreamEnd: Bool
}

extension ByteBuffer {
    /// The initial output window for a streaming decoder: a guess at the expansion ratio, never more than `limit`.
    private static let minimumDecoderWindow = 16 * 1024
    /// The largest window requested at once, so that growth stays geometric but bounded by the limit.
    private static let maximumDecoderWindow = 4 * 1024 * 1024

    /// Appends the output of a streaming decoder run over `input`, producing at most `maxSize` bytes.
    ///
    /// `step` is called with the unconsumed input and a window of writable output; it must report what it consumed
    /// and produced. The decoder may be handed more input after it reports a stream end (concatenated frames).
    /// Decoding fails if the output exceeds `maxSize`, if a call makes no progress, or if the input ends before the
    /// decoder reports a stream end. On failure the writer index is restored.
    mutating func writeDecoded(
        from input: ByteBuffer,
        maxSize: Int,
        codec: String,
        step: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws(CompressionError) -> DecoderStep
    ) throws(CompressionError) {
        let maxSize = Swift.max(0, maxSize)
        // One byte past the limit lets the decoder prove the output is too large without a second probe.
        let budget = maxSize == Int.max ? Int.max : maxSize + 1
        let start = self.writerIndex
        do throws(CompressionError) {
            try input.withUnsafeReadableBytes { (source) throws(CompressionError) in
                var offset = 0
                var produced = 0
                var isStreamEnd = false
                let guess = source.count.multipliedReportingOverflow(by: 4)
                var window = Swift.min(
                    guess.overflow ? Self.maximumDecoderWindow : Swift.max(guess.partialValue, Self.minimumDecoderWindow),
                    Self.maximumDecoderWindow
                )
                while !(isStreamEnd && offset == source.count) {
                    let writable = Swift.min(window, budget - produced)
                    var result = DecoderStep(consumed: 0, produced: 0, isStreamEnd: false)
                    try self.writeWithUnsafeMutableBytes(minimumWritableBytes: writable) {
                        (destination) throws(CompressionError) -> Int in
                        result = try step(
                            UnsafeRawBufferPointer(rebasing: source[offset...]),
                            UnsafeMutableRawBufferPointer(rebasing: destination[..<writable])
                        )
                        return result.produced
                    }
                    offset += result.consumed
                    produced += result.produced
                    if produced > maxSize {
                        throw .outputTooLarge(codec: codec, maxSize: maxSize)
                    }
                    if result.consumed == 0 && result.produced == 0 && !(result.isStreamEnd && offset == source.count) {
                        throw .corrupt(
                            offset == source.count
                                ? "\(codec): input ends in the middle of a stream"
                                : "\(codec): decoder made no progress"
                        )
                    }
                    isStreamEnd = result.isStreamEnd
                    if result.produced == writable {
                        window = Swift.min(window * 2, Self.maximumDecoderWindow)
                    }
                }
            }
        } catch {
            self.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Runs `body` and restores the writer index if it throws, so that no partial output becomes readable.
    @discardableResult
    mutating func restoringWriterIndexOnError<T>(
        _ body: (inout ByteBuffer) throws(CompressionError) -> T
    ) throws(CompressionError) -> T {
        let start = self.writerIndex
        do throws(CompressionError) {
            return try body(&self)
        } catch {
            self.moveWriterIndex(to: start)
            throw error
        }
    }
}
