import Foundation

/// A version range as Kafka's message definitions write it: `3+`, `0-11`, `5`, or `none`.
struct Versions: Hashable, Sendable, CustomStringConvertible {
    var low: Int
    /// `nil` means open-ended (`3+`).
    var high: Int?

    static let none = Versions(low: 1, high: 0)
    static let all = Versions(low: 0, high: nil)

    var isEmpty: Bool { if let high { return high < low } else { return false } }

    func contains(_ version: Int) -> Bool {
        !self.isEmpty && version >= self.low && (self.high.map { version <= $0 } ?? true)
    }

    /// The intersection of two ranges.
    func clamped(to other: Versions) -> Versions {
        let low = max(self.low, other.low)
        let high: Int? =
            switch (self.high, other.high) {
            case (nil, nil): nil
            case (let a?, nil): a
            case (nil, let b?): b
            case (let a?, let b?): min(a, b)
            }
        let result = Versions(low: low, high: high)
        return result.isEmpty ? .none : result
    }

    /// Whether every version of `self` that is also in `within` lies in `other` and vice versa.
    func sameWithin(_ within: Versions, as other: Versions) -> Bool {
        self.clamped(to: within) == other.clamped(to: within)
    }

    var description: String {
        if self.isEmpty { return "none" }
        guard let high else { return "\(self.low)+" }
        return high == self.low ? "\(self.low)" : "\(self.low)-\(high)"
    }

    init(low: Int, high: Int?) {
        self.low = low
        self.high = high
    }

    init?(parsing text: String) {
        let text = text.trimmingPrefix("v")
        if text == "none" {
            self = .none
        } else if text.hasSuffix("+"), let low = Int(text.dropLast()) {
            self.init(low: low, high: nil)
        } else if let dash = text.firstIndex(of: "-"), let low = Int(text[..<dash]),
            let high = Int(text[text.index(after: dash)...])
        {
            self.init(low: low, high: high)
        } else if let exact = Int(text) {
            self.init(low: exact, high: exact)
        } else {
            return nil
        }
    }
}

extension StringProtocol {
    func trimmingPrefix(_ prefix: String) -> String {
        self.hasPrefix(prefix) ? String(self.dropFirst(prefix.count)) : String(self)
    }
}

/// The type of a field in a message definition.
indirect enum FieldType: Hashable, Sendable, CustomStringConvertible {
    case bool, int8, int16, uint16, int32, int64, float64, string, bytes, uuid, records
    case array(FieldType)
    case structure(String)

    static let primitives: [String: FieldType] = [
        "bool": .bool, "int8": .int8, "int16": .int16, "uint16": .uint16, "int32": .int32, "int64": .int64,
        "float64": .float64, "string": .string, "bytes": .bytes, "uuid": .uuid, "records": .records,
    ]

    /// Parses Kafka's spelling (`[]int32`, `[]FetchTopic`, `string`).
    init(kafka text: String) {
        if text.hasPrefix("[]") {
            self = .array(FieldType(kafka: String(text.dropFirst(2))))
        } else {
            self = Self.primitives[text] ?? .structure(text)
        }
    }

    /// Parses our spelling (`[int32]`, `[FetchTopic]`, `string`).
    init(schema text: String) {
        if text.hasPrefix("["), text.hasSuffix("]") {
            self = .array(FieldType(schema: String(text.dropFirst().dropLast())))
        } else {
            self = Self.primitives[text] ?? .structure(text)
        }
    }

    /// Our spelling.
    var description: String {
        switch self {
        case .array(let element): "[\(element)]"
        case .structure(let name): name
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        case .uint16: "uint16"
        case .int32: "int32"
        case .int64: "int64"
        case .float64: "float64"
        case .string: "string"
        case .bytes: "bytes"
        case .uuid: "uuid"
        case .records: "records"
        }
    }

    var structName: String? {
        switch self {
        case .structure(let name): name
        case .array(let element): element.structName
        default: nil
        }
    }

    var isArray: Bool { if case .array = self { true } else { false } }
}

/// One field of a message or struct.
struct Field: Hashable {
    var name: String
    var type: FieldType
    var versions: Versions
    var nullableVersions: Versions = .none
    var taggedVersions: Versions = .none
    var tag: Int? = nil
    var defaultValue: String? = nil
    var ignorable = false
    var entityType: String? = nil
    var mapKey = false
    /// A Swift type that replaces the plain one (`ErrorCode` for error-code fields).
    var typeOverride: String? = nil
    var about: String = ""
    /// The fields of the struct this field defines inline, if any.
    var fields: [Field] = []
}

/// A named struct shared by several fields of one message (`commonStructs`).
struct CommonStruct: Hashable {
    var name: String
    var versions: Versions
    var fields: [Field]
}

/// One request or response definition, or a `data` message (a record of an internal topic such as
/// `__consumer_offsets`, which has no API key and is not sent as a request or response).
struct MessageSpec: Hashable {
    enum Kind: String { case request, response, data }
    var kind: Kind
    /// The API's name without the `Request`/`Response` suffix; a data message's whole name.
    var apiName: String
    /// The API key; -1 for a data message.
    var apiKey: Int
    var validVersions: Versions
    var flexibleVersions: Versions
    var fields: [Field]
    var commonStructs: [CommonStruct] = []

    var typeName: String {
        switch self.kind {
        case .request: self.apiName + "Request"
        case .response: self.apiName + "Response"
        case .data: self.apiName
        }
    }
}

/// One schema file: an API's request and response.
struct APISpec: Hashable {
    var request: MessageSpec
    var response: MessageSpec
    /// Quirks: `header=0` pins the response header version (ApiVersions).
    var responseHeaderVersion: Int? = nil
    var sourceFile: String = ""
}

/// One schema file of `Schemas/Records/`: a single data message.
struct DataSpec: Hashable {
    var message: MessageSpec
    var sourceFile: String = ""
}

struct GeneratorError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
