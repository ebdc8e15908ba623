import NIOCore
import Testing

@testable import SpateWire

/// Regression tests for encoder limits.
@Suite struct PrimitiveLimitTests {
    /// A classic string's length is an int16: a longer string must fail to encode, not wrap to a negative length
    /// (found by review: `Int16(truncatingIfNeeded:)` used to write 0x8000 for 32,768 bytes).
    @Test func classicStringLongerThanInt16IsRefused() throws {
        let long = String(repeating: "a", count: 32_768)
        #expect(throws: WireError.invalidLength(32_768)) {
            try HeartbeatRequest(groupID: GroupID(long)).encoded(version: 0)
        }
        // The same string is fine in a flexible (compact, varint-length) version, and round-trips.
        let flexible = try HeartbeatRequest(groupID: GroupID(long)).encoded(version: 4)
        #expect(try HeartbeatRequest.decode(from: flexible, version: 4).groupID.rawValue == long)
        // Exactly 32,767 bytes still fits a classic string.
        let edge = String(repeating: "b", count: 32_767)
        let classic = try HeartbeatRequest(groupID: GroupID(edge)).encoded(version: 0)
        #expect(classic.getInteger(at: 0, as: Int16.self) == 32_767)
        #expect(try HeartbeatRequest.decode(from: classic, version: 0).groupID.rawValue == edge)
    }

    @Test func clientIDLongerThanInt16IsRefused() {
        let header = RequestHeader(
            apiKey: .heartbeat, apiVersion: 4, correlationID: 1, clientID: String(repeating: "c", count: 40_000))
        var buffer = ByteBuffer()
        #expect(throws: WireError.invalidLength(40_000)) { try header.encode(into: &buffer) }
    }

    @Test func nonIgnorableFieldAbsentFromTheVersionIsRefused() {
        // Heartbeat's GroupInstanceId exists from v3 and is not ignorable.
        #expect(throws: WireError.unsupportedField(field: "HeartbeatRequest.GroupInstanceId", version: 2)) {
            try HeartbeatRequest(groupInstanceID: "instance-1").encoded(version: 2)
        }
        // An ignorable one (ThrottleTimeMs, v1+) is dropped silently.
        #expect(throws: Never.self) { try HeartbeatResponse(throttleTimeMs: 5).encoded(version: 0) }
    }

    @Test func nullInANonNullableVersionIsRefused() {
        // Metadata's Topics array is nullable only from v1.
        #expect(throws: WireError.nullNotAllowed(field: "MetadataRequest.Topics", version: 0)) {
            try MetadataRequest(topics: nil).encoded(version: 0)
        }
    }
}
