public import NIOCore

/// Cuts an encoded frame around some of its records fields, so that those bytes can go out from where they already
/// are (a producer's batch buffers, ranges of segment files) in a gather write instead of being copied into the frame.
///
/// The generated encoders are used unchanged: the caller encodes the message twice, with those records fields as
/// empty bytes (`emptyFrame`) and as null (`nullFrame`). Empty and null bytes have length prefixes of the same size
/// that differ in their first byte (`0` vs `-1` as INT32, `1` vs `0` as a compact length), and nothing else differs,
/// so the differences mark the fields, in encoding order.
public enum RecordsFieldCutter {
    /// The frame's chunks around the fields, with the fields' length prefixes written for `lengths` (in encoding
    /// order): chunk `i` is the frame up to field `i`, ending with its length prefix, and the last chunk is the rest
    /// of the frame. The size prefix at the start of the first chunk counts the fields' bytes too.
    /// - Returns: `lengths.count + 1` chunks, or `nil` when the two frames do not differ in exactly `lengths.count`
    ///   length prefixes, or when the whole frame would be too large for its INT32 size prefix.
    public static func cut(emptyFrame: ByteBuffer, nullFrame: ByteBuffer, lengths: [Int], compact: Bool) -> [ByteBuffer]? {
        let prefixLength = compact ? 1 : 4
        let cuts = emptyFrame.withUnsafeReadableBytes { a in
            nullFrame.withUnsafeReadableBytes { b -> [Int]? in
                guard a.count == b.count else { return nil }
                var cuts: [Int] = []
                cuts.reserveCapacity(lengths.count)
                var index = 0
                while cuts.count < lengths.count {
                    while index < a.count && a[index] == b[index] { index += 1 }
                    guard index < a.count else { return nil }
                    cuts.append(index)
                    index += prefixLength
                }
                while index < a.count && a[index] == b[index] { index += 1 }
                return index == a.count ? cuts : nil
            }
        }
        guard let cuts else { return nil }
        var chunks: [ByteBuffer] = []
        chunks.reserveCapacity(lengths.count + 1)
        var cursor = 0
        for (cut, length) in zip(cuts, lengths) {
            var chunk = ByteBuffer()
            chunk.reserveCapacity(cut - cursor + 5)
            var piece = emptyFrame.getSlice(at: emptyFrame.readerIndex + cursor, length: cut - cursor)!
            chunk.writeBuffer(&piece)
            chunk.writeLength32(length, compact: compact)
            chunks.append(chunk)
            cursor = cut + prefixLength
        }
        chunks.append(emptyFrame.getSlice(at: emptyFrame.readerIndex + cursor, length: emptyFrame.readableBytes - cursor)!)
        let frameSize = chunks.reduce(0) { $0 + $1.readableBytes } + lengths.reduce(0, +) - 4
        guard frameSize <= Int(Int32.max) else { return nil }
        chunks[0].setInteger(Int32(frameSize), at: chunks[0].readerIndex)
        return chunks
    }
}
