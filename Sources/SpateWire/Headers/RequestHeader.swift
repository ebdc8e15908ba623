public import NIOCore

/// The header in front of every request body.
///
/// v1 is `apiKey int16, apiVersion int16, correlationID int32, clientID nullable string` with a **classic** string;
/// v2 adds a tagged-field section and keeps `clientID` classic (`RequestHeader.json`: `"flexibleVersions": "none"` for
/// that field). v0 (no client ID) is used only by ControlledShutdown v0, which Spate does not serve.
public struct RequestHeader: Hashable, Sendable {
    public var apiKey: APIKey
    public var apiVersion: Int16
    public var correlationID: Int32
    public var clientID: String?
    /// Tagged fields of a v2 header, kept as received.
    public var taggedFields: TaggedFields

    public init(
        apiKey: APIKey,
        apiVersion: Int16,
        correlationID: Int32,
        clientID: String? = nil,
        taggedFields: TaggedFields = TaggedFields()
    ) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.clientID = clientID
        self.taggedFields = taggedFields
    }

    /// The header version this request uses: 2 for a flexible body version, else 1.
    public var headerVersion: Int16 { self.apiKey.requestHeaderVersion(for: self.apiVersion) }

    /// Reads the fixed prefix that every header version shares: key, version and correlation ID.
    /// A broker uses this to answer even when it cannot decode the rest (KIP-511).
    public static func peek(_ frame: ByteBuffer) -> (apiKey: APIKey, apiVersion: Int16, correlationID: Int32)? {
        guard let (key, version, correlation) = frame.getMultipleIntegers(
            at: frame.readerIndex, endianness: .big, as: (Int16, Int16, Int32).self)
        else { return nil }
        return (APIKey(rawValue: key), version, correlation)
    }

    /// Reads a request header from the start of a frame, leaving `buffer` at the body.
    ///
    /// The header version follows from the API key and version; for an API key the codec does not know, v1 is
    /// assumed (the client ID is then still readable for logging).
    public init(from buffer: inout ByteBuffer) throws(WireError) {
        let key = APIKey(rawValue: try buffer.readKafkaInteger(as: Int16.self))
        let version = try buffer.readKafkaInteger(as: Int16.self)
        let correlation = try buffer.readKafkaInteger(as: Int32.self)
        let clientID = try buffer.readNullableKafkaString(compact: false)
        var tagged = TaggedFields()
        if key.requestHeaderVersion(for: version) >= 2 {
            let count = try buffer.readTaggedFieldCount()
            for _ in 0..<count {
                let (tag, data) = try buffer.readTaggedField()
                tagged[tag] = data
            }
        }
        self.init(apiKey: key, apiVersion: version, correlationID: correlation, clientID: clientID, taggedFields: tagged)
    }

    /// Writes the header in the version its API and version call for.
    /// - Throws: ``WireError/invalidLength(_:)`` for a client ID longer than 32,767 bytes.
    public func encode(into buffer: inout ByteBuffer) throws(WireError) {
        buffer.writeInteger(self.apiKey.rawValue)
        buffer.writeInteger(self.apiVersion)
        buffer.writeInteger(self.correlationID)
        if let clientID = self.clientID {
            try buffer.writeKafkaString(clientID, compact: false)
        } else {
            buffer.writeNullKafkaString(compact: false)
        }
        if self.headerVersion >= 2 {
            TaggedFieldsWriter(unknown: self.taggedFields).write(into: &buffer)
        }
    }
}
