import SpateWire

/// The server-side assignors of KIP-848 (`group.consumer.assignors`): pure functions from the members'
/// subscriptions and current target assignment to a new target assignment. Deterministic: members are taken in
/// member-ID order and topics in topic-ID order.
enum ServerAssignor {
    struct Member {
        var id: String
        /// The topics the member subscribes to that exist (by ID).
        var topics: Set<KafkaUUID>
        /// The member's current target assignment (for stickiness).
        var current: PartitionsByTopic
    }

    /// Assigns with the named assignor; nil when the name is not one Spate implements.
    static func assign(
        _ name: String, members: [Member], partitionCounts: [KafkaUUID: Int32]
    ) -> [String: PartitionsByTopic]? {
        let members = members.sorted { $0.id < $1.id }
        switch name {
        case "uniform": return self.uniform(members, partitionCounts)
        case "range": return self.range(members, partitionCounts)
        default: return nil
        }
    }

    static let implemented: Set<String> = ["uniform", "range"]

    private struct TopicPartition: Hashable {
        var topic: KafkaUUID
        var partition: Int32
    }

    // MARK: Uniform

    /// Kafka's `UniformAssignor`: every partition of a subscribed topic goes to exactly one member subscribed to it,
    /// members end up with as even a share as their subscriptions allow, and partitions stay where they are when
    /// that does not upset the balance (stickiness keeps revocations to a minimum).
    static func uniform(_ members: [Member], _ counts: [KafkaUUID: Int32]) -> [String: PartitionsByTopic] {
        guard !members.isEmpty else { return [:] }
        let subscribed = members.reduce(into: Set<KafkaUUID>()) { $0.formUnion($1.topics) }
            .filter { counts[$0] != nil }
            .sorted(by: KafkaUUID.precedes)
        var all: [TopicPartition] = []
        for topic in subscribed {
            for partition in 0..<max(counts[topic] ?? 0, 0) { all.append(TopicPartition(topic: topic, partition: partition)) }
        }
        let homogeneous = members.allSatisfy { $0.topics == members[0].topics }
        let owned = homogeneous ? self.uniformHomogeneous(members, all, counts) : self.uniformHeterogeneous(members, all, counts)
        var result: [String: PartitionsByTopic] = [:]
        for (index, member) in members.enumerated() {
            var assignment: PartitionsByTopic = [:]
            for tp in owned[index] { assignment[tp.topic, default: []].insert(tp.partition) }
            result[member.id] = assignment
        }
        return result
    }

    /// The partitions of `member.current` the member may keep: subscribed, still existing, not yet claimed.
    private static func stickyCandidates(
        _ member: Member, _ counts: [KafkaUUID: Int32], claimed: Set<TopicPartition>
    ) -> [TopicPartition] {
        var result: [TopicPartition] = []
        for (topic, partitions) in member.current.sortedPairs() where member.topics.contains(topic) {
            guard let count = counts[topic] else { continue }
            for partition in partitions where partition < count {
                let tp = TopicPartition(topic: topic, partition: partition)
                if !claimed.contains(tp) { result.append(tp) }
            }
        }
        return result
    }

    /// Every member subscribes to the same topics: each gets ⌊P/M⌋ or ⌈P/M⌉ partitions, keeping what it has first.
    private static func uniformHomogeneous(
        _ members: [Member], _ all: [TopicPartition], _ counts: [KafkaUUID: Int32]
    ) -> [[TopicPartition]] {
        let quota = all.count / members.count
        var extra = all.count % members.count
        var target = Array(repeating: quota, count: members.count)
        var owned: [[TopicPartition]] = Array(repeating: [], count: members.count)
        var claimed: Set<TopicPartition> = []
        for (index, member) in members.enumerated() {
            let candidates = self.stickyCandidates(member, counts, claimed: claimed)
            var keep = min(candidates.count, quota)
            if candidates.count > quota, extra > 0 {
                keep += 1
                target[index] += 1
                extra -= 1
            }
            owned[index] = Array(candidates.prefix(keep))
            claimed.formUnion(owned[index])
        }
        for index in members.indices where extra > 0 && target[index] == quota {
            target[index] += 1
            extra -= 1
        }
        var unassigned = all.filter { !claimed.contains($0) }[...]
        for index in members.indices {
            while owned[index].count < target[index], let next = unassigned.popFirst() { owned[index].append(next) }
        }
        return owned
    }

    /// Members subscribe to different topics: keep what is still valid, hand out the rest to the least loaded
    /// eligible member, then move partitions from the most to the least loaded members until no move helps.
    private static func uniformHeterogeneous(
        _ members: [Member], _ all: [TopicPartition], _ counts: [KafkaUUID: Int32]
    ) -> [[TopicPartition]] {
        var owned: [[TopicPartition]] = Array(repeating: [], count: members.count)
        var claimed: Set<TopicPartition> = []
        for (index, member) in members.enumerated() {
            owned[index] = self.stickyCandidates(member, counts, claimed: claimed)
            claimed.formUnion(owned[index])
        }
        var eligible: [KafkaUUID: [Int]] = [:]
        for (index, member) in members.enumerated() {
            for topic in member.topics { eligible[topic, default: []].append(index) }
        }
        for tp in all where !claimed.contains(tp) {
            guard let candidates = eligible[tp.topic],
                let best = candidates.min(by: { (owned[$0].count, $0) < (owned[$1].count, $1) })
            else { continue }
            owned[best].append(tp)
        }
        // Balance: move partitions along chains of members (each handing one partition to the next, which
        // subscribes to its topic) from a member to one holding at least two fewer. Each move lowers the sum of
        // squared loads, so this ends; when no chain exists, no member can be relieved.
        var improved = true
        while improved {
            improved = false
            for source in members.indices.sorted(by: { (owned[$0].count, $1) > (owned[$1].count, $0) }) {
                if self.augment(from: source, &owned, eligible) {
                    improved = true
                    break
                }
            }
        }
        return owned
    }

    /// Finds (breadth first) and applies one chain of moves from `source` to a member with at least two fewer
    /// partitions; false when there is none.
    private static func augment(
        from source: Int, _ owned: inout [[TopicPartition]], _ eligible: [KafkaUUID: [Int]]
    ) -> Bool {
        var previous: [Int: (from: Int, partition: TopicPartition)] = [:]
        var visited: Set<Int> = [source]
        var queue = [source][...]
        while let member = queue.popFirst() {
            // One partition per topic is enough to find a chain: the last one the member holds.
            var byTopic: [KafkaUUID: TopicPartition] = [:]
            for tp in owned[member] { byTopic[tp.topic] = tp }
            for topic in byTopic.keys.sorted(by: KafkaUUID.precedes) {
                let tp = byTopic[topic]!
                for next in eligible[topic] ?? [] where !visited.contains(next) {
                    visited.insert(next)
                    previous[next] = (member, tp)
                    if owned[next].count + 2 <= owned[source].count {
                        var end = next
                        while let step = previous[end] {
                            owned[step.from].removeAll { $0 == step.partition }
                            owned[end].append(step.partition)
                            end = step.from
                        }
                        return true
                    }
                    queue.append(next)
                }
            }
        }
        return false
    }

    // MARK: Range

    /// Kafka's `RangeAssignor` (server side): for each topic, the members subscribed to it, in member-ID order,
    /// get consecutive ranges of partitions; the first `P % N` members get one more. Members with the same
    /// subscriptions get the same partition numbers of co-partitioned topics.
    static func range(_ members: [Member], _ counts: [KafkaUUID: Int32]) -> [String: PartitionsByTopic] {
        var result: [String: PartitionsByTopic] = Dictionary(uniqueKeysWithValues: members.map { ($0.id, [:]) })
        let topics = members.reduce(into: Set<KafkaUUID>()) { $0.formUnion($1.topics) }.sorted(by: KafkaUUID.precedes)
        for topic in topics {
            guard let count = counts[topic], count > 0 else { continue }
            let subscribers = members.filter { $0.topics.contains(topic) }
            let quota = Int(count) / subscribers.count
            let extra = Int(count) % subscribers.count
            var start = 0
            for (index, member) in subscribers.enumerated() {
                let length = quota + (index < extra ? 1 : 0)
                if length > 0 { result[member.id]![topic] = Set((start..<start + length).map { Int32($0) }) }
                start += length
            }
        }
        return result
    }
}
