import Foundation

/// Our compact schema format: one file per API, fields in wire order, two spaces of indent per nesting level.
///
/// ```
/// # upstream: HeartbeatRequest.json, HeartbeatResponse.json
/// request Heartbeat key=12 versions=0-4 flexible=4+
///   GroupId          string    v0+  entity=GroupID            # The group id.
///   GroupInstanceId  string?   v3+  default=null ignorable    # `?`: nullable in every version it exists in
/// response Heartbeat versions=0-4 flexible=4+
///   ErrorCode        int16     v0+  type=ErrorCode            # The error code, or 0 if there was no error.
/// struct Cursor v0+                                           # a struct shared by several fields of the message above
/// ```
/// Field attributes: `nullable=V` (when nullable in fewer versions than it exists), `tag=N`, `tagged=V` (when tagged in
/// fewer versions than it exists), `default=X`, `ignorable`, `mapKey`, `entity=T`, `type=T`. Message attributes:
/// `key=N`, `versions=V`, `flexible=V`, and on a response `header=0` (a fixed response-header version).
///
/// `Schemas/Records/Name.schema` holds one `data` message instead (a record key or value of an internal topic, Kafka's
/// `"type": "data"`): `data OffsetCommitKey versions=0-1 flexible=none`, then its fields and structs as above.
enum SchemaFormat {
    // MARK: Parsing

    static func parse(_ text: String, file: String) throws -> APISpec {
        let (messages, headerVersion) = try self.parseMessages(text, file: file)
        guard messages.count == 2, messages[0].kind == .request, messages[1].kind == .response else {
            throw GeneratorError("\(file): needs a request and a response")
        }
        return APISpec(
            request: messages[0], response: messages[1], responseHeaderVersion: headerVersion, sourceFile: file)
    }

    /// Parses a schema of `Schemas/Records/`: one `data` message (with its `struct`s).
    static func parseData(_ text: String, file: String) throws -> DataSpec {
        let (messages, _) = try self.parseMessages(text, file: file)
        guard messages.count == 1, let message = messages.first, message.kind == .data else {
            throw GeneratorError("\(file): needs exactly one data message")
        }
        return DataSpec(message: message, sourceFile: file)
    }

    private static func parseMessages(_ text: String, file: String) throws -> ([MessageSpec], Int?) {
        var messages: [MessageSpec] = []
        var request: MessageSpec?
        var headerVersion: Int?
        // The message being read, and where its current field list lives (a path of indices into nested fields).
        var current: MessageSpec?
        var inCommon = false
        var stack: [Int] = []  // indentation depth → index path

        func finish() throws {
            guard let message = current else { return }
            if message.kind == .request { request = message }
            messages.append(message)
            current = nil
        }

        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let location = "\(file):\(number + 1)"
            var line = String(rawLine)
            var about = ""
            if let hash = line.range(of: " # ") ?? (line.hasPrefix("#") ? line.range(of: "#") : nil) {
                about = String(line[hash.upperBound...]).trimmingCharacters(in: .whitespaces)
                line = String(line[..<hash.lowerBound])
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indent = line.prefix(while: { $0 == " " }).count
            var tokens = line.split(separator: " ").map(String.init)
            if indent == 0 {
                let keyword = tokens.removeFirst()
                let attributes = try self.attributes(tokens.dropFirst(), location)
                switch keyword {
                case "request", "response", "data":
                    try finish()
                    guard let name = tokens.first else { throw GeneratorError("\(location): missing name") }
                    let kind = MessageSpec.Kind(rawValue: keyword)!
                    let key = kind == .data ? -1 : attributes["key"].flatMap { Int($0) } ?? request?.apiKey
                    guard let key else { throw GeneratorError("\(location): missing key=") }
                    guard let versions = attributes["versions"].flatMap(Versions.init(parsing:)),
                        let flexible = attributes["flexible"].flatMap(Versions.init(parsing:))
                    else { throw GeneratorError("\(location): missing versions= or flexible=") }
                    if kind == .response, let header = attributes["header"] { headerVersion = Int(header) }
                    current = MessageSpec(
                        kind: kind, apiName: name, apiKey: key, validVersions: versions, flexibleVersions: flexible,
                        fields: [])
                    inCommon = false
                case "struct":
                    guard current != nil, let name = tokens.first,
                        let versions = tokens.dropFirst().first.flatMap(Versions.init(parsing:))
                    else { throw GeneratorError("\(location): `struct NAME vN+` must follow a message") }
                    current!.commonStructs.append(CommonStruct(name: name, versions: versions, fields: []))
                    inCommon = true
                default:
                    throw GeneratorError("\(location): unknown keyword \(keyword)")
                }
                stack = []
                continue
            }
            guard current != nil, indent % 2 == 0, indent / 2 - 1 <= stack.count else {
                throw GeneratorError("\(location): unexpected indentation")
            }
            let depth = indent / 2 - 1
            let field = try self.field(tokens, about: about, location)
            stack = Array(stack.prefix(depth))
            func append(_ list: inout [Field], path: ArraySlice<Int>) -> Int {
                if let first = path.first {
                    return append(&list[first].fields, path: path.dropFirst())
                }
                list.append(field)
                return list.count - 1
            }
            let index: Int
            if inCommon {
                index = append(&current!.commonStructs[current!.commonStructs.count - 1].fields, path: stack[...])
            } else {
                index = append(&current!.fields, path: stack[...])
            }
            stack.append(index)
        }
        try finish()
        return (messages, headerVersion)
    }

    private static func attributes(_ tokens: ArraySlice<String>, _ location: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for token in tokens {
            if let eq = token.firstIndex(of: "=") {
                var value = String(token[token.index(after: eq)...])
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                result[String(token[..<eq])] = value
            } else {
                result[token] = "true"
            }
        }
        return result
    }

    private static func field(_ tokens: [String], about: String, _ location: String) throws -> Field {
        guard tokens.count >= 3, let versions = Versions(parsing: tokens[2]) else {
            throw GeneratorError("\(location): a field is `Name type vN+ [attributes]`")
        }
        var typeText = tokens[1]
        let nullableEverywhere = typeText.hasSuffix("?")
        if nullableEverywhere { typeText.removeLast() }
        var field = Field(name: tokens[0], type: FieldType(schema: typeText), versions: versions)
        if nullableEverywhere { field.nullableVersions = versions }
        let attributes = try self.attributes(tokens.dropFirst(3), location)
        for (key, value) in attributes {
            switch key {
            case "nullable": field.nullableVersions = Versions(parsing: value) ?? .none
            case "tag": field.tag = Int(value)
            case "tagged": field.taggedVersions = Versions(parsing: value) ?? .none
            case "default": field.defaultValue = value
            case "ignorable": field.ignorable = true
            case "mapKey": field.mapKey = true
            case "entity": field.entityType = value
            case "type": field.typeOverride = value
            default: throw GeneratorError("\(location): unknown attribute \(key)")
            }
        }
        if field.tag != nil, attributes["tagged"] == nil { field.taggedVersions = versions }
        field.about = about
        return field
    }

    // MARK: Writing

    static func write(_ api: APISpec, upstream: String) -> String {
        var out = "# upstream: \(upstream)Request.json, \(upstream)Response.json\n"
        for message in [api.request, api.response] {
            out += self.write(message, headerVersion: api.responseHeaderVersion)
        }
        return out
    }

    /// A data message's schema (`Schemas/Records/Name.schema`).
    static func write(_ data: DataSpec, upstream: String) -> String {
        "# upstream: \(upstream).json\n" + self.write(data.message, headerVersion: nil)
    }

    private static func write(_ message: MessageSpec, headerVersion: Int?) -> String {
        var head = "\(message.kind.rawValue) \(message.apiName)"
        if message.kind == .request { head += " key=\(message.apiKey)" }
        head += " versions=\(message.validVersions) flexible=\(message.flexibleVersions)"
        if message.kind == .response, let header = headerVersion { head += " header=\(header)" }
        var out = head + "\n"
        out += self.lines(message.fields, depth: 1)
        for common in message.commonStructs {
            out += "struct \(common.name) v\(common.versions)\n"
            out += self.lines(common.fields, depth: 1)
        }
        return out
    }

    private static func lines(_ fields: [Field], depth: Int) -> String {
        var out = ""
        for field in fields {
            let indent = String(repeating: "  ", count: depth)
            var type = field.type.description
            var attributes: [String] = []
            if !field.nullableVersions.isEmpty {
                if field.nullableVersions == field.versions { type += "?" } else {
                    attributes.append("nullable=\(field.nullableVersions)")
                }
            }
            if let tag = field.tag {
                attributes.append("tag=\(tag)")
                if field.taggedVersions != field.versions { attributes.append("tagged=\(field.taggedVersions)") }
            }
            if let value = field.defaultValue {
                attributes.append("default=" + (value.isEmpty || value.contains(" ") ? "\"\(value)\"" : value))
            }
            if field.ignorable { attributes.append("ignorable") }
            if field.mapKey { attributes.append("mapKey") }
            if let entity = field.entityType { attributes.append("entity=\(entity)") }
            if let override = field.typeOverride { attributes.append("type=\(override)") }
            var line = indent + field.name.padding(toLength: max(32 - indent.count, field.name.count + 1))
            line += type.padding(toLength: max(20, type.count + 1))
            line += "v\(field.versions)".padding(toLength: 8)
            line += attributes.joined(separator: " ")
            while line.hasSuffix(" ") { line.removeLast() }
            if !field.about.isEmpty { line += "  # " + field.about }
            out += line + "\n"
            out += self.lines(field.fields, depth: depth + 1)
        }
        return out
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        self.count >= length ? self + " " : self + String(repeating: " ", count: length - self.count)
    }
}
