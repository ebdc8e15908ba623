import Foundation
import Testing

@testable import spate_wire_gen

@Suite struct GeneratorTests {
    static let schemasDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas").path
    static let kafkaDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/kafka-protocol/client").path

    @Test func versionRanges() {
        #expect(Versions(parsing: "3+") == Versions(low: 3, high: nil))
        #expect(Versions(parsing: "0-11") == Versions(low: 0, high: 11))
        #expect(Versions(parsing: "v5") == Versions(low: 5, high: 5))
        #expect(Versions(parsing: "none")!.isEmpty)
        #expect(Versions(parsing: "3+")!.clamped(to: Versions(low: 0, high: 4)) == Versions(low: 3, high: 4))
        #expect(Versions(parsing: "0-2")!.clamped(to: Versions(low: 4, high: nil)).isEmpty)
    }

    @Test func swiftNamesKeepAcronymsInOneCase() {
        func name(_ kafka: String) -> String {
            SwiftEmitter.propertyName(Field(name: kafka, type: .int32, versions: .all))
        }
        #expect(name("GroupId") == "groupID")
        #expect(name("TopicIds") == "topicIDs")
        #expect(name("ThrottleTimeMs") == "throttleTimeMs")
        #expect(name("IsolationLevel") == "isolationLevel")
        #expect(name("Identifier") == "identifier")
        #expect(name("Protocol") == "`protocol`")
        #expect(SwiftEmitter.caseName("InitProducerId") == "initProducerID")
    }

    @Test func everySchemaSurvivesWriteAndParse() throws {
        for api in try loadSchemas(Self.schemasDirectory) {
            let text = SchemaFormat.write(api, upstream: api.request.apiName)
            var reparsed = try SchemaFormat.parse(text, file: api.sourceFile)
            reparsed.sourceFile = api.sourceFile
            #expect(reparsed == api, "\(api.sourceFile)")
        }
    }

    @Test func versionConditionsAreMinimal() {
        let scope = Versions(low: 0, high: 11)
        #expect(SwiftEmitter.condition(Versions(low: 0, high: nil), scope: scope) == nil)
        #expect(SwiftEmitter.condition(Versions(low: 3, high: nil), scope: scope) == "version >= 3")
        #expect(SwiftEmitter.condition(Versions(low: 0, high: 8), scope: scope) == "version <= 8")
        #expect(SwiftEmitter.condition(Versions(low: 3, high: 8), scope: scope) == "(3...8).contains(version)")
        #expect(SwiftEmitter.condition(Versions(low: 12, high: nil), scope: scope) == "false")
    }

    /// `verify` must report every kind of drift between a schema and Kafka's definition.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: Self.kafkaDirectory)))
    func verifyReportsEachKindOfMismatch() throws {
        let kafka = try KafkaDefinitions.loadAPI(named: "Fetch", in: Self.kafkaDirectory)
        let ours = try loadSchemas(Self.schemasDirectory).first { $0.request.apiName == "Fetch" }!
        #expect(Verifier.compare(ours: ours, kafka: kafka).isEmpty)

        func mutated(_ change: (inout Field) -> Void) -> APISpec {
            var copy = ours
            let index = copy.request.fields.firstIndex { $0.name == "MaxBytes" }!  // int32 v3+ default=0x7fffffff ignorable
            change(&copy.request.fields[index])
            return copy
        }
        let cases: [(String, APISpec)] = [
            ("type", mutated { $0.type = .int64 }),
            ("versions", mutated { $0.versions = Versions(low: 4, high: nil) }),
            ("nullable", mutated { $0.nullableVersions = Versions(low: 3, high: nil) }),
            ("default", mutated { $0.defaultValue = "1" }),
            ("ignorable", mutated { $0.ignorable = false }),
            ("tag", mutated { $0.tag = 7 }),
        ]
        for (kind, spec) in cases {
            let problems = Verifier.compare(ours: spec, kafka: kafka)
            #expect(problems.count == 1 && problems[0].contains("MaxBytes") && problems[0].contains(kind), "\(kind): \(problems)")
        }
        var renamed = ours
        renamed.request.fields.removeAll { $0.name == "MaxBytes" }
        #expect(Verifier.compare(ours: renamed, kafka: kafka).contains { $0.contains("fields [") })
        var wider = ours
        wider.request.validVersions = Versions(low: 0, high: 99)
        #expect(Verifier.compare(ours: wider, kafka: kafka).contains { $0.contains("exceed") })
    }
}
