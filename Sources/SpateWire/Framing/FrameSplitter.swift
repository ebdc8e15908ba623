public import NIOCore

/// Splits a byte stream into Kafka frames: each is an `int32` big-endian size followed by that many bytes.
///
/// The size is checked against ``maxFrameSize`` (`socket.request.max.bytes`) before anything is allocated, so a peer
/// cannot make the reader buffer more than that. Sans-IO: feed it whatever arrived and take out complete frames.
public struct FrameSplitter: Sendable {
    /// The largest frame accepted, in bytes, not counting the size prefix. Kafka's default is 100 MiB.
    public var maxFrameSize: Int

    public init(maxFrameSize: Int = 104_857_600) {
        self.maxFrameSize = maxFrameSize
    }

    /// Removes and returns the next complete frame from `buffer` (without its size prefix), or nil if more bytes are
    /// needed. The returned frame is a slice of `buffer`: no bytes are copied.
    /// - Throws: ``WireError/frameTooLarge(size:limit:)`` for a negative or oversized size; the stream cannot continue.
    public func nextFrame(from buffer: inout ByteBuffer) throws(WireError) -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return nil
        }
        guard size >= 0, Int(size) <= self.maxFrameSize else {
            throw .frameTooLarge(size: Int(size), limit: self.maxFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }

    /// Writes `body` (already encoded) behind a size prefix.
    public static func writeFrame(into buffer: inout ByteBuffer, _ body: (inout ByteBuffer) throws(WireError) -> Void)
        throws(WireError)
    {
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        try body(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
    }
}
