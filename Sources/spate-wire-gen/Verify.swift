import Foundation

/// Compares our schemas with Kafka's definitions, field by field, over the versions we implement.
enum Verifier {
    static func compare(ours: APISpec, kafka: APISpec) -> [String] {
        self.compare(ours.request, kafka.request) + self.compare(ours.response, kafka.response)
    }

    /// Compares a data message (a record key or value of an internal topic) with Kafka's definition.
    static func compare(ours: DataSpec, kafka: DataSpec) -> [String] {
        self.compare(ours.message, kafka.message)
    }

    static func compare(_ mine: MessageSpec, _ theirs: MessageSpec) -> [String] {
        var problems: [String] = []
        let name = mine.typeName
        if mine.kind != theirs.kind {
            problems.append("\(name): kind \(mine.kind.rawValue) ≠ Kafka's \(theirs.kind.rawValue)")
        }
        if mine.typeName != theirs.typeName {
            problems.append("\(name): name ≠ Kafka's \(theirs.typeName)")
        }
        if mine.apiKey != theirs.apiKey { problems.append("\(name): key \(mine.apiKey) ≠ Kafka's \(theirs.apiKey)") }
        if mine.validVersions.clamped(to: theirs.validVersions) != mine.validVersions {
            problems.append("\(name): versions \(mine.validVersions) exceed Kafka's \(theirs.validVersions)")
        }
        let scope = mine.validVersions
        if !mine.flexibleVersions.sameWithin(scope, as: theirs.flexibleVersions) {
            problems.append("\(name): flexible \(mine.flexibleVersions) ≠ Kafka's \(theirs.flexibleVersions)")
        }
        problems += self.compare(mine.fields, theirs.fields, scope: scope, path: name)
        let theirCommons = Dictionary(theirs.commonStructs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for common in mine.commonStructs {
            guard let other = theirCommons[common.name] else {
                problems.append("\(name).\(common.name): no such common struct in Kafka's definition")
                continue
            }
            problems += self.compare(common.fields, other.fields, scope: scope, path: "\(name).\(common.name)")
        }
        let mineCommons = Set(mine.commonStructs.map(\.name))
        for common in theirs.commonStructs where !mineCommons.contains(common.name) {
            problems.append("\(name): common struct \(common.name) missing")
        }
        return problems
    }

    private static func compare(_ mine: [Field], _ theirs: [Field], scope: Versions, path: String) -> [String] {
        // Only fields that exist in at least one version we implement are on the wire for us.
        let a = mine.filter { !$0.versions.clamped(to: scope).isEmpty }
        let b = theirs.filter { !$0.versions.clamped(to: scope).isEmpty }
        var problems: [String] = []
        if a.map(\.name) != b.map(\.name) {
            problems.append("\(path): fields [\(a.map(\.name).joined(separator: ", "))] ≠ Kafka's [\(b.map(\.name).joined(separator: ", "))]")
            return problems
        }
        for (x, y) in zip(a, b) {
            let at = "\(path).\(x.name)"
            let live = x.versions.clamped(to: scope)
            if x.type != y.type { problems.append("\(at): type \(x.type) ≠ Kafka's \(y.type)") }
            if !x.versions.sameWithin(scope, as: y.versions) {
                problems.append("\(at): versions \(x.versions) ≠ Kafka's \(y.versions)")
            }
            if !x.nullableVersions.sameWithin(live, as: y.nullableVersions) {
                problems.append("\(at): nullable \(x.nullableVersions) ≠ Kafka's \(y.nullableVersions)")
            }
            if x.tag != y.tag { problems.append("\(at): tag \(x.tag.map(String.init) ?? "none") ≠ Kafka's \(y.tag.map(String.init) ?? "none")") }
            if !x.taggedVersions.sameWithin(live, as: y.taggedVersions) {
                problems.append("\(at): tagged \(x.taggedVersions) ≠ Kafka's \(y.taggedVersions)")
            }
            if self.normalizedDefault(x.defaultValue) != self.normalizedDefault(y.defaultValue) {
                problems.append("\(at): default \(x.defaultValue ?? "none") ≠ Kafka's \(y.defaultValue ?? "none")")
            }
            if x.ignorable != y.ignorable { problems.append("\(at): ignorable \(x.ignorable) ≠ Kafka's \(y.ignorable)") }
            if x.entityType != y.entityType {
                problems.append("\(at): entity \(x.entityType ?? "none") ≠ Kafka's \(y.entityType ?? "none")")
            }
            problems += self.compare(x.fields, y.fields, scope: live, path: at)
        }
        return problems
    }

    private static func normalizedDefault(_ value: String?) -> String? {
        guard let value else { return nil }
        if value.hasPrefix("0x"), let number = Int(value.dropFirst(2), radix: 16) { return String(number) }
        return value
    }
}
