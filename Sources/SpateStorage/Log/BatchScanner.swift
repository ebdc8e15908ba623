import NIOCore
import SpateRecords

/// The fields of a stored batch's header that the log needs, read without touching the records.
struct StoredBatchHeader {
    /// Where the batch starts in the segment file.
    var position: Int64
    var baseOffset: Int64
    /// The whole batch's size on disk, including the 12-byte offset/length prefix.
    var size: Int
    var lastOffset: Int64
    var maxTimestamp: Int64
    var magic: Int8
    /// The producer fields, for rebuilding producer state; -1 when not idempotent.
    var producerID: Int64 = -1
    var producerEpoch: Int16 = -1
    var baseSequence: Int32 = -1
    var isControl = false

    var nextOffset: Int64 { self.lastOffset + 1 }
}

/// Reads the batches of a segment file in order, through a chunked read buffer so that a scan costs one read per
/// chunk, not one per batch.
struct BatchScanner {
    /// The read size for scans that read whole batches (recovery, compaction, timestamp lookups).
    static let chunkSize = 64 * 1024
    /// The read size for header-only lookups (finding the batch that holds an offset): an index entry is at most
    /// `index.interval.bytes` (4 KiB by default) before the target, so a small read usually covers the hops, and a
    /// large batch is not read just to learn where it starts.
    static let headerChunkSize = 8 * 1024

    let file: any SegmentFile
    /// Where the next batch starts.
    private(set) var position: Int64
    /// Where the scan must stop (the segment's visible size).
    let end: Int64
    private var chunk = ByteBuffer()
    private var chunkStart: Int64 = 0

    private let chunkSize: Int

    init(file: any SegmentFile, from position: Int64, end: Int64, chunkSize: Int = BatchScanner.chunkSize) {
        self.file = file
        self.position = position
        self.end = end
        self.chunkSize = chunkSize
    }

    /// Makes `count` bytes at `position` available in the chunk; returns false at the end of the segment.
    private mutating func ensure(_ count: Int) throws(StorageError) -> Bool {
        guard self.position + Int64(count) <= self.end else { return false }
        let offsetInChunk = Int(self.position - self.chunkStart)
        if self.position >= self.chunkStart, offsetInChunk + count <= self.chunk.readableBytes { return true }
        let length = Int(min(Int64(max(count, self.chunkSize)), self.end - self.position))
        self.chunk = try self.file.read(at: self.position, length: length)
        self.chunkStart = self.position
        return self.chunk.readableBytes >= count
    }

    /// The next batch's header, or nil at the end; throws ``StorageError/Code/corrupt`` when the bytes at the current
    /// position cannot be a batch (the caller truncates there during recovery).
    mutating func nextHeader() throws(StorageError) -> StoredBatchHeader? {
        guard try self.ensure(RecordBatch.headerSize) else {
            if self.position < self.end {
                throw StorageError(.corrupt, "a partial batch header at position \(self.position)")
            }
            return nil
        }
        let at = self.chunk.readerIndex + Int(self.position - self.chunkStart)
        let baseOffset = self.chunk.getInteger(at: at, as: Int64.self)!
        let length = self.chunk.getInteger(at: at + 8, as: Int32.self)!
        let magic = self.chunk.getInteger(at: at + 16, as: Int8.self)!
        let lastOffsetDelta = self.chunk.getInteger(at: at + 23, as: Int32.self)!
        let maxTimestamp = self.chunk.getInteger(at: at + 35, as: Int64.self)!
        let attributes = RecordBatchAttributes(rawValue: self.chunk.getInteger(at: at + RecordBatch.FieldOffset.attributes)!)
        let producerID = self.chunk.getInteger(at: at + RecordBatch.FieldOffset.producerID, as: Int64.self)!
        let producerEpoch = self.chunk.getInteger(at: at + RecordBatch.FieldOffset.producerEpoch, as: Int16.self)!
        let baseSequence = self.chunk.getInteger(at: at + RecordBatch.FieldOffset.baseSequence, as: Int32.self)!
        guard length >= RecordBatch.minimumBatchLength, magic == RecordBatch.currentMagic, lastOffsetDelta >= 0,
            baseOffset >= 0
        else {
            throw StorageError(.corrupt, "no valid batch header at position \(self.position)")
        }
        let size = Int(length) + RecordBatch.logOverhead
        guard self.position + Int64(size) <= self.end else {
            throw StorageError(.corrupt, "a batch at position \(self.position) runs past the end of the segment")
        }
        let header = StoredBatchHeader(
            position: self.position, baseOffset: baseOffset, size: size, lastOffset: baseOffset + Int64(lastOffsetDelta),
            maxTimestamp: maxTimestamp, magic: magic, producerID: producerID, producerEpoch: producerEpoch,
            baseSequence: baseSequence, isControl: attributes.isControl)
        self.position += Int64(size)
        return header
    }

    /// The next whole batch, validated (CRC and structure), or nil at the end.
    mutating func nextBatch() throws(StorageError) -> (header: StoredBatchHeader, batch: RecordBatch)? {
        let start = self.position
        guard let header = try self.nextHeader() else { return nil }
        self.position = start
        guard try self.ensure(header.size) else {
            throw StorageError(.corrupt, "a batch at position \(start) runs past the end of the segment")
        }
        let at = self.chunk.readerIndex + Int(start - self.chunkStart)
        let bytes = self.chunk.getSlice(at: at, length: header.size)!
        let batch: RecordBatch
        do {
            batch = try RecordBatch(buffer: bytes)
            try batch.validate()
        } catch {
            throw StorageError(.corrupt, "invalid batch at position \(start): \(error)")
        }
        self.position = start + Int64(header.size)
        return (header, batch)
    }
}
