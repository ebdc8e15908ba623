import NIOCore
import SpateRecords
import SpateWire

extension ProduceRequest {
    /// Record sets smaller than this are copied into the frame; larger ones are sent as they are.
    static let minimumGatheredBytes = 4096

    /// The request frame as buffers to write in order: each record set of at least ``minimumGatheredBytes`` is its
    /// own buffer (the batch as the producer built it), the rest of the frame is cut around them
    /// (``RecordsFieldCutter``). A producer's batches are then not copied into a frame of their size, which costs a
    /// copy and fresh memory per request.
    func encodeFrameGathering(version: Int16, correlationID: Int32, clientID: String?) throws(WireError) -> [ByteBuffer] {
        var empty = self
        var null = self
        var gathered: [ByteBuffer] = []
        for topic in self.topicData.indices {
            for partition in self.topicData[topic].partitionData.indices {
                guard let records = self.topicData[topic].partitionData[partition].records,
                    records.byteCount >= Self.minimumGatheredBytes
                else { continue }
                empty.topicData[topic].partitionData[partition].records = RecordSet(buffer: ByteBuffer())
                null.topicData[topic].partitionData[partition].records = nil
                gathered.append(records.buffer)
            }
        }
        var emptyFrame = ByteBuffer()
        try empty.encodeFrame(into: &emptyFrame, version: version, correlationID: correlationID, clientID: clientID)
        guard !gathered.isEmpty else { return [emptyFrame] }
        var nullFrame = ByteBuffer()
        try null.encodeFrame(into: &nullFrame, version: version, correlationID: correlationID, clientID: clientID)
        guard
            let chunks = RecordsFieldCutter.cut(
                emptyFrame: emptyFrame, nullFrame: nullFrame, lengths: gathered.map(\.readableBytes),
                compact: version >= 9)
        else {
            // Not expected; the frame in one piece is still right.
            var frame = ByteBuffer()
            try self.encodeFrame(into: &frame, version: version, correlationID: correlationID, clientID: clientID)
            return [frame]
        }
        var parts: [ByteBuffer] = []
        parts.reserveCapacity(chunks.count + gathered.count)
        for (chunk, records) in zip(chunks, gathered) {
            parts.append(chunk)
            parts.append(records)
        }
        parts.append(chunks.last!)
        return parts
    }
}
