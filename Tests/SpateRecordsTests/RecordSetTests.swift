import NIOCore
import Testing

@testable import SpateRecords

@Suite struct RecordSetTests {
    static func makeBatch(baseOffset: Int64, values: [String]) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(baseOffset: baseOffset)
        for (index, value) in values.enumerated() {
            builder.append(key: nil, value: ByteBuffer(string: value), timestamp: 100 + Int64(index))
        }
        return try builder.build(compressor: nil)
    }

    static func threeBatches() throws -> ByteBuffer {
        var buffer = try makeBatch(baseOffset: 0, values: ["a", "b"])
        var second = try makeBatch(baseOffset: 2, values: ["c"])
        var third = try makeBatch(baseOffset: 3, values: ["d", "e", "f"])
        buffer.writeBuffer(&second)
        buffer.writeBuffer(&third)
        return buffer
    }

    @Test func emptySetHasNoBatches() throws {
        let set = RecordSet(buffer: ByteBuffer())
        #expect(Array(set.batches).isEmpty)
        let split = try set.splitBatches()
        #expect(split.batches.isEmpty)
        #expect(split.partialTail == 0)
        #expect(try set.validateBatches().isEmpty)
    }

    @Test func walksBatchesAsSlices() throws {
        let set = RecordSet(buffer: try Self.threeBatches())
        let batches = Array(set.batches)
        #expect(batches.map(\.baseOffset) == [0, 2, 3])
        #expect(batches.map(\.recordCount) == [2, 1, 3])
        #expect(batches.map(\.nextOffset) == [2, 3, 6])
        #expect(batches.map(\.sizeInBytes).reduce(0, +) == set.byteCount)
        for batch in batches {
            try batch.validate()
            #expect(batch.buffer.readableBytes == batch.sizeInBytes)
        }
        let values = try batches.flatMap { try $0.records(using: nil, maxDecompressedSize: 1 << 20) }
            .map { $0.value.map { String(buffer: $0) } }
        #expect(values == ["a", "b", "c", "d", "e", "f"])
        #expect(try set.validateBatches().count == 3)
    }

    @Test func trailingPartialBatchEndsIteration() throws {
        let whole = try Self.threeBatches()
        let firstTwo = Array(RecordSet(buffer: whole).batches).prefix(2).map(\.sizeInBytes).reduce(0, +)
        // Cut at every point inside the third batch, including inside its first 12 bytes.
        for cut in (firstTwo + 1)..<whole.readableBytes {
            let set = RecordSet(buffer: whole.getSlice(at: 0, length: cut)!)
            var iterator = set.batches.makeIterator()
            var count = 0
            while iterator.next() != nil { count += 1 }
            #expect(count == 2)
            #expect(iterator.trailingPartialBytes == cut - firstTwo)
            #expect(iterator.error == nil)

            let split = try set.splitBatches()
            #expect(split.batches.count == 2)
            #expect(split.partialTail == cut - firstTwo)
            #expect(errorCode { try set.validateBatches() } == .truncated)
        }
    }

    @Test func badLengthsAreErrors() throws {
        var negative = try Self.makeBatch(baseOffset: 0, values: ["x"])
        negative.setInteger(Int32(-1), at: RecordBatch.FieldOffset.batchLength)
        let negativeSet = RecordSet(buffer: negative)
        #expect(errorCode { _ = try negativeSet.splitBatches() } == .invalidBatchLength)
        var iterator = negativeSet.batches.makeIterator()
        #expect(iterator.next() == nil)
        #expect(iterator.error?.code == .invalidBatchLength)
        #expect(iterator.next() == nil)

        var small = try Self.makeBatch(baseOffset: 0, values: ["x"])
        small.setInteger(Int32(48), at: RecordBatch.FieldOffset.batchLength)
        #expect(errorCode { _ = try RecordSet(buffer: small).splitBatches() } == .invalidBatchLength)

        // A small legacy (magic 0/1) message reports the format, not just the length.
        var legacy = try Self.makeBatch(baseOffset: 0, values: ["x"])
        legacy.setInteger(Int32(20), at: RecordBatch.FieldOffset.batchLength)
        legacy.setInteger(Int8(1), at: RecordBatch.FieldOffset.magic)
        #expect(errorCode { _ = try RecordSet(buffer: legacy).splitBatches() } == .unsupportedMagic)
    }

    @Test func validateBatchesFindsACorruptBatchInTheMiddle() throws {
        var buffer = try Self.threeBatches()
        let firstSize = Array(RecordSet(buffer: buffer).batches)[0].sizeInBytes
        let index = firstSize + RecordBatch.headerSize  // first record byte of the second batch
        buffer.setInteger(buffer.getInteger(at: index, as: UInt8.self)! ^ 0xFF, at: index)
        #expect(errorCode { try RecordSet(buffer: buffer).validateBatches() } == .crcMismatch)
    }
}
