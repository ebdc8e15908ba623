/// Which partition of `__consumer_offsets` holds a group: `abs(groupId.hashCode()) % partitionCount`, with Java's
/// `String.hashCode` over UTF-16 code units and Kafka's `Utils.abs` (which maps `Int.min` to 0), so a group lives
/// in the same partition as on Apache Kafka.
public enum GroupPartitioner {
    public static func partition(for groupID: String, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0)
        return kafkaAbs(javaHashCode(groupID)) % partitionCount
    }

    /// Java's `String.hashCode`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, wrapping at 32 bits.
    public static func javaHashCode(_ string: String) -> Int32 {
        var hash: Int32 = 0
        for unit in string.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return hash
    }

    /// Kafka's `Utils.abs`: `Int.min` becomes 0 instead of staying negative.
    static func kafkaAbs(_ value: Int32) -> Int32 { value == .min ? 0 : abs(value) }
}
