public import NIOCore

/// A decoded request frame: its header and body.
public struct RequestFrame: Hashable, Sendable {
    public var header: RequestHeader
    public var body: AnyRequest

    public init(header: RequestHeader, body: AnyRequest) {
        self.header = header
        self.body = body
    }

    /// Decodes a whole frame (without its size prefix): the header, then the body, which must use every byte.
    public init(decoding frame: ByteBuffer) throws(WireError) {
        var frame = frame
        let header = try RequestHeader(from: &frame)
        let body = try AnyRequest.decode(apiKey: header.apiKey, version: header.apiVersion, from: frame)
        self.init(header: header, body: body)
    }

    /// Encodes the frame with its size prefix.
    public func encode(into buffer: inout ByteBuffer) throws(WireError) {
        try FrameSplitter.writeFrame(into: &buffer) { (buffer) throws(WireError) in
            try self.header.encode(into: &buffer)
            try self.body.encode(into: &buffer, version: self.header.apiVersion)
        }
    }
}

extension KafkaRequest {
    /// Encodes a complete request frame (size prefix, header, body) at `version`.
    public func encodeFrame(
        into buffer: inout ByteBuffer, version: Int16, correlationID: Int32, clientID: String?
    ) throws(WireError) {
        guard Self.supportedVersions.contains(version) else {
            throw .unsupportedVersion(apiKey: Self.apiKey.rawValue, version: version)
        }
        let header = RequestHeader(apiKey: Self.apiKey, apiVersion: version, correlationID: correlationID, clientID: clientID)
        try FrameSplitter.writeFrame(into: &buffer) { (buffer) throws(WireError) in
            try header.encode(into: &buffer)
            try self.encode(into: &buffer, version: version)
        }
    }
}

extension KafkaResponse {
    /// Encodes a complete response frame (size prefix, header in the right version, body) at `version`.
    public func encodeFrame(into buffer: inout ByteBuffer, version: Int16, correlationID: Int32) throws(WireError) {
        try FrameSplitter.writeFrame(into: &buffer) { (buffer) throws(WireError) in
            ResponseHeader(correlationID: correlationID)
                .encode(into: &buffer, headerVersion: Self.apiKey.responseHeaderVersion(for: version))
            try self.encode(into: &buffer, version: version)
        }
    }

    /// Decodes a response frame (without its size prefix) at `version`; the body must use every byte.
    public static func decodeFrame(_ frame: ByteBuffer, version: Int16) throws(WireError) -> (correlationID: Int32, body: Self) {
        var frame = frame
        let header = try ResponseHeader(from: &frame, headerVersion: Self.apiKey.responseHeaderVersion(for: version))
        return (header.correlationID, try Self.decode(from: frame, version: version))
    }
}

extension ApiVersionsResponse {
    /// The answer to an ApiVersions request whose version the broker does not support (KIP-511): error
    /// `UNSUPPORTED_VERSION`, encoded as **v0**, with `apiKeys` filled in so that the client can pick a version.
    public static func unsupportedVersionFallback(apiKeys: [ApiVersion]) -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: .unsupportedVersion, apiKeys: apiKeys)
    }
}
