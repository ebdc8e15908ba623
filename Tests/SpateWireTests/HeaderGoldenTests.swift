import NIOCore
import SpateWire
import Testing

// Hand-written golden bytes for the header rules (RequestHeader.json, ResponseHeader.json, KIP-482, KIP-511) and for
// unknown tagged fields. Each literal is an annotated hex dump parsed by `parseAnnotated` (Support/GoldenSupport.swift).

@Suite struct HeaderGoldenTests {
    private func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    // MARK: Request headers

    @Test func requestHeaderV1WithClientID() throws {
        // Heartbeat v0 is not flexible, so the request header is v1.
        #expect(APIKey.heartbeat.requestHeaderVersion(for: 0) == 1)
        let golden = annotatedBytes("""
            00 0c               # request_api_key: int16 12 (Heartbeat)
            00 00               # request_api_version: int16 0
            00 00 00 2a         # correlation_id: int32 42
            00 06               # client_id length 6 (classic int16)
            63 6c 69 65 6e 74   # client_id = "client"
            """)
        let header = RequestHeader(apiKey: .heartbeat, apiVersion: 0, correlationID: 42, clientID: "client")
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(self.bytes(buffer) == golden)
        var input = ByteBuffer(bytes: golden)
        #expect(try RequestHeader(from: &input) == header)
        #expect(input.readableBytes == 0)
    }

    @Test func requestHeaderV1WithNullClientID() throws {
        let golden = annotatedBytes("""
            00 0c          # request_api_key: int16 12 (Heartbeat)
            00 03          # request_api_version: int16 3
            ff ff ff ff    # correlation_id: int32 -1
            ff ff          # client_id: null (classic int16 -1)
            """)
        let header = RequestHeader(apiKey: .heartbeat, apiVersion: 3, correlationID: -1, clientID: nil)
        #expect(header.headerVersion == 1)
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(self.bytes(buffer) == golden)
        var input = ByteBuffer(bytes: golden)
        let decoded = try RequestHeader(from: &input)
        #expect(decoded == header)
        #expect(decoded.clientID == nil)
        #expect(input.readableBytes == 0)
    }

    @Test func requestHeaderV2KeepsClassicClientID() throws {
        // Heartbeat v4 is flexible, so the header is v2, but client_id stays a classic string (its field says
        // "flexibleVersions": "none"); a compact string would be 07 63 6c ...
        #expect(APIKey.heartbeat.requestHeaderVersion(for: 4) == 2)
        let golden = annotatedBytes("""
            00 0c               # request_api_key: int16 12 (Heartbeat)
            00 04               # request_api_version: int16 4
            00 00 01 00         # correlation_id: int32 256
            00 06               # client_id length 6 (classic int16, NOT compact)
            63 6c 69 65 6e 74   # client_id = "client"
            00                  # header tagged fields: count 0
            """)
        let header = RequestHeader(apiKey: .heartbeat, apiVersion: 4, correlationID: 256, clientID: "client")
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(self.bytes(buffer) == golden)
        var input = ByteBuffer(bytes: golden)
        #expect(try RequestHeader(from: &input) == header)
        #expect(input.readableBytes == 0)
    }

    @Test func requestHeaderV2NullClientIDAndUnknownTag() throws {
        let golden = annotatedBytes("""
            00 0c         # request_api_key: int16 12 (Heartbeat)
            00 04         # request_api_version: int16 4
            00 00 00 01   # correlation_id: int32 1
            ff ff         # client_id: null (classic int16 -1)
            01            # header tagged fields: count 1
            09            # tag 9 (unknown)
            02            # size 2
            be ef         # tag 9 data
            """)
        var input = ByteBuffer(bytes: golden)
        let header = try RequestHeader(from: &input)
        #expect(input.readableBytes == 0)
        #expect(header.clientID == nil)
        #expect(header.taggedFields[9] == ByteBuffer(bytes: [0xBE, 0xEF]))
        var buffer = ByteBuffer()
        try header.encode(into: &buffer)
        #expect(self.bytes(buffer) == golden)
    }

    // MARK: Response headers

    @Test func responseHeaderV0() throws {
        let golden = annotatedBytes("""
            01 02 03 04   # correlation_id: int32 0x01020304
            """)
        let header = ResponseHeader(correlationID: 0x0102_0304)
        var buffer = ByteBuffer()
        header.encode(into: &buffer, headerVersion: 0)
        #expect(self.bytes(buffer) == golden)
        var input = ByteBuffer(bytes: golden)
        #expect(try ResponseHeader(from: &input, headerVersion: 0) == header)
        #expect(input.readableBytes == 0)
    }

    @Test func responseHeaderV1() throws {
        let golden = annotatedBytes("""
            01 02 03 04   # correlation_id: int32 0x01020304
            00            # header tagged fields: count 0
            """)
        let header = ResponseHeader(correlationID: 0x0102_0304)
        var buffer = ByteBuffer()
        header.encode(into: &buffer, headerVersion: 1)
        #expect(self.bytes(buffer) == golden)
        var input = ByteBuffer(bytes: golden)
        #expect(try ResponseHeader(from: &input, headerVersion: 1) == header)
        #expect(input.readableBytes == 0)
    }

    @Test func responseHeaderV1WithUnknownTags() throws {
        let golden = annotatedBytes("""
            00 00 00 07   # correlation_id: int32 7
            02            # header tagged fields: count 2
            01            # tag 1
            00            # size 0
            80 01         # tag 128 (uvarint, two bytes)
            01            # size 1
            aa            # tag 128 data
            """)
        var input = ByteBuffer(bytes: golden)
        let header = try ResponseHeader(from: &input, headerVersion: 1)
        #expect(input.readableBytes == 0)
        #expect(header.taggedFields[1] == ByteBuffer())
        #expect(header.taggedFields[128] == ByteBuffer(bytes: [0xAA]))
        var buffer = ByteBuffer()
        header.encode(into: &buffer, headerVersion: 1)
        #expect(self.bytes(buffer) == golden)
    }

    // MARK: ApiVersions: flexible body, v2 request header, but v0 response header

    @Test func apiVersionsV3RequestFrame() throws {
        #expect(APIKey.apiVersions.requestHeaderVersion(for: 3) == 2)
        let golden = annotatedBytes("""
            00 00 00 1b         # frame size: int32 27
            00 12               # request_api_key: int16 18 (ApiVersions)
            00 03               # request_api_version: int16 3
            00 00 00 05         # correlation_id: int32 5
            00 06               # client_id length 6 (classic int16)
            63 6c 69 65 6e 74   # client_id = "client"
            00                  # header tagged fields: count 0
            05                  # ClientSoftwareName length 4 (compact uvarint 4+1)
            73 70 61 74         # ClientSoftwareName = "spat"
            04                  # ClientSoftwareVersion length 3 (compact uvarint 3+1)
            30 2e 31            # ClientSoftwareVersion = "0.1"
            00                  # body tagged fields: count 0
            """)
        let request = ApiVersionsRequest(clientSoftwareName: "spat", clientSoftwareVersion: "0.1")
        var buffer = ByteBuffer()
        try request.encodeFrame(into: &buffer, version: 3, correlationID: 5, clientID: "client")
        #expect(self.bytes(buffer) == golden)

        let frame = try RequestFrame(decoding: ByteBuffer(bytes: golden.dropFirst(4)))
        #expect(frame.header == RequestHeader(apiKey: .apiVersions, apiVersion: 3, correlationID: 5, clientID: "client"))
        #expect(frame.body == .apiVersions(request))
    }

    @Test func apiVersionsV3ResponseUsesHeaderV0() throws {
        // The body is flexible (v3), yet the response header stays v0: no tagged-field byte after the correlation ID.
        #expect(APIKey.apiVersions.responseHeaderVersion(for: 3) == 0)
        let golden = annotatedBytes("""
            00 00 00 13         # frame size: int32 19
            00 00 00 05         # correlation_id: int32 5 (response header v0: nothing follows)
            00 00               # ErrorCode: int16 0
            02                  # ApiKeys count 1 (compact uvarint 1+1)
            00 12               # ApiKeys[0].ApiKey: int16 18
            00 00               # ApiKeys[0].MinVersion: int16 0
            00 04               # ApiKeys[0].MaxVersion: int16 4
            00                  # ApiKeys[0] tagged fields: count 0
            00 00 00 00         # ThrottleTimeMs: int32 0
            00                  # body tagged fields: count 0
            """)
        let response = ApiVersionsResponse(apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 4)])
        var buffer = ByteBuffer()
        try response.encodeFrame(into: &buffer, version: 3, correlationID: 5)
        #expect(self.bytes(buffer) == golden)
        let (correlationID, body) = try ApiVersionsResponse.decodeFrame(ByteBuffer(bytes: golden.dropFirst(4)), version: 3)
        #expect(correlationID == 5)
        #expect(body == response)
    }

    @Test func flexibleResponseOtherThanApiVersionsUsesHeaderV1() throws {
        #expect(APIKey.heartbeat.responseHeaderVersion(for: 4) == 1)
        let golden = annotatedBytes("""
            00 00 00 0c   # frame size: int32 12
            00 00 00 05   # correlation_id: int32 5
            00            # response header v1 tagged fields: count 0
            00 00 00 00   # ThrottleTimeMs: int32 0
            00 1b         # ErrorCode: int16 27 (REBALANCE_IN_PROGRESS)
            00            # body tagged fields: count 0
            """)
        var buffer = ByteBuffer()
        try HeartbeatResponse(errorCode: ErrorCode(rawValue: 27)).encodeFrame(into: &buffer, version: 4, correlationID: 5)
        #expect(self.bytes(buffer) == golden)
    }

    // MARK: Unknown tagged fields in a flexible body

    @Test func unknownTaggedFieldsSurviveRoundTrip() throws {
        // ApiVersionsResponse v3: known tag 1 (FinalizedFeaturesEpoch) between unknown tags 7 and 300 at the top
        // level, and an unknown zero-length tag 3 inside an ApiKeys element.
        let golden = annotatedBytes("""
            00 00                     # ErrorCode: int16 0
            02                        # ApiKeys count 1 (compact uvarint 1+1)
            00 12                     # ApiKeys[0].ApiKey: int16 18
            00 00                     # ApiKeys[0].MinVersion: int16 0
            00 04                     # ApiKeys[0].MaxVersion: int16 4
            01                        # ApiKeys[0] tagged fields: count 1
            03                        # ApiKeys[0] tag 3 (unknown)
            00                        # ApiKeys[0] tag 3 size 0
            00 00 00 00               # ThrottleTimeMs: int32 0
            03                        # body tagged fields: count 3
            01                        # tag 1 (FinalizedFeaturesEpoch)
            08                        # size 8
            00 00 00 00 00 00 00 05   # FinalizedFeaturesEpoch: int64 5
            07                        # tag 7 (unknown)
            02                        # size 2
            ca fe                     # tag 7 data
            ac 02                     # tag 300 (unknown; uvarint, two bytes)
            01                        # size 1
            ff                        # tag 300 data
            """)
        let decoded = try ApiVersionsResponse.decode(from: ByteBuffer(bytes: golden), version: 3)
        #expect(decoded.finalizedFeaturesEpoch == 5)
        #expect(decoded.unknownTaggedFields[7] == ByteBuffer(bytes: [0xCA, 0xFE]))
        #expect(decoded.unknownTaggedFields[300] == ByteBuffer(bytes: [0xFF]))
        #expect(decoded.unknownTaggedFields[1] == nil)
        #expect(decoded.apiKeys.first?.unknownTaggedFields[3] == ByteBuffer())
        #expect(self.bytes(try decoded.encoded(version: 3)) == golden)
    }

    @Test func unknownTaggedFieldOnRequestBody() throws {
        let golden = annotatedBytes("""
            08                      # GroupId length 7 (compact uvarint 7+1)
            67 72 6f 75 70 2d 31    # GroupId = "group-1"
            00 00 00 02             # GenerationId: int32 2
            02                      # MemberId length 1 (compact uvarint 1+1)
            6d                      # MemberId = "m"
            00                      # GroupInstanceId: null (compact uvarint 0)
            01                      # tagged fields: count 1
            00                      # tag 0 (unknown: Heartbeat has no tagged fields)
            03                      # size 3
            01 02 03                # tag 0 data
            """)
        let decoded = try HeartbeatRequest.decode(from: ByteBuffer(bytes: golden), version: 4)
        var expected = HeartbeatRequest(groupID: "group-1", generationID: 2, memberID: "m", groupInstanceID: nil)
        expected.unknownTaggedFields[0] = ByteBuffer(bytes: [1, 2, 3])
        #expect(decoded == expected)
        #expect(self.bytes(try decoded.encoded(version: 4)) == golden)
    }
}
