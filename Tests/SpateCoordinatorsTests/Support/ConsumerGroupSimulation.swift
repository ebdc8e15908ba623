import NIOCore
import SpateWire
import Testing

@testable import SpateCoordinators

/// SplitMix64: a small seeded generator, so that random scenarios replay exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A consumer group driven on a manual clock by simulated KIP-848 consumers, which keep what the coordinator
/// assigns them and report it in their next heartbeat. Every record the group returns is encoded to bytes and
/// decoded again before it goes to the log, so the log is what a broker would have written.
struct ConsumerGroupSimulation {
    struct Consumer {
        var memberID: String
        var instanceID: String?
        var memberEpoch: Int32 = 0
        var topics: [String]
        var regex: String?
        var assignor: String?
        var rebalanceTimeoutMs: Int32 = 60_000
        /// What the consumer owns (and consumes from).
        var owned: PartitionsByTopic = [:]
        /// The last assignment the coordinator sent.
        var assigned: PartitionsByTopic = [:]
        var joined = false
    }

    var group: ConsumerGroup
    var nowMs: Int64 = 1_000_000
    var topics: TopicImage
    var config = GroupConfig()
    var consumers: [String: Consumer] = [:]
    var log: [GroupCoordinatorRecord] = []
    var lastError: ErrorCode = .none

    init(groupID: String = "g", topics: [(String, Int32)]) {
        self.group = ConsumerGroup(groupID: groupID)
        self.topics = TopicImage([])
        for (name, count) in topics { self.createTopic(name, partitions: count) }
    }

    static func topicID(_ name: String) -> KafkaUUID {
        KafkaUUID(high: UInt64(bitPattern: Int64(GroupPartitioner.javaHashCode(name))) | 1 << 62, low: UInt64(name.utf8.count))
    }

    mutating func createTopic(_ name: String, partitions: Int32) {
        var all = Array(self.topics.byName.values)
        all.removeAll { $0.name == name }
        all.append(TopicImage.Topic(name: name, id: Self.topicID(name), partitionCount: partitions))
        self.topics = TopicImage(all)
    }

    mutating func record(_ records: [GroupCoordinatorRecord]) {
        for record in records {
            let bytes = try! record.encoded()
            self.log.append(try! GroupCoordinatorRecord(decoding: bytes))
        }
    }

    mutating func add(
        _ memberID: String, topics: [String] = [], regex: String? = nil, instanceID: String? = nil,
        assignor: String? = nil, rebalanceTimeoutMs: Int32 = 60_000
    ) {
        self.consumers[memberID] = Consumer(
            memberID: memberID, instanceID: instanceID, topics: topics, regex: regex, assignor: assignor,
            rebalanceTimeoutMs: rebalanceTimeoutMs)
    }

    /// One heartbeat of a consumer: a full join when it has no epoch, otherwise its epoch and owned partitions.
    /// `acknowledge: false` simulates a consumer that keeps partitions it was asked to revoke.
    @discardableResult
    mutating func heartbeat(_ memberID: String, acknowledge: Bool = true, version: Int16 = 1) -> ConsumerGroupHeartbeatResponse {
        var consumer = self.consumers[memberID]!
        // A consumer that acknowledges has finished reconciling: it holds exactly what it was last sent.
        if acknowledge && consumer.joined { consumer.owned = consumer.assigned }
        var request = ConsumerGroupHeartbeatRequest(groupID: GroupID(self.group.groupID), memberID: memberID)
        request.memberEpoch = consumer.memberEpoch
        request.instanceID = consumer.instanceID
        if !consumer.joined {
            request.memberEpoch = 0
            request.rebalanceTimeoutMs = consumer.rebalanceTimeoutMs
            request.subscribedTopicNames = consumer.regex == nil ? consumer.topics.map { TopicName($0) } : nil
            request.subscribedTopicRegex = consumer.regex
            request.serverAssignor = consumer.assignor
            request.topicPartitions = []
        } else {
            request.topicPartitions = consumer.owned.sortedPairs().map { .init(topicID: $0.0, partitions: $0.1) }
        }
        let (response, records) = self.group.heartbeat(
            request, version: version, clientID: "client-\(memberID)", clientHost: "/127.0.0.1", nowMs: self.nowMs,
            topics: self.topics, config: self.config)
        self.record(records)
        self.lastError = response.errorCode
        guard response.errorCode == .none else {
            if response.errorCode == .fencedMemberEpoch || response.errorCode == .unknownMemberID {
                // The consumer gives up its partitions and rejoins.
                consumer.owned = [:]
                consumer.assigned = [:]
                consumer.memberEpoch = 0
                consumer.joined = false
            }
            self.consumers[memberID] = consumer
            return response
        }
        consumer.joined = true
        consumer.memberEpoch = response.memberEpoch
        if let assignment = response.assignment {
            let assigned = PartitionsByTopic(topicPartitions: assignment.topicPartitions.map { ($0.topicID, $0.partitions) })
            consumer.assigned = assigned
            if acknowledge {
                consumer.owned = assigned
            } else {
                // Takes new partitions but does not give any up.
                for (topic, partitions) in assigned { consumer.owned[topic, default: []].formUnion(partitions) }
            }
        }
        self.consumers[memberID] = consumer
        return response
    }

    @discardableResult
    mutating func leave(_ memberID: String, staticLeave: Bool = false) -> ConsumerGroupHeartbeatResponse {
        let consumer = self.consumers.removeValue(forKey: memberID)!
        var request = ConsumerGroupHeartbeatRequest(groupID: GroupID(self.group.groupID), memberID: memberID)
        request.memberEpoch = staticLeave ? -2 : -1
        request.instanceID = consumer.instanceID
        let (response, records) = self.group.heartbeat(
            request, version: 1, clientID: "client-\(memberID)", clientHost: "/127.0.0.1", nowMs: self.nowMs,
            topics: self.topics, config: self.config)
        self.record(records)
        self.lastError = response.errorCode
        return response
    }

    mutating func advance(byMs ms: Int64) {
        self.nowMs += ms
        self.record(self.group.tick(nowMs: self.nowMs, topics: self.topics, config: self.config))
        // A consumer removed from the group (session or rebalance timeout) stops consuming: a real one has stopped
        // heartbeating or polling by then, and its commits would be rejected.
        for (id, consumer) in self.consumers where consumer.joined && self.group.member(id) == nil {
            self.consumers[id]!.owned = [:]
            self.consumers[id]!.assigned = [:]
        }
    }

    mutating func topicsChanged() {
        self.record(self.group.topicsChanged(self.topics, nowMs: self.nowMs, config: self.config))
    }

    /// Heartbeats every consumer (in ID order) until nothing changes, checking ownership after each heartbeat.
    mutating func converge(rounds: Int = 20, sourceLocation: SourceLocation = #_sourceLocation) {
        for _ in 0..<rounds {
            let before = self.consumers.mapValues { ($0.memberEpoch, $0.owned) }
            for id in self.consumers.keys.sorted() {
                self.heartbeat(id)
                self.checkExclusiveOwnership(sourceLocation: sourceLocation)
            }
            let after = self.consumers.mapValues { ($0.memberEpoch, $0.owned) }
            if before.keys == after.keys, before.allSatisfy({ after[$0.key]! == $0.value }), self.group.stateName == "Stable" {
                return
            }
        }
        let members = self.group.members.map {
            "\($0.memberID)@\($0.memberEpoch)/\($0.state) consumer=\(self.consumers[$0.memberID].map { "\($0.memberEpoch)" } ?? "-")"
        }
        Issue.record(
            "group did not converge: \(self.group.stateName), epochs \(self.group.groupEpoch)/\(self.group.targetAssignmentEpoch), \(members), errors \(self.lastError)",
            sourceLocation: sourceLocation)
    }

    /// No partition is held by two members, neither by the consumers nor in the coordinator's view.
    func checkExclusiveOwnership(sourceLocation: SourceLocation = #_sourceLocation) {
        func check(_ holders: [(String, PartitionsByTopic)], _ what: String) {
            var owners: [KafkaUUID: [Int32: String]] = [:]
            for (id, assignment) in holders {
                for (topic, partitions) in assignment {
                    for partition in partitions {
                        if let other = owners[topic]?[partition] {
                            Issue.record("\(topic)-\(partition) \(what) by \(other) and \(id)", sourceLocation: sourceLocation)
                        }
                        owners[topic, default: [:]][partition] = id
                    }
                }
            }
        }
        check(self.consumers.values.map { ($0.memberID, $0.owned) }, "consumed")
        check(
            self.group.members.flatMap { [($0.memberID, $0.assignedPartitions), ($0.memberID, $0.partitionsPendingRevocation)] },
            "held")
    }

    /// The group rebuilt from the log.
    func replayed() -> ConsumerGroup {
        var group = ConsumerGroup(groupID: self.group.groupID)
        for record in self.log { group.replay(record) }
        return group
    }

    /// The partitions each consumer owns, by topic name.
    func ownedNames(_ memberID: String) -> [String: [Int32]] {
        var result: [String: [Int32]] = [:]
        for (topic, partitions) in self.consumers[memberID]?.owned ?? [:] {
            result[self.topics.byID[topic]!.name] = partitions.sorted()
        }
        return result
    }

    func ownedCount(_ memberID: String) -> Int { self.consumers[memberID]?.owned.partitionCount ?? 0 }
}
