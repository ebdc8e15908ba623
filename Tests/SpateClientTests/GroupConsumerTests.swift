import NIOCore
import SpateBroker
import SpateCoordinators
import SpateTesting
import SpateWire
import Testing

@testable import SpateClient

@Suite struct ConsumerProtocolTests {
    @Test func subscriptionGoldenBytesV0AndRoundTrips() throws {
        let v0 = ConsumerSubscription(topics: ["ab"]).encoded(version: 0)
        #expect(Array(v0.readableBytesView) == [
            0x00, 0x00,  // version 0
            0x00, 0x00, 0x00, 0x01,  // 1 topic (classic int32 count)
            0x00, 0x02, 0x61, 0x62,  // "ab" (classic int16 length)
            0xFF, 0xFF, 0xFF, 0xFF,  // user data: null bytes
        ])
        let full = ConsumerSubscription(
            topics: ["a", "b"], ownedPartitions: [TopicPartition(topic: "a", partition: 2)], generationID: 7,
            rackID: "r1")
        #expect(try ConsumerSubscription(decoding: full.encoded()) == full)
        let assignment = ConsumerAssignment(partitions: [TopicPartition(topic: "a", partition: 0), TopicPartition(topic: "b", partition: 3)])
        #expect(try ConsumerAssignment(decoding: assignment.encoded()) == assignment)
        #expect(try ConsumerAssignment(decoding: ByteBuffer()).partitions.isEmpty)
    }
}

@Suite struct AssignorTests {
    func members(_ ids: [String], topics: [TopicName] = ["t"], owned: [String: [Int32]] = [:]) -> [PartitionAssignor.Member] {
        ids.map { id in
            .init(
                memberID: id, groupInstanceID: nil,
                subscription: ConsumerSubscription(
                    topics: topics, ownedPartitions: (owned[id] ?? []).map { TopicPartition("t", $0) }, generationID: 1))
        }
    }

    func partitions(_ result: [String: [TopicPartition]], _ id: String) -> [Int32] {
        result[id, default: []].map(\.partition).sorted()
    }

    @Test func rangeAndRoundRobinFollowKafka() {
        let range = PartitionAssignor.range.assign(members(["c", "a", "b"]), partitionCounts: ["t": 7])
        #expect(partitions(range, "a") == [0, 1, 2])
        #expect(partitions(range, "b") == [3, 4])
        #expect(partitions(range, "c") == [5, 6])
        let roundRobin = PartitionAssignor.roundRobin.assign(members(["b", "a"]), partitionCounts: ["t": 5])
        #expect(partitions(roundRobin, "a") == [0, 2, 4])
        #expect(partitions(roundRobin, "b") == [1, 3])
    }

    @Test func cooperativeStickyKeepsPartitionsAndDefersMoves() {
        // a owns everything; b joins: a keeps 3, and the 3 that move to b are not handed out until a gives them up.
        let first = PartitionAssignor.cooperativeSticky.assign(
            members(["a", "b"], owned: ["a": [0, 1, 2, 3, 4, 5]]), partitionCounts: ["t": 6])
        #expect(partitions(first, "a").count == 3)
        #expect(partitions(first, "b").isEmpty)
        // Next round, a owns its 3: b gets the rest, a keeps its own.
        let kept = partitions(first, "a")
        let second = PartitionAssignor.cooperativeSticky.assign(
            members(["a", "b"], owned: ["a": kept]), partitionCounts: ["t": 6])
        #expect(partitions(second, "a") == kept)
        #expect(Set(partitions(second, "b")) == Set(0..<6).subtracting(kept))
        // A member leaves: its partitions spread over the others, who keep theirs.
        let third = PartitionAssignor.cooperativeSticky.assign(
            members(["a", "c"], owned: ["a": [0, 1], "c": [4, 5]]), partitionCounts: ["t": 6])
        #expect(Set(partitions(third, "a")).isSuperset(of: [0, 1]))
        #expect(Set(partitions(third, "c")).isSuperset(of: [4, 5]))
        #expect(partitions(third, "a").count == 3 && partitions(third, "c").count == 3)
    }
}

/// Records and assignments reported by the members of a test group.
private actor GroupObserver {
    var values: Set<String> = []
    var duplicates = 0
    var assignments: [Int: Set<TopicPartition>] = [:]

    func report(member: Int, assignment: Set<TopicPartition>, records: [ConsumerRecord]) {
        self.assignments[member] = assignment
        for record in records {
            if !self.values.insert(record.value!.string).inserted { self.duplicates += 1 }
        }
    }

    func forget(member: Int) { self.assignments[member] = nil }

    /// All `count` values seen, and the live members' assignments split the topic's partitions evenly.
    func isSettled(count: Int, partitions: Int, members: Int) -> Bool {
        guard self.values.count >= count, self.assignments.count == members else { return false }
        let sizes = self.assignments.values.map(\.count)
        let union = self.assignments.values.reduce(into: Set<TopicPartition>()) { $0.formUnion($1) }
        return union.count == partitions && sizes.reduce(0, +) == partitions
            && sizes.max()! - sizes.min()! <= 1
    }
}

@Suite struct GroupConsumerTests {
    static let topic: TopicName = "group-orders"

    func makeConsumer(
        _ client: ClientConfiguration, assignor: PartitionAssignor, groupProtocol: GroupProtocol = .classic,
        instanceID: String? = nil
    ) throws -> Consumer {
        var configuration = ConsumerConfiguration(client: client)
        configuration.groupID = "group-tests"
        configuration.groupProtocol = groupProtocol
        configuration.groupInstanceID = instanceID
        configuration.assignors = [assignor]
        configuration.autoOffsetReset = .earliest
        configuration.heartbeatInterval = .milliseconds(100)
        configuration.sessionTimeout = .seconds(10)
        configuration.rebalanceTimeout = .seconds(20)
        configuration.maxWait = .milliseconds(100)
        return try Consumer(configuration: configuration)
    }

    /// Member 2 of three closes (leaving the group after committing); 30 more records are produced and the other two
    /// must consume every record once; then they close too.
    private func leaveAndTakeOver(
        _ consumers: inout [Int: Consumer], _ observer: GroupObserver, _ client: ClientConfiguration
    ) async throws {
        await consumers[2]!.close()
        consumers[2] = nil
        await observer.forget(member: 2)
        try await self.produce(client, (0..<30).map { "second-\($0)" })
        try await self.pollUntilSettled(consumers, observer, count: 90)
        #expect(await observer.duplicates == 0)
        for consumer in consumers.values { await consumer.close() }
    }

    func produce(_ client: ClientConfiguration, _ values: [String]) async throws {
        try await Producer.withProducer(configuration: ProducerConfiguration(client: client)) { producer in
            for (i, value) in values.enumerated() {
                try await producer.enqueue(ProducerRecord(topic: Self.topic.rawValue, partition: Int32(i % 6), value: value))
            }
            try await producer.flush()
        }
    }

    /// Polls every consumer concurrently until the observer is settled (or fails after 60 s).
    private func pollUntilSettled(
        _ consumers: [Int: Consumer], _ observer: GroupObserver, count: Int
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, consumer) in consumers {
                group.addTask {
                    while await !observer.isSettled(count: count, partitions: 6, members: consumers.count) {
                        guard ContinuousClock.now < deadline else {
                            throw TestFailure("group did not settle: \(await observer.values.count) of \(count) records, assignments \(await observer.assignments)")
                        }
                        let records = try await consumer.poll()
                        await observer.report(member: index, assignment: await consumer.assignment, records: records)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test(arguments: [PartitionAssignor.range, .roundRobin, .cooperativeSticky])
    func membersShareAllPartitionsRebalanceOnLeaveAndResumeFromCommits(_ assignor: PartitionAssignor) async throws {
        try await withClientBroker(configure: { $0.groups.initialRebalanceDelayMs = 0 }) { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: Self.topic, partitions: 6))
            try await self.produce(client, (0..<60).map { "first-\($0)" })
            let observer = GroupObserver()
            var consumers: [Int: Consumer] = [:]
            for i in 0..<3 {
                consumers[i] = try self.makeConsumer(client, assignor: assignor)
                try await consumers[i]!.subscribe([Self.topic])
            }
            try await self.pollUntilSettled(consumers, observer, count: 60)
            #expect(await observer.duplicates == 0)

            // One member leaves: the other two take its partitions over, from where it committed.
            try await self.leaveAndTakeOver(&consumers, observer, client)

            // A new member resumes from the committed offsets: only the new records arrive.
            try await self.produce(client, (0..<6).map { "third-\($0)" })
            let late = try self.makeConsumer(client, assignor: assignor)
            let assigned = Box()
            try await late.subscribe(
                [Self.topic], listener: RebalanceListener(onAssigned: { partitions in await assigned.add(partitions) }))
            var values: [String] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while values.count < 6 {
                guard ContinuousClock.now < deadline else { throw TestFailure("got \(values)") }
                values += try await late.poll().map { $0.value!.string }
            }
            values += try await late.poll().map { $0.value!.string }
            #expect(values.sorted() == (0..<6).map { "third-\($0)" }.sorted())
            #expect(await assigned.partitions.count == 6)
            let committed = try await late.committed(Set((0..<6).map { TopicPartition(Self.topic, $0) }))
            #expect([90, 96].contains(committed.values.reduce(0, +)))
            try await late.commit()
            let described = try await Admin(configuration: client).groupOffsets("group-tests")
            #expect(described.map(\.lag) == Array(repeating: 0, count: 6))
            #expect(Set(described.compactMap(\.memberID)) == [await late.memberID!])
            await late.close()
            #expect(try await Admin(configuration: client).describeGroup("group-tests").state == "Empty")
        }
    }

    @Test(arguments: ["uniform", "range"])
    func consumerProtocolMembersReconcileOnLeaveAndResumeFromCommits(_ serverAssignor: String) async throws {
        try await withClientBroker(configure: { $0.groups.consumerHeartbeatIntervalMs = 200 }) { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: Self.topic, partitions: 6))
            try await self.produce(client, (0..<60).map { "first-\($0)" })
            func member() throws -> Consumer {
                var configuration = try self.makeConsumer(client, assignor: .range, groupProtocol: .consumer).configuration
                configuration.serverAssignor = serverAssignor
                return try Consumer(configuration: configuration)
            }
            let observer = GroupObserver()
            var consumers: [Int: Consumer] = [:]
            for i in 0..<3 {
                consumers[i] = try member()
                try await consumers[i]!.subscribe([Self.topic])
            }
            try await self.pollUntilSettled(consumers, observer, count: 60)
            #expect(await observer.duplicates == 0)
            for consumer in consumers.values { #expect(await consumer.generationID > 0) }

            // One member leaves (epoch -1, after committing): the other two take its partitions over from its
            // commits, and nothing is lost or read twice.
            try await self.leaveAndTakeOver(&consumers, observer, client)

            // New members (a restart) resume from the committed offsets: only the new records arrive.
            try await self.produce(client, (0..<12).map { "third-\($0)" })
            let restarted = GroupObserver()
            var again: [Int: Consumer] = [:]
            for i in 0..<2 {
                again[i] = try member()
                try await again[i]!.subscribe([Self.topic])
            }
            try await self.pollUntilSettled(again, restarted, count: 12)
            #expect(await restarted.values == Set((0..<12).map { "third-\($0)" }))
            #expect(await restarted.duplicates == 0)
            for consumer in again.values { try await consumer.commit() }
            let described = try await Admin(configuration: client).groupOffsets("group-tests")
            #expect(described.map(\.lag) == Array(repeating: 0, count: 6))
            for consumer in again.values { await consumer.close() }
        }
    }

    @Test func consumerProtocolSubscribesByPattern() async throws {
        try await withClientBroker(configure: { $0.groups.consumerHeartbeatIntervalMs = 200 }) { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: Self.topic, partitions: 6))
            try await self.produce(client, (0..<12).map { "v\($0)" })
            let consumer = try self.makeConsumer(client, assignor: .range, groupProtocol: .consumer)
            try await consumer.subscribe(pattern: "group-.*")
            let observer = GroupObserver()
            try await self.pollUntilSettled([0: consumer], observer, count: 12)
            #expect(await consumer.assignment.count == 6)
            await consumer.close()
        }
    }

    @Test func staticMemberRestartWithinSessionTimeoutCausesNoRebalance() async throws {
        try await withClientBroker(configure: { $0.groups.initialRebalanceDelayMs = 0 }) { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: Self.topic, partitions: 6))
            try await self.produce(client, (0..<60).map { "first-\($0)" })
            let observer = GroupObserver()
            let aChanges = Box()
            let a = try self.makeConsumer(client, assignor: .range, instanceID: "static-a")
            var b = try self.makeConsumer(client, assignor: .range, instanceID: "static-b")
            try await a.subscribe(
                [Self.topic],
                listener: RebalanceListener(
                    onAssigned: { await aChanges.add($0) }, onRevoked: { await aChanges.add($0) }))
            try await b.subscribe([Self.topic])
            try await self.pollUntilSettled([0: a, 1: b], observer, count: 60)
            let generation = await a.generationID
            let aChangesBefore = await aChanges.count
            let bAssignment = await b.assignment

            // b restarts: a static member does not leave on close, and its successor takes its place (and its
            // assignment) within the session timeout, without a new generation.
            await b.close()
            b = try self.makeConsumer(client, assignor: .range, instanceID: "static-b")
            try await b.subscribe([Self.topic])
            try await self.produce(client, (0..<30).map { "second-\($0)" })
            try await self.pollUntilSettled([0: a, 1: b], observer, count: 90)
            #expect(await observer.duplicates == 0)
            #expect(await b.generationID == generation)
            #expect(await a.generationID == generation)
            #expect(await b.assignment == bAssignment)
            #expect(await aChanges.count == aChangesBefore)
            await a.close()
            await b.close()
        }
    }

    @Test func adminListsDescribesResetsAndDeletesGroups() async throws {
        try await withClientBroker(configure: { $0.groups.initialRebalanceDelayMs = 0 }) { _, client in
            try await Admin(configuration: client).createTopic(NewTopic(name: Self.topic, partitions: 6))
            try await self.produce(client, (0..<60).map { "v\($0)" })
            let admin = Admin(configuration: client)
            try await admin.alterGroupOffsets("offsets-only", [TopicPartition(Self.topic, 0): 4])
            #expect(try await admin.listGroups().map(\.groupID).contains("offsets-only"))
            var rows = try await admin.groupOffsets("offsets-only")
            #expect(rows.count == 1 && rows[0].committedOffset == 4 && rows[0].endOffset == 10 && rows[0].lag == 6)
            try await admin.resetGroupOffsets("offsets-only", topic: Self.topic, to: .latest)
            rows = try await admin.groupOffsets("offsets-only")
            #expect(rows.count == 6 && rows.allSatisfy { $0.lag == 0 })
            try await admin.resetGroupOffsets("offsets-only", topic: Self.topic, to: .offset(3))
            #expect(try await admin.committedOffsets("offsets-only").values.allSatisfy { $0 == 3 })
            try await admin.deleteGroups(["offsets-only"])
            #expect(try await admin.committedOffsets("offsets-only").isEmpty)
            let error = await #expect(throws: KafkaClientError.self) { try await admin.deleteGroups(["offsets-only"]) }
            #expect(error?.kafkaErrorCode == .groupIDNotFound)
            await admin.close()
        }
    }
}

private actor Box {
    var partitions: Set<TopicPartition> = []
    /// How many times ``add(_:)`` was called.
    var count = 0
    func add(_ more: Set<TopicPartition>) {
        self.partitions.formUnion(more)
        self.count += 1
    }
}
