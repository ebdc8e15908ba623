import Foundation

/// Emits the API-key table, the request/response sum types and the error-code table.
enum TableEmitter {
    static func apiKeys(_ apis: [APISpec]) -> String {
        var out = SwiftEmitter.fileHeader("Schemas/*.schema") + "\n"
        out += """
            /// A Kafka API key. An open set: a peer may send keys this table does not know.
            public struct APIKey: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
                public var rawValue: Int16

                public init(rawValue: Int16) {
                    self.rawValue = rawValue
                }


            """
        for api in apis {
            out += "    /// \(api.request.apiName) (key \(api.request.apiKey)).\n"
            out += "    public static let \(SwiftEmitter.caseName(api.request.apiName)) = APIKey(rawValue: \(api.request.apiKey))\n"
        }
        out += "\n    /// Every API key the codec knows, in key order.\n"
        out += "    public static let allKnown: [APIKey] = [\n"
        out += apis.map { "        .\(SwiftEmitter.caseName($0.request.apiName)),\n" }.joined()
        out += "    ]\n\n"
        out += "    /// Kafka's name for the API, or `Unknown(N)`.\n"
        out += "    public var name: String {\n        switch self.rawValue {\n"
        for api in apis { out += "        case \(api.request.apiKey): \"\(api.request.apiName)\"\n" }
        out += "        default: \"Unknown(\\(self.rawValue))\"\n        }\n    }\n\n"
        out += "    public var description: String { self.name }\n\n"
        out += "    /// The versions the codec can encode and decode, or nil for an unknown key.\n"
        out += "    public var codecVersions: ClosedRange<Int16>? {\n        switch self.rawValue {\n"
        for api in apis {
            let v = api.request.validVersions
            out += "        case \(api.request.apiKey): \(v.low)...\(v.high ?? v.low)\n"
        }
        out += "        default: nil\n        }\n    }\n\n"
        out += "    /// The first flexible (KIP-482) version, or nil if the API has none.\n"
        out += "    public var firstFlexibleVersion: Int16? {\n        switch self.rawValue {\n"
        for api in apis where !api.request.flexibleVersions.isEmpty {
            out += "        case \(api.request.apiKey): \(api.request.flexibleVersions.low)\n"
        }
        out += "        default: nil\n        }\n    }\n\n"
        let fixed = apis.filter { $0.responseHeaderVersion != nil }
        out += """
                /// Whether `version` of this API uses flexible encodings and tagged fields.
                public func isFlexible(version: Int16) -> Bool {
                    guard let first = self.firstFlexibleVersion else { return false }
                    return version >= first
                }

                /// The request header version for `version`: 2 when the body is flexible, else 1.
                public func requestHeaderVersion(for version: Int16) -> Int16 {
                    self.isFlexible(version: version) ? 2 : 1
                }

                /// The response header version for `version`: 1 when the body is flexible, else 0 — except APIs whose
                /// response header never changes (ApiVersions: "The length of the header must not change").
                public func responseHeaderVersion(for version: Int16) -> Int16 {
                    switch self.rawValue {

            """
        for api in fixed { out += "        case \(api.request.apiKey): \(api.responseHeaderVersion!)\n" }
        out += """
                    default: self.isFlexible(version: version) ? 1 : 0
                    }
                }
            }

            """
        return out
    }

    static func anyMessages(_ apis: [APISpec]) -> String {
        var out = SwiftEmitter.fileHeader("Schemas/*.schema") + "\n"
        out += "public import NIOCore\n\n"
        for kind in ["Request", "Response"] {
            out += "/// Any \(kind.lowercased()) the codec knows, decoded by API key and version.\n"
            out += "public enum Any\(kind): Hashable, Sendable {\n"
            for api in apis {
                out += "    case \(SwiftEmitter.caseName(api.request.apiName))(\(api.request.apiName)\(kind))\n"
            }
            out += "\n    /// The API key of the message.\n    public var apiKey: APIKey {\n        switch self {\n"
            for api in apis {
                let c = SwiftEmitter.caseName(api.request.apiName)
                out += "        case .\(c): .\(c)\n"
            }
            out += "        }\n    }\n\n"
            out += """
                    /// Decodes a message body of `apiKey` at `version`; the body must be consumed exactly.
                    /// - Throws: ``WireError`` for an unknown key, an unsupported version, malformed or leftover bytes.
                    public static func decode(apiKey: APIKey, version: Int16, from body: ByteBuffer) throws(WireError) -> Any\(kind) {
                        switch apiKey.rawValue {

                """
            for api in apis {
                let c = SwiftEmitter.caseName(api.request.apiName)
                out += "        case \(api.request.apiKey): .\(c)(try \(api.request.apiName)\(kind).decode(from: body, version: version))\n"
            }
            out += "        default: throw WireError.unknownAPIKey(apiKey.rawValue)\n        }\n    }\n\n"
            out += "    /// The message of `apiKey` with every field at its default, or nil for an unknown key.\n"
            out += "    public static func empty(apiKey: APIKey) -> Any\(kind)? {\n        switch apiKey.rawValue {\n"
            for api in apis {
                let c = SwiftEmitter.caseName(api.request.apiName)
                out += "        case \(api.request.apiKey): .\(c)(\(api.request.apiName)\(kind)())\n"
            }
            out += "        default: nil\n        }\n    }\n\n"
            out += "    /// Encodes the message body at `version`.\n"
            out += "    public func encode(into buffer: inout ByteBuffer, version: Int16) throws(WireError) {\n        switch self {\n"
            for api in apis {
                let c = SwiftEmitter.caseName(api.request.apiName)
                out += "        case .\(c)(let message): try message.encode(into: &buffer, version: version)\n"
            }
            out += "        }\n    }\n}\n\n"
        }
        return out
    }

    static func errorCodes(_ text: String) throws -> String {
        var out = SwiftEmitter.fileHeader("Schemas/ErrorCodes.schema") + "\n"
        var rows: [(code: Int, name: String, retriable: Bool, message: String)] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
            guard parts.count == 4, let code = Int(parts[0]) else { throw GeneratorError("ErrorCodes.schema: bad line \(line)") }
            rows.append((code, String(parts[1]), parts[2] == "R", String(parts[3]).trimmingCharacters(in: .whitespaces)))
        }
        func camel(_ name: String) -> String {
            let words = name.lowercased().split(separator: "_")
            var result = String(words[0])
            for word in words.dropFirst() {
                result += word == "id" ? "ID" : word.prefix(1).uppercased() + word.dropFirst()
            }
            return result
        }
        out += """
            /// A Kafka error code. An open set: newer brokers send codes this table does not know.
            public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
                public var rawValue: Int16

                public init(rawValue: Int16) {
                    self.rawValue = rawValue
                }


            """
        for row in rows {
            out += "    /// \(row.code) \(row.name)\(row.retriable ? " (retriable)" : ""): \(row.message)\n"
            out += "    public static let \(camel(row.name)) = ErrorCode(rawValue: \(row.code))\n"
        }
        out += "\n    /// Kafka's name for the code (`UNKNOWN_TOPIC_OR_PARTITION`), or `UNKNOWN_ERROR_CODE(N)`.\n"
        out += "    public var name: String {\n        switch self.rawValue {\n"
        for row in rows { out += "        case \(row.code): \"\(row.name)\"\n" }
        out += "        default: \"UNKNOWN_ERROR_CODE(\\(self.rawValue))\"\n        }\n    }\n\n"
        out += "    /// Whether a client may retry the request that failed with this code.\n"
        out += "    public var isRetriable: Bool {\n        switch self.rawValue {\n"
        out += "        case " + rows.filter(\.retriable).map { String($0.code) }.joined(separator: ", ") + ": true\n"
        out += "        default: false\n        }\n    }\n\n"
        out += "    /// Kafka's description of the code.\n"
        out += "    public var message: String {\n        switch self.rawValue {\n"
        for row in rows {
            out += "        case \(row.code): \"\(row.message.replacingOccurrences(of: "\"", with: "\\\""))\"\n"
        }
        out += "        default: \"An error code this version of Spate does not know.\"\n        }\n    }\n\n"
        out += "    public var description: String { self.name }\n}\n"
        return out
    }
}
