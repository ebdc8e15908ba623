import NIOCore
import Testing

@testable import SpateRecords

/// Random and mutated input must throw or succeed, never trap.
@Suite struct FuzzTests {
    static func exercise(_ buffer: ByteBuffer) {
        let set = RecordSet(buffer: buffer)
        var iterator = set.batches.makeIterator()
        while let batch = iterator.next() {
            _ = try? batch.validate()
            _ = try? batch.records(using: XORCompressor(), maxDecompressedSize: 1 << 16)
            _ = (batch.lastOffset, batch.nextOffset, batch.lastSequence, batch.deleteHorizonMs, batch.compression)
            var stamped = batch
            stamped.setBaseOffset(Int64.max)
            stamped.setMaxTimestamp(Int64.min, timestampType: .logAppendTime)
            _ = try? stamped.validate()
        }
        _ = try? set.splitBatches()
        _ = try? set.validateBatches()

        var cursor = buffer
        _ = try? Record(from: &cursor, baseOffset: Int64.max, baseTimestamp: Int64.max)
        var varints = buffer
        while varints.readableBytes > 0, (try? varints.readVarInt()) != nil {}
        var varlongs = buffer
        while varlongs.readableBytes > 0, (try? varlongs.readVarLong()) != nil {}
        _ = try? ControlRecordType(key: buffer)
        _ = try? EndTransactionMarker(key: buffer, value: buffer)
    }

    @Test func randomBytes() {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<3_000 {
            let length = Int.random(in: 0...200, using: &rng)
            Self.exercise(ByteBuffer(bytes: rng.bytes(length)))
        }
    }

    @Test func randomHeadersWithPlausibleLengths() {
        // Plausible framing so that the fuzzing reaches the CRC and the records.
        var rng = SplitMix64(seed: 0xBA7C4)
        for _ in 0..<3_000 {
            let recordsLength = Int.random(in: 0...120, using: &rng)
            var buffer = ByteBuffer(bytes: rng.bytes(RecordBatch.headerSize + recordsLength))
            buffer.setInteger(
                Int32(RecordBatch.headerSize + recordsLength - 12),
                at: RecordBatch.FieldOffset.batchLength
            )
            buffer.setInteger(RecordBatch.currentMagic, at: RecordBatch.FieldOffset.magic)
            buffer.setInteger(Int16.random(in: 0...7, using: &rng), at: RecordBatch.FieldOffset.attributes)
            buffer.setInteger(Int32.random(in: -2...20, using: &rng), at: RecordBatch.FieldOffset.recordCount)
            buffer.setInteger(Int32.random(in: -2...20, using: &rng), at: RecordBatch.FieldOffset.lastOffsetDelta)
            Self.exercise(buffer)
            // Also with a correct CRC, so that record decoding runs after validation.
            if var batch = try? RecordBatch(buffer: buffer) {
                batch.setMaxTimestamp(~batch.maxTimestamp, timestampType: .createTime)
                Self.exercise(batch.buffer)
            }
        }
    }

    @Test func mutatedValidBatches() throws {
        var builder = RecordBatchBuilder(producerID: 1, producerEpoch: 0, baseSequence: 0)
        builder.append(key: ByteBuffer(string: "key"), value: ByteBuffer(string: "value"), timestamp: 10)
        builder.append(
            key: nil,
            value: nil,
            headers: [RecordHeader(key: "h", value: ByteBuffer(string: "v"))],
            timestamp: 12
        )
        let valid = try builder.build(compressor: nil)
        var rng = SplitMix64(seed: 42)
        for _ in 0..<3_000 {
            var bytes = valid.bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[index] = UInt8.random(in: 0...255, using: &rng)
            }
            if rng.next() & 3 == 0 {
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
            }
            var buffer = ByteBuffer(bytes: bytes)
            Self.exercise(buffer)
            // Reseal the CRC so the record decoder sees the mutated records.
            if var batch = try? RecordBatch(buffer: buffer) {
                batch.setMaxTimestamp(~batch.maxTimestamp, timestampType: batch.timestampType)
                buffer = batch.buffer
                Self.exercise(buffer)
            }
        }
    }
}
