/// A topic partition, and its directory name `<topic>-<partition>`.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// The partition's directory name in the data directory.
    public var directoryName: String { "\(self.topic)-\(self.partition)" }

    /// Parses a directory name; the partition follows the last `-` (topic names may contain dashes).
    public init?(directoryName name: String) {
        guard let dash = name.lastIndex(of: "-"), let partition = Int32(name[name.index(after: dash)...]),
            partition >= 0, dash > name.startIndex
        else { return nil }
        self.init(topic: String(name[..<dash]), partition: partition)
    }

    public var description: String { self.directoryName }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}
