import NIOCore
import Testing

@testable import SpateWire

@Suite struct ProtocolRuleTests {
    /// KIP-511: a client sends ApiVersions at a version the broker does not know (v127 here). The broker can still
    /// read the header's fixed prefix, answers UNSUPPORTED_VERSION encoded as ApiVersionsResponse v0 (response header
    /// v0) with the supported ranges, and the client reads that answer as v0.
    @Test func unsupportedApiVersionsVersionGetsTheV0Fallback() throws {
        var frame = ByteBuffer()
        frame.writeMultipleIntegers(Int16(18), Int16(127), Int32(99))  // apiKey, apiVersion, correlationID
        frame.writeBytes([0x00, 0x03, 0x63, 0x6C, 0x69, 0x00])  // clientID "cli" (classic), empty tag section
        frame.writeBytes([0x04, 0x61, 0x62, 0x63, 0x00])  // a v127 body the codec cannot know
        #expect(throws: WireError.unsupportedVersion(apiKey: 18, version: 127)) { try RequestFrame(decoding: frame) }
        let peeked = try #require(RequestHeader.peek(frame))
        #expect(peeked.apiKey == .apiVersions && peeked.apiVersion == 127 && peeked.correlationID == 99)

        let fallback = ApiVersionsResponse.unsupportedVersionFallback(apiKeys: [
            .init(apiKey: 18, minVersion: 0, maxVersion: 4)
        ])
        var out = ByteBuffer()
        try fallback.encodeFrame(into: &out, version: 0, correlationID: 99)
        let expected: [UInt8] = [
            0x00, 0x00, 0x00, 0x14,  // frame size 20
            0x00, 0x00, 0x00, 0x63,  // correlation ID 99 (response header v0: no tagged fields)
            0x00, 0x23,  // error code 35 UNSUPPORTED_VERSION
            0x00, 0x00, 0x00, 0x01,  // ApiKeys: classic array of 1
            0x00, 0x12, 0x00, 0x00, 0x00, 0x04,  // ApiVersions 0...4
            0x00, 0x00, 0x00, 0x00,  // no: v0 has no throttle time; see below
        ]
        // v0 has exactly error code and ApiKeys: 4 + 2 + 4 + 6 = 16 bytes after the size.
        #expect(Array(out.readableBytesView) == Array(expected.prefix(4 + 16)).replacingSize(with: 16))
        out.moveReaderIndex(forwardBy: 4)
        let (correlation, decoded) = try ApiVersionsResponse.decodeFrame(out, version: 0)
        #expect(correlation == 99)
        #expect(decoded.errorCode == .unsupportedVersion)
        #expect(decoded.apiKeys == [.init(apiKey: 18, minVersion: 0, maxVersion: 4)])
    }

    /// A known tag that arrives in a version below its `taggedVersions` is not that field: it is kept as unknown and
    /// written back unchanged. Fetch's ReplicaState is tag 1 from v15; at v12 tag 1 must stay opaque.
    @Test func knownTagBelowItsVersionsStaysUnknown() throws {
        let payload = ByteBuffer(bytes: [0x01, 0x02, 0x03])
        let request = FetchRequest(replicaID: -1, maxWaitMs: 500, minBytes: 1)
        var withTag = request
        withTag.unknownTaggedFields[1] = payload
        let bytes = try withTag.encoded(version: 12)
        let decoded = try FetchRequest.decode(from: bytes, version: 12)
        #expect(decoded.unknownTaggedFields[1] == payload)
        #expect(decoded.replicaState == FetchRequest.ReplicaState())
        #expect(try decoded.encoded(version: 12) == bytes)
    }
}

extension Array where Element == UInt8 {
    /// The same frame with its 4-byte size prefix set to `size`.
    fileprivate func replacingSize(with size: Int32) -> [UInt8] {
        var copy = self
        copy[0] = UInt8(truncatingIfNeeded: size >> 24)
        copy[1] = UInt8(truncatingIfNeeded: size >> 16)
        copy[2] = UInt8(truncatingIfNeeded: size >> 8)
        copy[3] = UInt8(truncatingIfNeeded: size)
        return copy
    }
}
