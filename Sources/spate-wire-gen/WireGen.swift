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

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Writes Sources/SpateWire/Generated/ from Schemas/ (one file per message, the API-key and error tables).")

    @Option(help: "The schema directory.") var schemas = "Schemas"
    @Option(help: "The output directory; every .swift file in it is replaced.") var output = "Sources/SpateWire/Generated"

    func run() throws {
        let apis = try loadSchemas(self.schemas)
        let manager = FileManager.default
        try manager.createDirectory(atPath: self.output, withIntermediateDirectories: true)
        for old in try manager.contentsOfDirectory(atPath: self.output) where old.hasSuffix(".swift") {
            try manager.removeItem(atPath: "\(self.output)/\(old)")
        }
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
        abstract: "Checks every field of every implemented version against Kafka's JSON message definitions in DIR.")

    @Argument(help: "A directory of Kafka's *Request.json/*Response.json definitions.") var kafkaDirectory: String
    @Option(help: "The schema directory.") var schemas = "Schemas"

    func run() throws {
        let apis = try loadSchemas(self.schemas)
        var problems: [String] = []
        for api in apis {
            let kafka = try KafkaDefinitions.loadAPI(named: api.request.apiName, in: self.kafkaDirectory)
            problems += Verifier.compare(ours: api, kafka: kafka).map { "\(api.sourceFile): \($0)" }
        }
        for problem in problems { print(problem) }
        if !problems.isEmpty {
            print("\(problems.count) mismatch(es) against \(self.kafkaDirectory)")
            throw ExitCode.failure
        }
        print("verified \(apis.count) schemas (\(apis.count * 2) messages) against \(self.kafkaDirectory): no mismatches")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prints a schema in our format from Kafka's JSON definitions of one API (to start a new schema file).")

    @Argument(help: "A directory of Kafka's JSON definitions.") var kafkaDirectory: String
    @Argument(help: "The API's name, e.g. Heartbeat.") var name: String

    func run() throws {
        let api = try KafkaDefinitions.loadAPI(named: self.name, in: self.kafkaDirectory)
        print(SchemaFormat.write(api, upstream: self.name), terminator: "")
    }
}
