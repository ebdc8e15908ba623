import NIOConcurrencyHelpers
import NIOCore
import SpateStorage
public import SpateWire

/// A topic as the broker knows it.
public struct TopicMetadata: Sendable, Hashable {
    public var name: String
    public var id: KafkaUUID
    public var partitionCount: Int32
    /// Topic-level overrides (`retention.ms=…`), by Kafka's names.
    public var configs: [String: String]
    /// Kafka's internal topics: written only by coordinators, never deleted.
    public var isInternal: Bool { Self.internalNames.contains(self.name) }
    public static let internalNames: Set<String> = ["__consumer_offsets", "__transaction_state"]
}

/// The topics of this broker: names, IDs, partition counts and config overrides, persisted in the data directory
/// (`topic-metadata`, replaced atomically on every change) so that they survive restarts.
public final class TopicStore: Sendable {
    static let fileName = "topic-metadata"

    private let path: String
    private let fileSystem: any StorageFileSystem
    private let state: NIOLockedValueBox<[String: TopicMetadata]>

    private init(path: String, fileSystem: any StorageFileSystem, topics: [String: TopicMetadata]) {
        self.path = path
        self.fileSystem = fileSystem
        self.state = NIOLockedValueBox(topics)
    }

    /// Loads the store from `dataDirectory` (empty if there is none yet).
    static func load(dataDirectory: String, fileSystem: any StorageFileSystem) throws -> TopicStore {
        let path = dataDirectory + "/" + Self.fileName
        var topics: [String: TopicMetadata] = [:]
        if let buffer = try fileSystem.readWholeFile(path) {
            for (number, line) in String(buffer: buffer).split(separator: "\n").enumerated() {
                let parts = line.split(separator: " ").map(String.init)
                switch parts.first {
                case "version" where parts.count == 2 && parts[1] == "1":
                    continue
                case "topic" where parts.count == 4:
                    guard let id = KafkaUUID(parts[2]), let count = Int32(parts[3]) else { fallthrough }
                    topics[parts[1]] = TopicMetadata(name: parts[1], id: id, partitionCount: count, configs: [:])
                case "config" where parts.count == 4 && topics[parts[1]] != nil:
                    topics[parts[1]]!.configs[parts[2]] = Self.unescape(parts[3])
                default:
                    throw StorageError(.corrupt, "\(path):\(number + 1): unreadable line")
                }
            }
        }
        return TopicStore(path: path, fileSystem: fileSystem, topics: topics)
    }

    public var all: [TopicMetadata] { self.state.withLockedValue { $0.values.sorted { $0.name < $1.name } } }

    public func topic(named name: String) -> TopicMetadata? { self.state.withLockedValue { $0[name] } }

    public func topic(withID id: KafkaUUID) -> TopicMetadata? {
        self.state.withLockedValue { topics in topics.values.first { $0.id == id } }
    }

    /// Applies `change` to the topics and persists the result; nothing changes if persisting fails.
    @discardableResult
    func update<T>(_ change: (inout [String: TopicMetadata]) throws -> T) throws -> T {
        try self.state.withLockedValue { topics in
            var copy = topics
            let result = try change(&copy)
            try self.persist(copy)
            topics = copy
            return result
        }
    }

    private func persist(_ topics: [String: TopicMetadata]) throws {
        var text = "version 1\n"
        for topic in topics.values.sorted(by: { $0.name < $1.name }) {
            text += "topic \(topic.name) \(topic.id) \(topic.partitionCount)\n"
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                text += "config \(topic.name) \(key) \(Self.escape(value))\n"
            }
        }
        try self.fileSystem.writeFileAtomically(self.path, contents: ByteBuffer(string: text))
    }

    /// Percent-encodes the bytes that would break the line format.
    static func escape(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            if byte <= 0x20 || byte == UInt8(ascii: "%") || byte >= 0x7F {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out.isEmpty ? "%" : out  // "%" alone is the empty string
    }

    static func unescape(_ text: String) -> String {
        if text == "%" { return "" }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Kafka's rule for topic names: 1–249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
    public static func validateName(_ name: String) -> String? {
        if name.isEmpty { return "the topic name is empty" }
        if name == "." || name == ".." { return "the topic name cannot be \"\(name)\"" }
        if name.utf8.count > 249 { return "the topic name is longer than 249 characters" }
        let allowed = name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return allowed ? nil : "the topic name \"\(name)\" contains characters other than ASCII letters, digits, '.', '_' and '-'"
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        self.count >= width ? self : String(repeating: "0", count: width - self.count) + self
    }
}

/// `meta.properties` in the data directory, as Kafka writes it: the cluster ID and this node's ID, fixed at the
/// first start.
struct MetaProperties: Sendable, Hashable {
    static let fileName = "meta.properties"
    var clusterID: String
    var nodeID: Int32

    /// Reads the file, or creates it with a new random cluster ID. A node ID that differs from the configured one
    /// stops start-up, as in Kafka.
    static func loadOrCreate(dataDirectory: String, nodeID: Int32, fileSystem: any StorageFileSystem) throws -> MetaProperties {
        let path = dataDirectory + "/" + Self.fileName
        if let buffer = try fileSystem.readWholeFile(path) {
            var values: [String: String] = [:]
            for line in String(buffer: buffer).split(separator: "\n") where !line.hasPrefix("#") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            guard let cluster = values["cluster.id"], let node = values["node.id"].flatMap({ Int32($0) }) else {
                throw ConfigurationError("log.dirs", "\(path) has no cluster.id or node.id")
            }
            guard node == nodeID else {
                throw ConfigurationError("node.id", "configured \(nodeID) but \(path) belongs to node \(node)")
            }
            return MetaProperties(clusterID: cluster, nodeID: node)
        }
        let meta = MetaProperties(clusterID: KafkaUUID.random().description, nodeID: nodeID)
        try fileSystem.writeFileAtomically(
            path, contents: ByteBuffer(string: "version=1\ncluster.id=\(meta.clusterID)\nnode.id=\(nodeID)\n"))
        return meta
    }
}
