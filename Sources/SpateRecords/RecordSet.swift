public import NIOCore

/// The `records` field of a Produce request or Fetch response: zero or more v2 record batches, kept as the
/// `ByteBuffer` slice they arrived in. The protocol codec never parses it; use ``RecordSet/batches`` to walk it.
public struct RecordSet: Hashable, Sendable {
    /// The raw bytes, exactly as on the wire.
    public var buffer: ByteBuffer

    /// Wraps bytes received or read from the log, without copying or parsing them.
    public init(buffer: ByteBuffer) {
        self.buffer = buffer
    }

    /// The number of bytes in the set.
    public var byteCount: Int { self.buffer.readableBytes }
}
