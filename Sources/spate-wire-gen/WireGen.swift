import ArgumentParser
import Foundation

@main
struct WireGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spate-wire-gen",
        abstract: "Generates Spate's Kafka protocol codec from the schema files in Schemas/.",
        subcommands: [Generate.self, Verify.self, Import.self]
    )
}

/// Reads every `Schemas/NNN-Name.schema`, in file-name order.
func loadSchemas(_ directory: String) throws -> [APISpec] {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        .filter { $0.hasSuffix(".schema") && $0 != "ErrorCodes.schema" }
        .sorted()
    return try files.map { file in
        let path = "\(directory)/\(file)"
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) })
        else { throw GeneratorError("cannot read \(path)") }
        return try SchemaFormat.parse(text, file: "Schemas/\(file)")
    }.sorted { $0.request.apiKey < $1.request.apiKey }
}

/// Reads every `Schemas/Records/Name.schema` (data messages: records of internal topics), in file-name order.
func loadDataSchemas(_ directory: String) throws -> [DataSpec] {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        .filter { $0.hasSuffix(".schema") }
        .sorted()
    return try files.map { file in
        let path = "\(directory)/\(file)"
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) })
        else { throw GeneratorError("cannot read \(path)") }
        let data = try SchemaFormat.parseData(text, file: "Schemas/Records/\(file)")
        guard data.message.apiName + ".schema" == file else {
            throw GeneratorError("\(path): declares \(data.message.apiName); the file must be named after it")
        }
        return data
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Writes Sources/SpateWire/Generated/ from Schemas/ (one file per message, the API-key and error tables) and \
            Sources/SpateCoordinators/Generated/ from Schemas/Records/ (one file per record key or value).
            """)

    @Option(help: "The schema directory.") var schemas = "Schemas"
    @Option(help: "The output directory; every .swift file in it is replaced.") var output = "Sources/SpateWire/Generated"
    @Option(help: "The directory of data-message schemas (internal-topic records).") var recordSchemas = "Schemas/Records"
    @Option(help: "The output directory for data messages; every .swift file in it is replaced.")
    var recordOutput = "Sources/SpateCoordinators/Generated"

    func run() throws {
        let apis = try loadSchemas(self.schemas)
        let records = try loadDataSchemas(self.recordSchemas)
        let manager = FileManager.default
        for directory in [self.output, self.recordOutput] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for old in try manager.contentsOfDirectory(atPath: directory) where old.hasSuffix(".swift") {
                try manager.removeItem(atPath: "\(directory)/\(old)")
            }
        }
        for record in records {
            let text = SwiftEmitter(message: record.message, sourceFile: record.sourceFile).emitFile()
            try text.write(toFile: "\(self.recordOutput)/\(record.message.typeName).swift", atomically: true, encoding: .utf8)
        }
        print("generated \(records.count) record messages into \(self.recordOutput)")
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: "\(self.output)/\(name)", atomically: true, encoding: .utf8)
        }
        for api in apis {
            for message in [api.request, api.response] {
                try write("\(message.typeName).swift", SwiftEmitter(message: message, api: api).emitFile())
            }
        }
        try write("APIKey.swift", TableEmitter.apiKeys(apis))
        try write("AnyMessage.swift", TableEmitter.anyMessages(apis))
        let errors = try String(contentsOfFile: "\(self.schemas)/ErrorCodes.schema", encoding: .utf8)
        try write("ErrorCode.swift", try TableEmitter.errorCodes(errors))
        print("generated \(apis.count * 2) messages from \(apis.count) schemas into \(self.output)")
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Checks every field of every implemented version against Kafka's JSON message definitions in DIR, and the \
            record schemas (Schemas/Records/) against Kafka's data definitions beside it (DIR/../group-coordinator).
            """)

    @Argument(help: "A directory of Kafka's *Request.json/*Response.json definitions.") var kafkaDirectory: String
    @Option(help: "The schema directory.") var schemas = "Schemas"
    @Option(help: "The directory of data-message schemas (internal-topic records).") var recordSchemas = "Schemas/Records"
    @Option(
        name: .customLong("data-definitions"),
        help: "A directory of Kafka's data (record) definitions; repeatable. Defaults to DIR/../group-coordinator.")
    var dataDirectories: [String] = []

    func run() throws {
        let apis = try loadSchemas(self.schemas)
        var problems: [String] = []
        for api in apis {
            let kafka = try KafkaDefinitions.loadAPI(named: api.request.apiName, in: self.kafkaDirectory)
            problems += Verifier.compare(ours: api, kafka: kafka).map { "\(api.sourceFile): \($0)" }
        }
        let records = try loadDataSchemas(self.recordSchemas)
        let parent = URL(fileURLWithPath: self.kafkaDirectory).deletingLastPathComponent().path
        let dataDirectories = self.dataDirectories.isEmpty ? ["\(parent)/group-coordinator"] : self.dataDirectories
        for record in records {
            let kafka = try KafkaDefinitions.loadData(named: record.message.apiName, in: dataDirectories)
            problems += Verifier.compare(ours: record, kafka: kafka).map { "\(record.sourceFile): \($0)" }
        }
        for problem in problems { print(problem) }
        if !problems.isEmpty {
            print("\(problems.count) mismatch(es) against \(self.kafkaDirectory) and \(dataDirectories.joined(separator: ", "))")
            throw ExitCode.failure
        }
        print("verified \(apis.count) schemas (\(apis.count * 2) messages) against \(self.kafkaDirectory): no mismatches")
        print("verified \(records.count) record schemas against \(dataDirectories.joined(separator: ", ")): no mismatches")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Prints a schema in our format from Kafka's JSON definitions of one API, or of one data message (a record \
            key or value, e.g. OffsetCommitKey), to start a new schema file.
            """)

    @Argument(help: "A directory of Kafka's JSON definitions.") var kafkaDirectory: String
    @Argument(help: "The API's name, e.g. Heartbeat, or a data message's, e.g. OffsetCommitKey.") var name: String

    func run() throws {
        if FileManager.default.fileExists(atPath: "\(self.kafkaDirectory)/\(self.name).json") {
            let data = try KafkaDefinitions.loadData(named: self.name, in: [self.kafkaDirectory])
            print(SchemaFormat.write(data, upstream: self.name), terminator: "")
            return
        }
        let api = try KafkaDefinitions.loadAPI(named: self.name, in: self.kafkaDirectory)
        print(SchemaFormat.write(api, upstream: self.name), terminator: "")
    }
}
