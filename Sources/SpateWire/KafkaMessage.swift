public import NIOCore
@_exported public import SpateRecords

/// A request or response body with a generated codec.
public protocol KafkaMessage: Hashable, Sendable {
    /// The API the message belongs to.
    static var apiKey: APIKey { get }
    /// The versions the codec implements.
    static var supportedVersions: ClosedRange<Int16> { get }
    /// Reads the message at `version`, consuming its bytes from `buffer`.
    init(from buffer: inout ByteBuffer, version: Int16) throws(WireError)
    /// Writes the message at `version`.
    func encode(into buffer: inout ByteBuffer, version: Int16) throws(WireError)
}

/// A request body; `Response` is the body the broker answers with.
public protocol KafkaRequest: KafkaMessage {
    associatedtype Response: KafkaResponse
}

/// A response body.
public protocol KafkaResponse: KafkaMessage {}

extension KafkaMessage {
    /// Decodes a complete message body: the version must be supported and every byte consumed.
    /// - Throws: ``WireError/unsupportedVersion(apiKey:version:)``, ``WireError/leftoverBytes(_:)`` or a decoding error.
    public static func decode(from body: ByteBuffer, version: Int16) throws(WireError) -> Self {
        guard Self.supportedVersions.contains(version) else {
            throw .unsupportedVersion(apiKey: Self.apiKey.rawValue, version: version)
        }
        var body = body
        let message = try Self(from: &body, version: version)
        try body.expectFullyConsumed()
        return message
    }

    /// Encodes the body at `version` into a new buffer.
    public func encoded(version: Int16) throws(WireError) -> ByteBuffer {
        guard Self.supportedVersions.contains(version) else {
            throw .unsupportedVersion(apiKey: Self.apiKey.rawValue, version: version)
        }
        var buffer = ByteBuffer()
        try self.encode(into: &buffer, version: version)
        return buffer
    }
}
