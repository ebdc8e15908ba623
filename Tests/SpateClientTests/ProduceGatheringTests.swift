import NIOCore
import SpateRecords
import SpateWire
import Testing

@testable import SpateClient

/// A Produce frame written as pieces (the producer's batches not copied into it) has exactly the bytes of the frame
/// the generated encoder writes in one buffer, at every version.
@Suite struct ProduceGatheringTests {
    static func batch(records: Int, valueSize: Int) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(producerID: 9, producerEpoch: 0, baseSequence: 0)
        for index in 0..<records {
            builder.append(
                key: nil, value: ByteBuffer(repeating: UInt8(truncatingIfNeeded: index), count: valueSize),
                timestamp: 1_700_000_000_000 + Int64(index))
        }
        return try builder.build(compressor: nil)
    }

    static func request(version: Int16) throws -> (ProduceRequest, gathered: Int) {
        let large = try Self.batch(records: 16, valueSize: 1024)
        let larger = try Self.batch(records: 300, valueSize: 1000)
        let small = try Self.batch(records: 2, valueSize: 10)
        var first = ProduceRequest.TopicProduceData(
            name: "orders",
            partitionData: [
                .init(index: 0, records: RecordSet(buffer: large)),
                .init(index: 1, records: RecordSet(buffer: small)),
                .init(index: 2, records: nil),
                .init(index: 3, records: RecordSet(buffer: larger)),
            ])
        var request = ProduceRequest(
            transactionalID: nil, acks: -1, timeoutMs: 30_000,
            topicData: [first, .init(name: "payments", partitionData: [.init(index: 7, records: RecordSet(buffer: large))])])
        if version >= 9 {
            // Tagged fields around the records: they must stay where the generated encoder puts them.
            first.partitionData[0].unknownTaggedFields[3] = ByteBuffer(string: "tag")
            request.topicData[0] = first
            request.unknownTaggedFields[5] = ByteBuffer(string: "request tag")
        }
        #expect(small.readableBytes < ProduceRequest.minimumGatheredBytes)
        return (request, 3)
    }

    @Test("the pieces are the generated frame's bytes, at every version", arguments: ProduceRequest.supportedVersions)
    func piecesMatchTheGeneratedFrame(version: Int16) throws {
        let (request, gathered) = try Self.request(version: version)
        var expected = ByteBuffer()
        try request.encodeFrame(into: &expected, version: version, correlationID: 42, clientID: "spate-test")
        let parts = try request.encodeFrameGathering(version: version, correlationID: 42, clientID: "spate-test")
        #expect(parts.count == 2 * gathered + 1)
        var joined = ByteBuffer()
        for var part in parts { joined.writeBuffer(&part) }
        #expect(joined == expected)
        // The frame decodes as the request it came from.
        var frame = joined
        #expect(frame.readInteger(as: Int32.self) == Int32(frame.readableBytes))
        let decoded = try RequestFrame(decoding: frame)
        #expect(decoded.body == .produce(request))
    }

    @Test func aRequestWithoutLargeRecordSetsIsOnePiece() throws {
        let small = try Self.batch(records: 1, valueSize: 100)
        let request = ProduceRequest(
            acks: 1, timeoutMs: 1_000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: RecordSet(buffer: small))])])
        let parts = try request.encodeFrameGathering(version: 9, correlationID: 1, clientID: nil)
        var expected = ByteBuffer()
        try request.encodeFrame(into: &expected, version: 9, correlationID: 1, clientID: nil)
        #expect(parts == [expected])
    }

    @Test func theCutterRefusesFramesThatDoNotDifferInLengthPrefixes() {
        let frame = ByteBuffer(bytes: [0, 0, 0, 5, 1, 2, 3, 4, 5])
        #expect(RecordsFieldCutter.cut(emptyFrame: frame, nullFrame: frame, lengths: [10], compact: false) == nil)
        let shorter = ByteBuffer(bytes: [0, 0, 0, 4, 1, 2, 3, 4])
        #expect(RecordsFieldCutter.cut(emptyFrame: frame, nullFrame: shorter, lengths: [10], compact: false) == nil)
    }
}
