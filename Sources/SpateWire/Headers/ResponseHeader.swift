public import NIOCore

/// The header in front of every response body: v0 is the correlation ID; v1 adds a tagged-field section.
///
/// v1 is used exactly when the body version is flexible, except for ApiVersions, whose response header is always v0
/// so that a client can read it before it knows which versions the broker speaks (`ApiVersionsResponse.json`).
public struct ResponseHeader: Hashable, Sendable {
    public var correlationID: Int32
    public var taggedFields: TaggedFields

    public init(correlationID: Int32, taggedFields: TaggedFields = TaggedFields()) {
        self.correlationID = correlationID
        self.taggedFields = taggedFields
    }

    /// Reads a response header of `headerVersion` (see ``APIKey/responseHeaderVersion(for:)``).
    public init(from buffer: inout ByteBuffer, headerVersion: Int16) throws(WireError) {
        self.correlationID = try buffer.readKafkaInteger(as: Int32.self)
        self.taggedFields = TaggedFields()
        if headerVersion >= 1 {
            let count = try buffer.readTaggedFieldCount()
            for _ in 0..<count {
                let (tag, data) = try buffer.readTaggedField()
                self.taggedFields[tag] = data
            }
        }
    }

    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeInteger(self.correlationID)
        if headerVersion >= 1 {
            TaggedFieldsWriter(unknown: self.taggedFields).write(into: &buffer)
        }
    }
}
