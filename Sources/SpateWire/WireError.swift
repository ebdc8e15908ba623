/// Why a frame could not be decoded or a message could not be encoded.
///
/// Decoders throw these for any malformed input; they never trap. A broker answers an undecodable request by closing
/// the connection (or, for ApiVersions, with the KIP-511 fallback).
public enum WireError: Error, Hashable, Sendable {
    /// The input ended before the value was complete.
    case truncated
    /// A length or count was negative (other than the null marker) or larger than the bytes left.
    case invalidLength(Int)
    /// An unsigned varint ran past 5 bytes, or a varlong past 10.
    case invalidVarInt
    /// Bytes were left over after a complete message or tagged field.
    case leftoverBytes(Int)
    /// A null arrived, or was to be sent, for a field that is not nullable in this version.
    case nullNotAllowed(field: String, version: Int16)
    /// A non-default value was to be sent in a field the version does not have, and the field is not ignorable.
    case unsupportedField(field: String, version: Int16)
    /// The API key is not one this codec knows.
    case unknownAPIKey(Int16)
    /// The version is outside what this codec implements for the API.
    case unsupportedVersion(apiKey: Int16, version: Int16)
    /// A frame's size prefix is negative or larger than allowed (`socket.request.max.bytes`).
    case frameTooLarge(size: Int, limit: Int)
}
