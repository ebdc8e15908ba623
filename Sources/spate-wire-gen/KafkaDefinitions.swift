import Foundation

/// Reads Kafka's JSON message definitions (`clients/src/main/resources/common/message/*.json`).
enum KafkaDefinitions {
    /// Entity types Kafka's definitions use, and the Swift ID types we generate for them.
    static let entityNames: [String: String] = [
        "topicName": "TopicName", "groupId": "GroupID", "brokerId": "BrokerID", "producerId": "ProducerID",
        "transactionalId": "TransactionalID",
    ]

    /// Loads `<Name>Request.json` and `<Name>Response.json` from `directory`.
    static func loadAPI(named name: String, in directory: String) throws -> APISpec {
        let request = try self.loadMessage(path: "\(directory)/\(name)Request.json")
        let response = try self.loadMessage(path: "\(directory)/\(name)Response.json")
        var api = APISpec(request: request, response: response)
        if name == "ApiVersions" { api.responseHeaderVersion = 0 }
        return api
    }

    /// Loads `<Name>.json`, a data message (a record of an internal topic), from the first of `directories` that has it.
    static func loadData(named name: String, in directories: [String]) throws -> DataSpec {
        let manager = FileManager.default
        guard let directory = directories.first(where: { manager.fileExists(atPath: "\($0)/\(name).json") }) else {
            throw GeneratorError("\(name).json is in none of \(directories.joined(separator: ", "))")
        }
        let message = try self.loadMessage(path: "\(directory)/\(name).json")
        guard message.kind == .data else { throw GeneratorError("\(directory)/\(name).json: not a data message") }
        return DataSpec(message: message)
    }

    static func loadMessage(path: String) throws -> MessageSpec {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw GeneratorError("cannot read \(path)") }
        // The files carry `//` line comments, which JSON does not allow.
        let json = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
            .joined(separator: "\n")
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let name = object["name"] as? String, let typeName = object["type"] as? String,
            let kind = MessageSpec.Kind(rawValue: typeName),
            let apiKey = kind == .data ? -1 : object["apiKey"] as? Int,
            let valid = (object["validVersions"] as? String).flatMap(Versions.init(parsing:)),
            let flexible = (object["flexibleVersions"] as? String).flatMap(Versions.init(parsing:)),
            let fields = object["fields"] as? [[String: Any]]
        else { throw GeneratorError("\(path): not a message definition") }
        let suffix = kind == .request ? "Request" : kind == .response ? "Response" : ""
        let commons = try (object["commonStructs"] as? [[String: Any]] ?? []).map { json in
            guard let name = json["name"] as? String,
                let versions = (json["versions"] as? String).flatMap(Versions.init(parsing:)),
                let fields = json["fields"] as? [[String: Any]]
            else { throw GeneratorError("\(path): bad common struct") }
            return CommonStruct(name: name, versions: versions, fields: try fields.map { try self.field($0, path) })
        }
        return MessageSpec(
            kind: kind,
            apiName: String(name.dropLast(suffix.count)),
            apiKey: apiKey,
            validVersions: valid,
            flexibleVersions: flexible,
            fields: try fields.map { try self.field($0, path) },
            commonStructs: commons
        )
    }

    private static func field(_ json: [String: Any], _ path: String) throws -> Field {
        guard let name = json["name"] as? String, let type = json["type"] as? String,
            let versions = (json["versions"] as? String).flatMap(Versions.init(parsing:))
        else { throw GeneratorError("\(path): bad field \(json)") }
        var field = Field(name: name, type: FieldType(kafka: type), versions: versions)
        if let nullable = json["nullableVersions"] as? String {
            field.nullableVersions = Versions(parsing: nullable) ?? .none
        }
        if let tagged = json["taggedVersions"] as? String { field.taggedVersions = Versions(parsing: tagged) ?? .none }
        field.tag = json["tag"] as? Int
        if let value = json["default"] {
            field.defaultValue = value is NSNull ? "null" : value as? String ?? "\(value)"
        }
        field.ignorable = json["ignorable"] as? Bool ?? false
        field.entityType = (json["entityType"] as? String).map { self.entityNames[$0] ?? $0 }
        field.mapKey = json["mapKey"] as? Bool ?? false
        field.about = (json["about"] as? String ?? "").replacingOccurrences(of: "\n", with: " ")
        if field.type == .int16, name.hasSuffix("ErrorCode") { field.typeOverride = "ErrorCode" }
        field.fields = try (json["fields"] as? [[String: Any]] ?? []).map { try self.field($0, path) }
        return field
    }
}
