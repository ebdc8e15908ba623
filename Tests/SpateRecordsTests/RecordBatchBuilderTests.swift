import NIOCore
import Testing

@testable import SpateRecords

@Suite struct RecordBatchBuilderTests {
    struct Appended: Equatable {
        var key: ByteBuffer?
        var value: ByteBuffer?
        var headers: [RecordHeader]
        var timestamp: Int64
    }

    static let appended: [Appended] = [
        Appended(key: nil, value: ByteBuffer(string: "value only"), headers: [], timestamp: 1_000),
        Appended(key: ByteBuffer(string: "tombstone"), value: nil, headers: [], timestamp: 1_005),
        Appended(key: nil, value: nil, headers: [], timestamp: 990),  // earlier than the base: negative delta
        Appended(key: ByteBuffer(), value: ByteBuffer(), headers: [], timestamp: 1_001),  // empty is not null
        Appended(
            key: ByteBuffer(string: "k"),
            value: ByteBuffer(bytes: [UInt8](repeating: 0xAB, count: 300)),
            headers: [
                RecordHeader(key: "trace-id", value: ByteBuffer(string: "abc")),
                RecordHeader(key: "", value: nil),
                RecordHeader(key: "ünïcødé", value: ByteBuffer()),
            ],
            timestamp: 1_020
        ),
    ]

    static func makeBuilder(compression: CompressionType = .none) -> RecordBatchBuilder {
        var builder = RecordBatchBuilder(
            producerID: 1234,
            producerEpoch: 5,
            baseSequence: 100,
            isTransactional: true,
            compression: compression
        )
        for record in Self.appended {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
        }
        return builder
    }

    static func check(_ records: [Record]) {
        #expect(records.count == Self.appended.count)
        for (index, (record, appended)) in zip(records, Self.appended).enumerated() {
            #expect(record.offsetDelta == Int32(index))
            #expect(record.offset == Int64(index))
            #expect(record.key == appended.key)
            #expect(record.value == appended.value)
            #expect(record.headers == appended.headers)
            #expect(record.timestamp == appended.timestamp)
        }
    }

    @Test("buildInPlace writes the same bytes as build, again after a header change, and the builder stays usable")
    func buildInPlace() throws {
        var builder = Self.makeBuilder()
        let copied = try builder.build(compressor: nil)
        let inPlace = try builder.buildInPlace(compressor: nil)
        #expect(inPlace == copied)
        builder.baseSequence = 200  // a retried batch re-stamped with a new sequence
        let restamped = try builder.buildInPlace(compressor: nil)
        #expect(inPlace == copied, "an earlier result is not changed by building again")
        var expected = Self.makeBuilder()
        expected.baseSequence = 200
        #expect(restamped == (try expected.build(compressor: nil)))
        let batch = try #require(try RecordSet(buffer: restamped).validateBatches().first)
        #expect(batch.baseSequence == 200)
        Self.check(try batch.records(using: nil, maxDecompressedSize: 1 << 20))
        builder.append(key: nil, value: ByteBuffer(string: "one more"), timestamp: 1_030)
        let grown = try #require(try RecordSet(buffer: try builder.buildInPlace(compressor: nil)).validateBatches().first)
        #expect(grown.recordCount == 6)
        #expect(restamped == (try expected.build(compressor: nil)), "appending after a build does not change its result")
    }

    @Test func roundTripUncompressed() throws {
        let builder = Self.makeBuilder()
        #expect(builder.recordCount == 5)
        let bytes = try builder.build(compressor: nil)
        #expect(bytes.readableBytes == builder.estimatedSizeInBytes)

        let set = RecordSet(buffer: bytes)
        let batches = try set.validateBatches()
        #expect(batches.count == 1)
        let batch = batches[0]
        #expect(batch.baseOffset == 0)
        #expect(batch.partitionLeaderEpoch == -1)
        #expect(batch.producerID == 1234)
        #expect(batch.producerEpoch == 5)
        #expect(batch.baseSequence == 100)
        #expect(batch.lastSequence == 104)
        #expect(batch.isTransactional)
        #expect(!batch.isControl)
        #expect(batch.recordCount == 5)
        #expect(batch.lastOffsetDelta == 4)
        #expect(batch.baseTimestamp == 1_000)
        #expect(batch.maxTimestamp == 1_020)
        Self.check(try batch.records(using: nil, maxDecompressedSize: 1 << 20))
    }

    @Test("record heads whose varints take several bytes round-trip (the head is written in one piece)")
    func multiByteVarIntHeadsRoundTrip() throws {
        let keyLengths = [0, 63, 64, 8_191, 8_192, 100_000]
        let timestamps: [Int64] = [5_000, 4_999, 5_063, 5_064, 5_000 + (1 << 40), Int64.max / 2, -5_000]
        var builder = RecordBatchBuilder()
        var expected: [(key: ByteBuffer, timestamp: Int64)] = []
        for keyLength in keyLengths {
            for timestamp in timestamps {
                let key = ByteBuffer(bytes: (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &+ expected.count) })
                builder.append(key: key, value: ByteBuffer(string: "v\(expected.count)"), timestamp: timestamp)
                expected.append((key, timestamp))
            }
        }
        let bytes = try builder.build(compressor: nil)
        #expect(bytes.readableBytes == builder.estimatedSizeInBytes)
        let batch = try #require(try RecordSet(buffer: bytes).validateBatches().first)
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 30)
        #expect(records.count == expected.count)
        for (index, (record, appended)) in zip(records, expected).enumerated() {
            #expect(record.key == appended.key)
            #expect(record.timestamp == appended.timestamp)
            #expect(record.offsetDelta == Int32(index))
            #expect(record.value == ByteBuffer(string: "v\(index)"))
        }
    }

    @Test func roundTripCompressedThroughAFakeCodec() throws {
        let builder = Self.makeBuilder(compression: .zstd)
        let bytes = try builder.build(compressor: XORCompressor())
        let batch = try #require(try RecordSet(buffer: bytes).validateBatches().first)
        #expect(batch.compression == .zstd)
        #expect(batch.attributes.rawValue == 0x14)  // zstd (4) | transactional (0x10)
        #expect(batch.recordsSection.getBytes(at: batch.recordsSection.readerIndex, length: 4) == Array("FAKE".utf8))
        Self.check(try batch.records(using: XORCompressor(), maxDecompressedSize: 1 << 20))

        #expect(errorCode { _ = try batch.records(using: nil, maxDecompressedSize: 1 << 20) } == .compressorRequired)
        #expect(throws: FakeCompressionError(reason: "too large")) {
            _ = try batch.records(using: XORCompressor(), maxDecompressedSize: 10)
        }
    }

    @Test func compressionNeedsACompressor() {
        let builder = Self.makeBuilder(compression: .gzip)
        #expect(errorCode { _ = try builder.build(compressor: nil) } == .compressorRequired)
    }

    @Test func emptyBuilderThrows() {
        let builder = RecordBatchBuilder()
        #expect(builder.isEmpty)
        #expect(builder.estimatedSizeInBytes == RecordBatch.headerSize)
        #expect(errorCode { _ = try builder.build(compressor: nil) } == .emptyBatch)
    }

    @Test func controlAndLogAppendTimeAttributes() throws {
        var builder = RecordBatchBuilder(
            baseOffset: 77,
            isControl: true,
            partitionLeaderEpoch: 9,
            timestampType: .logAppendTime
        )
        builder.append(key: nil, value: nil, timestamp: 5)
        let batch = try RecordBatch(buffer: builder.build(compressor: nil))
        try batch.validate()
        #expect(batch.baseOffset == 77)
        #expect(batch.partitionLeaderEpoch == 9)
        #expect(batch.isControl)
        #expect(batch.timestampType == .logAppendTime)
        #expect(batch.attributes.rawValue == 0x28)
    }

    @Test func attributesRoundTrip() {
        var attributes = RecordBatchAttributes(
            compression: .lz4,
            timestampType: .logAppendTime,
            isTransactional: true,
            isControl: false,
            hasDeleteHorizon: true
        )
        #expect(attributes.rawValue == 0x03 | 0x08 | 0x10 | 0x40)
        attributes.compression = .snappy
        attributes.timestampType = .createTime
        attributes.hasDeleteHorizon = false
        #expect(attributes.rawValue == 0x02 | 0x10)
        #expect(RecordBatchAttributes(rawValue: 0x07).compression == nil)
        #expect(RecordBatchAttributes(rawValue: 0x07).compressionID == 7)
    }
}
