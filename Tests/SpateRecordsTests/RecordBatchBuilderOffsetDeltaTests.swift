import NIOCore
import Testing

@testable import SpateRecords

/// `RecordBatchBuilder.append(offsetDelta:…)`: batches with gaps in their offsets, as log compaction writes them.
@Suite struct RecordBatchBuilderOffsetDeltaTests {
    @Test func explicitDeltasLeaveGapsAndSetLastOffsetDelta() throws {
        var builder = RecordBatchBuilder(baseOffset: 100, producerID: 9, producerEpoch: 1, baseSequence: 4)
        builder.append(offsetDelta: 0, key: ByteBuffer(string: "a"), value: ByteBuffer(string: "1"), timestamp: 50)
        builder.append(offsetDelta: 3, key: ByteBuffer(string: "b"), value: nil, timestamp: 40)
        builder.append(offsetDelta: 7, key: ByteBuffer(string: "c"), value: ByteBuffer(string: "3"), timestamp: 60)
        #expect(builder.lastOffsetDelta == 7)
        let batch = try RecordBatch(buffer: try builder.build(compressor: nil))
        try batch.validate()
        #expect(batch.recordCount == 3)
        #expect(batch.lastOffsetDelta == 7)
        #expect(batch.lastOffset == 107)
        #expect(batch.baseTimestamp == 50)
        #expect(batch.maxTimestamp == 60)
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 20)
        #expect(records.map(\.offset) == [100, 103, 107])
        #expect(records.map(\.timestamp) == [50, 40, 60])
        #expect(records.map { $0.value.map { String(buffer: $0) } } == ["1", nil, "3"])
    }

    @Test func implicitAppendsContinueAfterExplicitDeltas() throws {
        var builder = RecordBatchBuilder()
        builder.append(offsetDelta: 5, key: nil, value: ByteBuffer(string: "x"), timestamp: 1)
        builder.append(key: nil, value: ByteBuffer(string: "y"), timestamp: 2)
        let batch = try RecordBatch(buffer: try builder.build(compressor: nil))
        #expect(try batch.records(using: nil, maxDecompressedSize: 1 << 20).map(\.offsetDelta) == [5, 6])
        #expect(batch.lastOffsetDelta == 6)
    }

    @Test func defaultAppendsAreUnchanged() throws {
        var builder = RecordBatchBuilder()
        for index in 0..<4 { builder.append(key: nil, value: ByteBuffer(string: "\(index)"), timestamp: 10) }
        let batch = try RecordBatch(buffer: try builder.build(compressor: nil))
        #expect(batch.lastOffsetDelta == 3)
        #expect(try batch.records(using: nil, maxDecompressedSize: 1 << 20).map(\.offsetDelta) == [0, 1, 2, 3])
    }

    @Test(arguments: [Int32(-1), 2])
    func nonIncreasingDeltaFailsTheBuild(delta: Int32) throws {
        var builder = RecordBatchBuilder()
        builder.append(offsetDelta: 2, key: nil, value: ByteBuffer(string: "x"), timestamp: 1)
        builder.append(offsetDelta: delta, key: nil, value: ByteBuffer(string: "y"), timestamp: 1)
        #expect(throws: RecordBatchError.self) { try builder.build(compressor: nil) }
        do {
            _ = try builder.build(compressor: nil)
        } catch let error as RecordBatchError {
            #expect(error.code == .invalidLastOffsetDelta)
        }
    }
}
