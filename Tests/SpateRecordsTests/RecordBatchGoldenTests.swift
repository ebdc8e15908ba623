import NIOCore
import Testing

@testable import SpateRecords

@Suite struct RecordBatchGoldenTests {
    /// A v2 batch with two uncompressed records, written out by hand (CRC computed independently).
    static let golden: [UInt8] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // baseOffset = 5
        0x00, 0x00, 0x00, 0x46,  // batchLength = 70 (82 bytes - 12)
        0x00, 0x00, 0x00, 0x03,  // partitionLeaderEpoch = 3
        0x02,  // magic = 2
        0xD9, 0xD2, 0x56, 0xF6,  // crc = CRC-32C(attributes … end)
        0x00, 0x00,  // attributes: no compression, CreateTime, not transactional, not control
        0x00, 0x00, 0x00, 0x01,  // lastOffsetDelta = 1
        0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00,  // baseTimestamp = 1_700_000_000_000
        0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x0A,  // maxTimestamp = 1_700_000_000_010
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,  // producerId = 42
        0x00, 0x01,  // producerEpoch = 1
        0x00, 0x00, 0x00, 0x07,  // baseSequence = 7
        0x00, 0x00, 0x00, 0x02,  // recordCount = 2
        // record 0
        0x12,  // length = 9 (zigzag)
        0x00,  // attributes
        0x00,  // timestampDelta = 0
        0x00,  // offsetDelta = 0
        0x02, 0x6B,  // key: length 1, "k"
        0x04, 0x68, 0x69,  // value: length 2, "hi"
        0x00,  // header count = 0
        // record 1
        0x14,  // length = 10
        0x00,  // attributes
        0x14,  // timestampDelta = 10
        0x02,  // offsetDelta = 1
        0x01,  // key: null (-1)
        0x02, 0x76,  // value: length 1, "v"
        0x02,  // header count = 1
        0x02, 0x68,  // header key: length 1, "h"
        0x01,  // header value: null (-1)
    ]

    @Test func decodesHeaderFieldByField() throws {
        let batch = try RecordBatch(buffer: ByteBuffer(bytes: Self.golden))
        #expect(batch.baseOffset == 5)
        #expect(batch.batchLength == 70)
        #expect(batch.partitionLeaderEpoch == 3)
        #expect(batch.magic == 2)
        #expect(batch.crc == 0xD9D2_56F6)
        #expect(batch.computeCRC() == 0xD9D2_56F6)
        #expect(batch.attributes.rawValue == 0)
        #expect(batch.compression == CompressionType.none)
        #expect(batch.timestampType == .createTime)
        #expect(!batch.isTransactional)
        #expect(!batch.isControl)
        #expect(!batch.hasDeleteHorizon)
        #expect(batch.deleteHorizonMs == nil)
        #expect(batch.lastOffsetDelta == 1)
        #expect(batch.baseTimestamp == 1_700_000_000_000)
        #expect(batch.maxTimestamp == 1_700_000_000_010)
        #expect(batch.producerID == 42)
        #expect(batch.producerEpoch == 1)
        #expect(batch.baseSequence == 7)
        #expect(batch.lastSequence == 8)
        #expect(batch.recordCount == 2)
        #expect(batch.lastOffset == 6)
        #expect(batch.nextOffset == 7)
        #expect(batch.sizeInBytes == 82)
        #expect(batch.recordsSection.readableBytes == 21)
        try batch.validate()
    }

    @Test func decodesRecords() throws {
        let batch = try RecordBatch(buffer: ByteBuffer(bytes: Self.golden))
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 20)
        #expect(records.count == 2)

        #expect(records[0].offset == 5)
        #expect(records[0].timestamp == 1_700_000_000_000)
        #expect(records[0].key == ByteBuffer(string: "k"))
        #expect(records[0].value == ByteBuffer(string: "hi"))
        #expect(records[0].headers.isEmpty)

        #expect(records[1].offset == 6)
        #expect(records[1].offsetDelta == 1)
        #expect(records[1].timestampDelta == 10)
        #expect(records[1].timestamp == 1_700_000_000_010)
        #expect(records[1].key == nil)
        #expect(records[1].value == ByteBuffer(string: "v"))
        #expect(records[1].headers == [RecordHeader(key: "h", value: nil)])
    }

    @Test func builderReproducesGoldenBytes() throws {
        var builder = RecordBatchBuilder(
            baseOffset: 5,
            producerID: 42,
            producerEpoch: 1,
            baseSequence: 7,
            partitionLeaderEpoch: 3
        )
        builder.append(key: ByteBuffer(string: "k"), value: ByteBuffer(string: "hi"), timestamp: 1_700_000_000_000)
        builder.append(
            key: nil,
            value: ByteBuffer(string: "v"),
            headers: [RecordHeader(key: "h", value: nil)],
            timestamp: 1_700_000_000_010
        )
        #expect(builder.estimatedSizeInBytes == Self.golden.count)
        #expect(try builder.build(compressor: nil).bytes == Self.golden)
    }

    @Test func stampingBaseOffsetAndEpochKeepsCRCValid() throws {
        var batch = try RecordBatch(buffer: ByteBuffer(bytes: Self.golden))
        batch.setBaseOffset(1_000_000)
        batch.setPartitionLeaderEpoch(17)
        try batch.validate()
        #expect(batch.baseOffset == 1_000_000)
        #expect(batch.partitionLeaderEpoch == 17)
        #expect(batch.crc == 0xD9D2_56F6)
        #expect(batch.lastOffset == 1_000_001)
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 20)
        #expect(records.map(\.offset) == [1_000_000, 1_000_001])
    }

    @Test func stampingAViewOfALargerBufferWritesAtTheViewsPosition() throws {
        var wrapped = ByteBuffer(bytes: [0xAA, 0xBB, 0xCC] + Self.golden + [0xDD])
        wrapped.moveReaderIndex(forwardBy: 3)
        let slice = wrapped.getSlice(at: 3, length: Self.golden.count)!
        var batch = try RecordBatch(buffer: slice)
        batch.setBaseOffset(9)
        try batch.validate()
        #expect(batch.buffer.bytes[0..<8] == [0, 0, 0, 0, 0, 0, 0, 9])
    }

    @Test func setMaxTimestampRecomputesCRC() throws {
        var batch = try RecordBatch(buffer: ByteBuffer(bytes: Self.golden))
        batch.setMaxTimestamp(1_800_000_000_000, timestampType: .logAppendTime)
        try batch.validate()
        #expect(batch.crc != 0xD9D2_56F6)
        #expect(batch.timestampType == .logAppendTime)
        #expect(batch.maxTimestamp == 1_800_000_000_000)
        #expect(batch.attributes.rawValue == 0x08)
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 20)
        #expect(records.map(\.timestamp) == [1_800_000_000_000, 1_800_000_000_000])

        // Back to CreateTime with the original max timestamp restores the original bytes.
        batch.setMaxTimestamp(1_700_000_000_010, timestampType: .createTime)
        #expect(batch.buffer.bytes == Self.golden)
    }

    @Test func corruptedByteIsACRCError() throws {
        for index in RecordBatch.FieldOffset.attributes..<Self.golden.count {
            var bytes = Self.golden
            bytes[index] ^= 0x01
            let batch = try RecordBatch(buffer: ByteBuffer(bytes: bytes))
            #expect(errorCode { try batch.validate() } == .crcMismatch, "flipped byte \(index)")
        }
        var badCRC = Self.golden
        badCRC[RecordBatch.FieldOffset.crc] ^= 0x80
        #expect(errorCode { try RecordBatch(buffer: ByteBuffer(bytes: badCRC)).validate() } == .crcMismatch)
    }

    @Test func headerChecks() throws {
        var magic1 = Self.golden
        magic1[RecordBatch.FieldOffset.magic] = 1
        #expect(errorCode { try RecordBatch(buffer: ByteBuffer(bytes: magic1)).validate() } == .unsupportedMagic)

        var longer = Self.golden
        longer[11] = 0x47
        #expect(errorCode { try RecordBatch(buffer: ByteBuffer(bytes: longer)).validate() } == .invalidBatchLength)

        var tiny = Self.golden
        tiny[11] = 0x30  // 48 < 49
        #expect(errorCode { try RecordBatch(buffer: ByteBuffer(bytes: tiny)).validate() } == .invalidBatchLength)

        #expect(errorCode { _ = try RecordBatch(buffer: ByteBuffer(bytes: Self.golden.prefix(60))) } == .truncated)
    }

    @Test func recordCountAndLastOffsetDeltaChecksAfterRestampingCRC() throws {
        func resealed(_ edit: (inout RecordBatch) -> Void, _ mutateBytes: (inout [UInt8]) -> Void) throws -> RecordBatch
        {
            var bytes = Self.golden
            mutateBytes(&bytes)
            var batch = try RecordBatch(buffer: ByteBuffer(bytes: bytes))
            edit(&batch)
            // Recompute the CRC through setMaxTimestamp: flip the type twice.
            batch.setMaxTimestamp(batch.maxTimestamp, timestampType: .logAppendTime)
            batch.setMaxTimestamp(batch.maxTimestamp, timestampType: .createTime)
            return batch
        }
        let negativeCount = try resealed({ _ in }) {
            $0[57] = 0xFF; $0[58] = 0xFF; $0[59] = 0xFF; $0[60] = 0xFF
        }
        #expect(errorCode { try negativeCount.validate() } == .invalidRecordCount)

        let countTooHigh = try resealed({ _ in }) { $0[60] = 0x03 }
        #expect(errorCode { try countTooHigh.validate() } == .invalidLastOffsetDelta)

        let hugeCount = try resealed({ _ in }) {
            $0[23] = 0x7F; $0[57] = 0x01
        }
        #expect(errorCode { try hugeCount.validate() } == .invalidRecordCount)

        let countMismatch = try resealed({ _ in }) { $0[60] = 0x01 }
        try countMismatch.validate()
        #expect(
            errorCode { _ = try countMismatch.records(using: nil, maxDecompressedSize: 1 << 20) } == .trailingBytes
        )

        let unknownCodec = try resealed({ _ in }) { $0[22] = 0x05 }
        #expect(errorCode { try unknownCodec.validate() } == .unknownCompression)
        #expect(
            errorCode { _ = try unknownCodec.records(using: nil, maxDecompressedSize: 1 << 20) } == .unknownCompression
        )
    }

    @Test func recordLengthMustMatchContents() throws {
        // Record 0 claims 10 bytes instead of 9: it swallows record 1's length byte.
        var bytes = Self.golden
        bytes[61] = 0x14
        let batch = try RecordBatch(buffer: ByteBuffer(bytes: bytes))
        #expect(errorCode { _ = try batch.records(using: nil, maxDecompressedSize: 1 << 20) } == .invalidRecord)

        // Record 1 claims 9 bytes instead of 10: its header value is cut off.
        var short = Self.golden
        short[71] = 0x12
        let shortBatch = try RecordBatch(buffer: ByteBuffer(bytes: short))
        #expect(errorCode { _ = try shortBatch.records(using: nil, maxDecompressedSize: 1 << 20) } == .invalidRecord)
    }
}
