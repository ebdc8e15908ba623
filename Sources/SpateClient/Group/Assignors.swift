public import SpateWire

/// A client-side partition assignor of the classic group protocol (partition.assignment.strategy). The group leader
/// runs the one the coordinator selected; its name is the JoinGroup protocol name, so members of other clients
/// (Java, librdkafka) using the same name can share a group.
public enum PartitionAssignor: String, Sendable, Hashable, CaseIterable {
    /// Kafka's `RangeAssignor`: per topic, consecutive ranges of partitions to members in member-ID order. Eager.
    case range
    /// Kafka's `RoundRobinAssignor`: all partitions in turn to the members subscribed to them. Eager.
    case roundRobin = "roundrobin"
    /// Kafka's `CooperativeStickyAssignor`: balanced, keeps partitions where they are, and assigns a partition that
    /// moves only in the rebalance after its previous owner gave it up (KIP-429 incremental rebalancing).
    case cooperativeSticky = "cooperative-sticky"

    /// Whether the assignor rebalances incrementally (members keep their partitions during a rebalance).
    public var isCooperative: Bool { self == .cooperativeSticky }

    /// One member as the assignor sees it.
    public struct Member: Sendable, Hashable {
        public var memberID: String
        public var groupInstanceID: String?
        public var subscription: ConsumerSubscription

        public init(memberID: String, groupInstanceID: String?, subscription: ConsumerSubscription) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.subscription = subscription
        }

        /// Java orders members by group instance ID when both have one, else by member ID.
        fileprivate static func ordered(_ a: Member, _ b: Member) -> Bool {
            if let x = a.groupInstanceID, let y = b.groupInstanceID, x != y { return x < y }
            return a.memberID < b.memberID
        }
    }

    /// Computes every member's partitions.
    /// - Parameters:
    ///   - members: The members and their subscriptions.
    ///   - partitionCounts: The number of partitions of each subscribed topic (topics missing here are skipped).
    /// - Returns: The partitions of each member ID (every member has an entry).
    public func assign(_ members: [Member], partitionCounts: [TopicName: Int32]) -> [String: [TopicPartition]] {
        var result = Dictionary(uniqueKeysWithValues: members.map { ($0.memberID, [TopicPartition]()) })
        let sorted = members.sorted(by: Member.ordered)
        switch self {
        case .range:
            let topics = Set(members.flatMap(\.subscription.topics)).sorted()
            for topic in topics {
                guard let count = partitionCounts[topic], count > 0 else { continue }
                let consumers = sorted.filter { $0.subscription.topics.contains(topic) }
                let perConsumer = Int(count) / consumers.count
                let extra = Int(count) % consumers.count
                for (i, member) in consumers.enumerated() {
                    let start = perConsumer * i + min(i, extra)
                    let length = perConsumer + (i + 1 > extra ? 0 : 1)
                    result[member.memberID]! += (start..<start + length).map { TopicPartition(topic, Int32($0)) }
                }
            }
        case .roundRobin:
            let all = Self.allPartitions(members, partitionCounts)
            guard !sorted.isEmpty else { return result }
            var next = 0
            for partition in all {
                // The next member (cyclically) subscribed to the partition's topic.
                for step in 0..<sorted.count {
                    let member = sorted[(next + step) % sorted.count]
                    if member.subscription.topics.contains(partition.topic) {
                        result[member.memberID]!.append(partition)
                        next = (next + step + 1) % sorted.count
                        break
                    }
                }
            }
        case .cooperativeSticky:
            result = Self.cooperativeSticky(sorted, partitionCounts)
        }
        return result
    }

    private static func allPartitions(_ members: [Member], _ counts: [TopicName: Int32]) -> [TopicPartition] {
        Set(members.flatMap(\.subscription.topics)).sorted().flatMap { topic in
            (0..<max(0, counts[topic] ?? 0)).map { TopicPartition(topic, $0) }
        }
    }

    /// Sticky balance, then the cooperative adjustment: a partition whose owner changes is left unassigned this
    /// round (its owner revokes it and rejoins; the next round gives it to its new member).
    private static func cooperativeSticky(_ members: [Member], _ counts: [TopicName: Int32]) -> [String: [TopicPartition]] {
        let all = allPartitions(members, counts)
        let valid = Set(all)
        // Current owners: a partition claimed by several members goes to the claim of the highest generation.
        var owner: [TopicPartition: (member: String, generation: Int32)] = [:]
        for member in members {
            for partition in member.subscription.ownedPartitions
            where valid.contains(partition) && member.subscription.topics.contains(partition.topic) {
                if let current = owner[partition], current.generation >= member.subscription.generationID { continue }
                owner[partition] = (member.memberID, member.subscription.generationID)
            }
        }
        var target = Dictionary(uniqueKeysWithValues: members.map { ($0.memberID, [TopicPartition]()) })
        guard !members.isEmpty else { return target }
        // Quotas: every member gets floor(P/N); the first `extra` members to claim get one more.
        let minQuota = all.count / members.count
        var extraSlots = all.count % members.count
        var unassigned: [TopicPartition] = []
        let owned = Dictionary(grouping: owner.keys.sorted(), by: { owner[$0]!.member })
        for member in members.sorted(by: { (owned[$0.memberID]?.count ?? 0) > (owned[$1.memberID]?.count ?? 0) }) {
            let mine = owned[member.memberID] ?? []
            var quota = minQuota
            if mine.count > minQuota && extraSlots > 0 {
                quota += 1
                extraSlots -= 1
            }
            target[member.memberID] = Array(mine.prefix(quota))
            unassigned += mine.dropFirst(quota)
        }
        unassigned += all.filter { owner[$0] == nil }
        unassigned.sort()
        // Each remaining partition to the least-loaded member subscribed to its topic (member order breaks ties).
        for partition in unassigned {
            let candidates = members.filter { $0.subscription.topics.contains(partition.topic) }
            guard let chosen = candidates.min(by: { target[$0.memberID]!.count < target[$1.memberID]!.count }) else {
                continue
            }
            target[chosen.memberID]!.append(partition)
        }
        // Cooperative adjustment (Kafka's AbstractStickyAssignor + CooperativeStickyAssignor): do not hand out a
        // partition another member still owns.
        for (memberID, partitions) in target {
            target[memberID] = partitions.filter { partition in
                guard let current = owner[partition] else { return true }
                return current.member == memberID
            }.sorted()
        }
        return target
    }
}
