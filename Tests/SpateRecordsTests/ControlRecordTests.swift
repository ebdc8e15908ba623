import NIOCore
import Testing

@testable import SpateRecords

@Suite struct ControlRecordTests {
    @Test func keyAndValueGoldenBytes() throws {
        let marker = EndTransactionMarker(type: .commit, coordinatorEpoch: 0x0102_0304)
        #expect(
            marker.makeKey().bytes == [
                0x00, 0x00,  // version = 0
                0x00, 0x01,  // type = commit
            ]
        )
        #expect(
            marker.makeValue().bytes == [
                0x00, 0x00,  // version = 0
                0x01, 0x02, 0x03, 0x04,  // coordinatorEpoch
            ]
        )
        #expect(ControlRecordType.abort.makeKey().bytes == [0x00, 0x00, 0x00, 0x00])
        #expect(try EndTransactionMarker(key: marker.makeKey(), value: marker.makeValue()) == marker)
    }

    @Test func parsesUnknownTypesAndRejectsMalformedKeys() throws {
        #expect(try ControlRecordType(key: ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x02])).rawValue == 2)
        // Newer versions with extra bytes are accepted.
        #expect(try ControlRecordType(key: ByteBuffer(bytes: [0x00, 0x01, 0x00, 0x00, 0xFF])) == .abort)
        #expect(errorCode { _ = try ControlRecordType(key: nil) } == .invalidControlRecord)
        #expect(
            errorCode { _ = try ControlRecordType(key: ByteBuffer(bytes: [0x00, 0x00, 0x00])) } == .invalidControlRecord
        )
        #expect(
            errorCode { _ = try ControlRecordType(key: ByteBuffer(bytes: [0xFF, 0xFF, 0x00, 0x00])) }
                == .invalidControlRecord
        )
        let commitKey = ControlRecordType.commit.makeKey()
        #expect(errorCode { _ = try EndTransactionMarker(key: commitKey, value: nil) } == .invalidControlRecord)
        #expect(
            errorCode { _ = try EndTransactionMarker(key: commitKey, value: ByteBuffer(bytes: [0, 0, 0])) }
                == .invalidControlRecord
        )
        let leaderChange = ControlRecordType(rawValue: 2).makeKey()
        #expect(
            errorCode { _ = try EndTransactionMarker(key: leaderChange, value: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0])) }
                == .invalidControlRecord
        )
    }

    @Test func endTransactionBatchRoundTrip() throws {
        let marker = EndTransactionMarker(type: .abort, coordinatorEpoch: 3)
        let bytes = try RecordBatchBuilder.makeEndTransactionBatch(
            marker: marker,
            producerID: 99,
            producerEpoch: 2,
            timestamp: 1_234,
            baseOffset: 50
        )
        let batch = try RecordBatch(buffer: bytes)
        try batch.validate()
        #expect(batch.isControl)
        #expect(batch.isTransactional)
        #expect(batch.producerID == 99)
        #expect(batch.producerEpoch == 2)
        #expect(batch.baseSequence == -1)
        let records = try batch.records(using: nil, maxDecompressedSize: 1 << 20)
        #expect(records.count == 1)
        #expect(records[0].offset == 50)
        #expect(try EndTransactionMarker(record: records[0]) == marker)
    }
}
