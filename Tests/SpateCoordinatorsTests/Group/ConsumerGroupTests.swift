import NIOCore
import SpateWire
import Testing

@testable import SpateCoordinators

@Suite struct ConsumerGroupTests {
    // MARK: Joining and assignment

    @Test func oneMemberJoinsAndGetsEveryPartition() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 6)])
        sim.add("m1", topics: ["orders"])
        let response = sim.heartbeat("m1")
        #expect(response.errorCode == .none)
        #expect(response.memberID == "m1")
        #expect(response.memberEpoch == 1)
        #expect(response.heartbeatIntervalMs == 5000)
        #expect(sim.ownedNames("m1") == ["orders": [0, 1, 2, 3, 4, 5]])
        #expect(sim.group.groupEpoch == 1)
        #expect(sim.group.stateName == "Stable")
        #expect(sim.group.subscribedTopicNames == ["orders"])
        // Member metadata, subscription metadata, group epoch, target member, target epoch, current assignment:
        // Kafka's record types 5, 4, 3, 7, 6, 8, in that order.
        #expect(sim.log.map(\.recordType) == [5, 4, 3, 7, 6, 8])
        // A steady heartbeat writes nothing and sends no assignment.
        let count = sim.log.count
        let steady = sim.heartbeat("m1")
        #expect(steady.memberEpoch == 1 && steady.assignment == nil)
        #expect(sim.log.count == count)
    }

    @Test func threeMembersConvergeWithUniform() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 6)])
        for id in ["m1", "m2", "m3"] {
            sim.add(id, topics: ["orders"])
            sim.heartbeat(id)
            sim.checkExclusiveOwnership()
        }
        sim.converge()
        #expect(sim.group.stateName == "Stable")
        for id in ["m1", "m2", "m3"] { #expect(sim.ownedCount(id) == 2, "\(id)") }
        let all = ["m1", "m2", "m3"].flatMap { sim.ownedNames($0)["orders"] ?? [] }
        #expect(all.sorted() == [0, 1, 2, 3, 4, 5])
        // All at the group epoch.
        #expect(sim.group.members.allSatisfy { $0.memberEpoch == sim.group.groupEpoch })
        #expect(sim.replayed() == sim.group)
    }

    /// The rebalance of the benchmark: 100 members on one topic converge, each with an even share.
    @Test func hundredMembersConverge() {
        var sim = ConsumerGroupSimulation(topics: [("events", 200)])
        let ids = (0..<100).map { "member-\(100 + $0)" }
        for id in ids {
            sim.add(id, topics: ["events"])
            sim.heartbeat(id)
        }
        sim.converge(rounds: 10)
        #expect(ids.allSatisfy { sim.ownedCount($0) == 2 })
        #expect(sim.replayed() == sim.group)
        // One member leaves: its two partitions go to two others, nobody else moves.
        let before = Dictionary(uniqueKeysWithValues: ids.map { ($0, sim.consumers[$0]!.owned) })
        sim.leave("member-150")
        sim.converge(rounds: 10)
        let moved = ids.filter { $0 != "member-150" && sim.consumers[$0]!.owned != before[$0]! }
        #expect(moved.count == 2)
        #expect(moved.allSatisfy { sim.ownedCount($0) == 3 })
    }

    @Test func uniformBalancesHeterogeneousSubscriptions() {
        var sim = ConsumerGroupSimulation(topics: [("a", 4), ("b", 2)])
        sim.add("m1", topics: ["a", "b"])
        sim.add("m2", topics: ["a"])
        sim.add("m3", topics: ["b"])
        for id in ["m1", "m2", "m3"] { sim.heartbeat(id) }
        sim.converge()
        #expect(sim.ownedCount("m1") + sim.ownedCount("m2") + sim.ownedCount("m3") == 6)
        #expect(sim.ownedCount("m1") == 2 && sim.ownedCount("m2") == 2 && sim.ownedCount("m3") == 2)
        #expect(sim.ownedNames("m2").keys.allSatisfy { $0 == "a" })
        #expect(sim.ownedNames("m3").keys.allSatisfy { $0 == "b" })
    }

    @Test func rangeAssignsCoPartitionedRanges() {
        var sim = ConsumerGroupSimulation(topics: [("clicks", 3), ("views", 3)])
        sim.add("a", topics: ["clicks", "views"], assignor: "range")
        sim.add("b", topics: ["clicks", "views"], assignor: "range")
        sim.heartbeat("a")
        sim.heartbeat("b")
        sim.converge()
        #expect(sim.ownedNames("a") == ["clicks": [0, 1], "views": [0, 1]])
        #expect(sim.ownedNames("b") == ["clicks": [2], "views": [2]])
        #expect(sim.group.assignorName(config: sim.config) == "range")
        #expect(sim.group.describe(topics: sim.topics, config: sim.config).assignorName == "range")
    }

    @Test func joiningMemberWaitsForRevocation() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 4)])
        sim.add("a", topics: ["orders"])
        sim.heartbeat("a")
        #expect(sim.ownedCount("a") == 4)
        sim.add("b", topics: ["orders"])
        // b is at the new epoch, but every partition it should get is still a's: it gets nothing yet.
        let joined = sim.heartbeat("b")
        #expect(joined.memberEpoch == 2)
        #expect(joined.assignment?.topicPartitions.isEmpty == true)
        #expect(sim.group.member("b")?.state == .unreleasedPartitions)
        #expect(sim.group.stateName == "Reconciling")
        // a is asked to revoke half, and stays at epoch 1 until it has.
        let revoke = sim.heartbeat("a", acknowledge: false)
        #expect(revoke.memberEpoch == 1)
        #expect(revoke.assignment?.topicPartitions.flatMap(\.partitions).count == 2)
        #expect(sim.group.member("a")?.state == .unrevokedPartitions)
        // b asks again: still nothing, a has not released.
        sim.heartbeat("b")
        #expect(sim.ownedCount("b") == 0)
        sim.checkExclusiveOwnership()
        // a keeps reporting the partitions: still unrevoked.
        sim.heartbeat("a", acknowledge: false)
        #expect(sim.group.member("a")?.state == .unrevokedPartitions)
        #expect(sim.consumers["a"]!.memberEpoch == 1)
        // a revokes (reports only its two): it moves to epoch 2; then b gets the released two.
        sim.consumers["a"]!.owned = PartitionsByTopic(
            topicPartitions: revoke.assignment!.topicPartitions.map { ($0.topicID, $0.partitions) })
        let acknowledged = sim.heartbeat("a")
        #expect(acknowledged.memberEpoch == 2)
        #expect(sim.group.member("a")?.state == .stable)
        let assigned = sim.heartbeat("b")
        #expect(assigned.assignment?.topicPartitions.flatMap(\.partitions).count == 2)
        #expect(sim.group.stateName == "Stable")
        sim.checkExclusiveOwnership()
        #expect(sim.replayed() == sim.group)
    }

    @Test func noPartitionIsOwnedTwiceWhileMembersComeAndGo() {
        var sim = ConsumerGroupSimulation(topics: [("t", 12)])
        for id in ["m1", "m2", "m3", "m4"] {
            sim.add(id, topics: ["t"])
            sim.heartbeat(id)
            sim.checkExclusiveOwnership()
            // Others heartbeat in between, each step checked.
            for other in sim.consumers.keys.sorted() {
                sim.heartbeat(other)
                sim.checkExclusiveOwnership()
            }
        }
        sim.converge()
        #expect(sim.consumers.keys.allSatisfy { sim.ownedCount($0) == 3 })
        sim.leave("m2")
        sim.converge()
        #expect(sim.consumers.keys.allSatisfy { sim.ownedCount($0) == 4 })
        #expect(sim.replayed() == sim.group)
    }

    // MARK: Timeouts

    @Test func sessionExpiryFencesASilentMember() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 4)])
        sim.add("a", topics: ["orders"])
        sim.add("b", topics: ["orders"])
        sim.heartbeat("a")
        sim.heartbeat("b")
        sim.converge()
        #expect(sim.group.nextDeadlineMs == sim.nowMs + 45_000)
        let epoch = sim.group.groupEpoch
        // b stops heartbeating; a keeps going every 5 s.
        for _ in 0..<8 {
            sim.advance(byMs: 5000)
            sim.heartbeat("a")
        }
        #expect(sim.group.member("b") != nil)
        sim.advance(byMs: 5000)  // 45 s since b's last heartbeat
        #expect(sim.group.member("b") == nil)
        #expect(sim.group.groupEpoch == epoch + 1)
        sim.consumers["b"] = nil
        sim.converge()
        #expect(sim.ownedCount("a") == 4)
        #expect(sim.replayed() == sim.group)
    }

    @Test func memberThatDoesNotRevokeWithinItsRebalanceTimeoutIsFenced() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 4)])
        sim.add("a", topics: ["orders"], rebalanceTimeoutMs: 10_000)
        sim.heartbeat("a")
        sim.add("b", topics: ["orders"])
        sim.heartbeat("b")
        sim.heartbeat("a", acknowledge: false)
        #expect(sim.group.member("a")?.state == .unrevokedPartitions)
        #expect(sim.group.nextDeadlineMs == sim.nowMs + 10_000)
        sim.advance(byMs: 5000)
        sim.heartbeat("a", acknowledge: false)
        sim.heartbeat("b")
        sim.advance(byMs: 5000)
        #expect(sim.group.member("a") == nil)
        // a learns it was fenced and rejoins; b takes what a had to give up.
        let fenced = sim.heartbeat("a")
        #expect(fenced.errorCode == .unknownMemberID)
        sim.converge()
        #expect(sim.ownedCount("a") == 2 && sim.ownedCount("b") == 2)
        #expect(sim.replayed() == sim.group)
    }

    // MARK: Static membership

    @Test func staticMemberIsReplacedWithoutARebalance() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 4)])
        sim.add("a1", topics: ["orders"], instanceID: "instance-a")
        sim.add("b", topics: ["orders"])
        sim.heartbeat("a1")
        sim.heartbeat("b")
        sim.converge()
        let before = sim.ownedNames("a1")
        let epoch = sim.group.groupEpoch
        // a1 restarts: leaves with -2, keeping its assignment.
        let left = sim.leave("a1", staticLeave: true)
        #expect(left.errorCode == .none && left.memberEpoch == -2)
        #expect(sim.group.member("a1")?.memberEpoch == -2)
        #expect(sim.group.groupEpoch == epoch)
        // A new process with the same instance ID takes its place with a new member ID.
        sim.add("a2", topics: ["orders"], instanceID: "instance-a")
        let rejoined = sim.heartbeat("a2")
        #expect(rejoined.errorCode == .none)
        #expect(rejoined.memberEpoch == epoch)
        #expect(sim.ownedNames("a2") == before)
        #expect(sim.group.member("a1") == nil)
        #expect(sim.group.groupEpoch == epoch)
        #expect(sim.group.stateName == "Stable")
        sim.converge()
        #expect(sim.replayed() == sim.group)
        // While a2 is active, another process with the same instance ID is refused.
        sim.add("a3", topics: ["orders"], instanceID: "instance-a")
        #expect(sim.heartbeat("a3").errorCode == .unreleasedInstanceID)
        // And a heartbeat with the instance ID but another member ID is fenced.
        sim.consumers["a3"]!.joined = true
        sim.consumers["a3"]!.memberEpoch = epoch
        #expect(sim.heartbeat("a3").errorCode == .fencedInstanceID)
    }

    @Test func staticMemberThatDoesNotComeBackExpires() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 2)])
        sim.add("a", topics: ["orders"], instanceID: "i")
        sim.add("b", topics: ["orders"])
        sim.heartbeat("a")
        sim.heartbeat("b")
        sim.converge()
        sim.leave("a", staticLeave: true)
        for _ in 0..<9 {
            sim.advance(byMs: 5000)
            sim.heartbeat("b")
        }
        #expect(sim.group.member("a") == nil)
        sim.converge()
        #expect(sim.ownedCount("b") == 2)
    }

    // MARK: Regular expressions and topic changes

    @Test func regexSubscriptionPicksUpATopicCreatedLater() {
        var sim = ConsumerGroupSimulation(topics: [("orders-eu", 2), ("payments", 2), ("__consumer_offsets", 50)])
        sim.add("m", regex: "orders-.*")
        sim.heartbeat("m")
        #expect(sim.ownedNames("m") == ["orders-eu": [0, 1]])
        #expect(sim.group.subscribedTopicNames == ["orders-eu"])
        let epoch = sim.group.groupEpoch
        sim.createTopic("orders-us", partitions: 3)
        let records = sim.group.topicsChanged(sim.topics, nowMs: sim.nowMs, config: sim.config)
        sim.record(records)
        #expect(records.map(\.recordType) == [4, 3])
        #expect(sim.group.groupEpoch == epoch + 1)
        #expect(sim.group.stateName == "Assigning")
        sim.converge()
        #expect(sim.ownedNames("m") == ["orders-eu": [0, 1], "orders-us": [0, 1, 2]])
        #expect(sim.group.subscribedTopicNames == ["orders-eu", "orders-us"])
        // More partitions for a subscribed topic: picked up the same way.
        sim.createTopic("orders-us", partitions: 4)
        sim.topicsChanged()
        sim.converge()
        #expect(sim.ownedNames("m")["orders-us"] == [0, 1, 2, 3])
        #expect(sim.replayed() == sim.group)
    }

    @Test func regexOfASecondMemberMatchingAKnownTopicRebalances() {
        var sim = ConsumerGroupSimulation(topics: [("logs-a", 2)])
        sim.add("named", topics: ["logs-a", "logs-b"])
        sim.add("pattern", regex: "logs-b")
        sim.heartbeat("named")
        sim.heartbeat("pattern")
        sim.converge()
        #expect(sim.ownedCount("pattern") == 0)
        sim.createTopic("logs-b", partitions: 2)
        sim.topicsChanged()
        sim.converge()
        #expect(sim.ownedCount("named") + sim.ownedCount("pattern") == 4)
        #expect(sim.ownedNames("pattern").keys.allSatisfy { $0 == "logs-b" })
    }

    // MARK: Errors

    private func request(
        _ memberID: String, epoch: Int32, names: [String]? = ["t"], rebalanceTimeoutMs: Int32 = 30_000
    ) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest(
            groupID: "g", memberID: memberID, memberEpoch: epoch, rebalanceTimeoutMs: rebalanceTimeoutMs,
            subscribedTopicNames: names?.map { TopicName($0) }, topicPartitions: [])
    }

    private func send(
        _ group: inout ConsumerGroup, _ request: ConsumerGroupHeartbeatRequest, version: Int16 = 1,
        config: GroupConfig = GroupConfig()
    ) -> ConsumerGroupHeartbeatResponse {
        group.heartbeat(
            request, version: version, clientID: "c", clientHost: "/h", nowMs: 0,
            topics: TopicImage([.init(name: "t", id: KafkaUUID(high: 9, low: 9), partitionCount: 3)]), config: config,
            newMemberID: { "generated" }
        ).response
    }

    @Test func errorsAreKafkas() {
        var group = ConsumerGroup(groupID: "g")
        // Nothing created yet: a heartbeat that does not join finds no group.
        #expect(self.send(&group, self.request("m", epoch: 3)).errorCode == .groupIDNotFound)
        // v1 requires a member ID; v0 lets the coordinator choose one.
        #expect(self.send(&group, self.request("", epoch: 0)).errorCode == .invalidRequest)
        let generated = self.send(&group, self.request("", epoch: 0), version: 0)
        #expect(generated.errorCode == .none && generated.memberID == "generated")
        // A join must carry the rebalance timeout and a subscription, and own nothing.
        #expect(self.send(&group, self.request("x", epoch: 0, rebalanceTimeoutMs: -1)).errorCode == .invalidRequest)
        #expect(self.send(&group, self.request("x", epoch: 0, names: nil)).errorCode == .invalidRequest)
        var owning = self.request("x", epoch: 0)
        owning.topicPartitions = [.init(topicID: KafkaUUID(high: 9, low: 9), partitions: [0])]
        #expect(self.send(&group, owning).errorCode == .invalidRequest)
        #expect(self.send(&group, self.request("x", epoch: -3)).errorCode == .invalidRequest)
        var staticLeave = self.request("generated", epoch: -2)
        staticLeave.instanceID = nil
        #expect(self.send(&group, staticLeave).errorCode == .invalidRequest)
        // Unknown assignor.
        var assignor = self.request("x", epoch: 0)
        assignor.serverAssignor = "sticky"
        let unsupported = self.send(&group, assignor)
        #expect(unsupported.errorCode == .unsupportedAssignor)
        #expect(unsupported.errorMessage == "ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
        // Unknown member, wrong epochs.
        #expect(self.send(&group, self.request("nobody", epoch: 1)).errorCode == .unknownMemberID)
        #expect(self.send(&group, self.request("generated", epoch: 5)).errorCode == .fencedMemberEpoch)
        #expect(group.member("generated")?.memberEpoch == 1)
        // Epoch 0 is the previous epoch and the member owns nothing: a lost join response, accepted.
        #expect(self.send(&group, self.request("generated", epoch: 0)).errorCode == .none)
        // Bad regular expression.
        var regex = self.request("r", epoch: 0, names: nil)
        regex.subscribedTopicRegex = "orders-("
        #expect(self.send(&group, regex).errorCode == .invalidRegularExpression)
        #expect(group.member("r") == nil)
        // Group full.
        var small = GroupConfig()
        small.consumerMaxSize = 1
        #expect(self.send(&group, self.request("other", epoch: 0), config: small).errorCode == .groupMaxSizeReached)
        #expect(self.send(&group, self.request("generated", epoch: 1), config: small).errorCode == .none)
        // Leaving members that do not exist.
        #expect(self.send(&group, self.request("nobody", epoch: -1)).errorCode == .unknownMemberID)
        var unknownInstance = self.request("nobody", epoch: -2)
        unknownInstance.instanceID = "i"
        #expect(self.send(&group, unknownInstance).errorCode == .unknownMemberID)
    }

    @Test func staleEpochFromALostResponseIsAccepted() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        sim.add("a", topics: ["t"])
        sim.heartbeat("a")
        sim.add("b", topics: ["t"])
        sim.heartbeat("b")
        sim.converge()
        let member = sim.group.member("a")!
        // a's last response (with the bumped epoch) got lost: it comes back with its previous epoch and a subset.
        sim.consumers["a"]!.memberEpoch = member.previousMemberEpoch
        #expect(sim.heartbeat("a").errorCode == .none)
        // With partitions it does not have, it is fenced.
        sim.consumers["a"]!.memberEpoch = member.previousMemberEpoch
        sim.consumers["a"]!.owned[ConsumerGroupSimulation.topicID("t"), default: []].insert(99)
        #expect(sim.heartbeat("a", acknowledge: false).errorCode == .fencedMemberEpoch)
    }

    // MARK: Offsets, describe, delete

    @Test func offsetCommitValidation() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        // Empty group: commits without a member are fine (admin tools, manual assignment).
        #expect(sim.group.validateOffsetCommit(memberID: "", memberEpoch: -1) == .none)
        sim.add("a", topics: ["t"])
        sim.heartbeat("a")
        #expect(sim.group.validateOffsetCommit(memberID: "", memberEpoch: -1) == .unknownMemberID)
        #expect(sim.group.validateOffsetCommit(memberID: "a", memberEpoch: 1) == .none)
        #expect(sim.group.validateOffsetCommit(memberID: "a", memberEpoch: 0) == .staleMemberEpoch)
        #expect(sim.group.validateOffsetCommit(memberID: "a", memberEpoch: 2) == .staleMemberEpoch)
        #expect(sim.group.validateOffsetCommit(memberID: "a", memberEpoch: 1, apiVersion: 8) == .unsupportedVersion)
        #expect(sim.group.validateOffsetCommit(memberID: "a", memberEpoch: 1, apiVersion: 8, isTransactional: true) == .none)
        #expect(sim.group.validateOffsetCommit(memberID: "zz", memberEpoch: 1) == .unknownMemberID)
        #expect(sim.group.validateOffsetFetch(memberID: nil, memberEpoch: -1) == .none)
        #expect(sim.group.validateOffsetFetch(memberID: "a", memberEpoch: 1) == .none)
        #expect(sim.group.validateOffsetFetch(memberID: "a", memberEpoch: 7) == .staleMemberEpoch)
        #expect(sim.group.validateOffsetFetch(memberID: "zz", memberEpoch: 1) == .unknownMemberID)
    }

    @Test func describeShowsMembersAndAssignments() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        sim.add("a", topics: ["t"], instanceID: "ia")
        sim.heartbeat("a")
        let described = sim.group.describe(topics: sim.topics, config: sim.config)
        #expect(described.groupID == "g")
        #expect(described.groupState == "Stable")
        #expect(described.groupEpoch == 1 && described.assignmentEpoch == 1)
        #expect(described.assignorName == "uniform")
        #expect(described.members.count == 1)
        let member = described.members[0]
        #expect(member.memberID == "a" && member.instanceID == "ia" && member.memberEpoch == 1)
        #expect(member.clientID == "client-a" && member.clientHost == "/127.0.0.1")
        #expect(member.subscribedTopicNames == ["t"])
        #expect(member.assignment.topicPartitions.map(\.topicName) == ["t"])
        #expect(member.assignment.topicPartitions.first?.partitions == [0, 1])
        #expect(member.targetAssignment == member.assignment)
    }

    @Test func leavingEmptiesTheGroupAndDeletionRemovesIt() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        sim.add("a", topics: ["t"])
        sim.heartbeat("a")
        let left = sim.leave("a")
        #expect(left.errorCode == .none && left.memberEpoch == -1)
        #expect(sim.group.isEmpty && sim.group.stateName == "Empty")
        #expect(sim.group.exists)
        #expect(sim.replayed() == sim.group)
        let tombstones = sim.group.deletionRecords()
        #expect(tombstones.allSatisfy { $0.isTombstone })
        #expect(tombstones.map(\.recordType) == [6, 4, 3])
        sim.record(tombstones)
        for record in tombstones { sim.group.replay(record) }
        #expect(!sim.group.exists)
        #expect(sim.replayed() == ConsumerGroup(groupID: "g"))
    }

    @Test func deletionRecordsOfANonEmptyGroupFollowKafkasOrder() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        sim.add("a", topics: ["t"])
        sim.add("b", topics: ["t"])
        sim.heartbeat("a")
        sim.heartbeat("b")
        let tombstones = sim.group.deletionRecords()
        #expect(tombstones.map(\.recordType) == [8, 8, 7, 7, 6, 5, 5, 4, 3])
        var group = sim.group
        for record in tombstones { group.replay(record) }
        #expect(group == ConsumerGroup(groupID: "g"))
    }

    /// A broker restart in the middle of a rebalance: the group rebuilt from the records carries on where the live
    /// one stopped, and the members converge without noticing.
    @Test func restartInTheMiddleOfARebalance() {
        var sim = ConsumerGroupSimulation(topics: [("orders", 6)])
        sim.add("a", topics: ["orders"], instanceID: "static-a")
        sim.heartbeat("a")
        sim.add("b", topics: ["orders"])
        sim.add("c", regex: "ord.*")
        sim.heartbeat("b")
        sim.heartbeat("c")
        sim.heartbeat("a", acknowledge: false)
        #expect(sim.group.stateName == "Reconciling")
        let live = sim.group
        sim.group = sim.replayed()
        #expect(sim.group == live)
        sim.group.onLoaded(nowMs: sim.nowMs, config: sim.config)
        sim.converge()
        #expect(["a", "b", "c"].allSatisfy { sim.ownedCount($0) == 2 })
        #expect(sim.replayed() == sim.group)
    }

    @Test func timersAreArmedAgainAfterLoading() {
        var sim = ConsumerGroupSimulation(topics: [("t", 2)])
        sim.add("a", topics: ["t"])
        sim.heartbeat("a")
        var loaded = sim.replayed()
        #expect(loaded.nextDeadlineMs == nil)
        loaded.onLoaded(nowMs: 5000, config: sim.config)
        #expect(loaded.nextDeadlineMs == 50_000)
        #expect(loaded.tick(nowMs: 49_999, topics: sim.topics, config: sim.config).isEmpty)
        #expect(!loaded.tick(nowMs: 50_000, topics: sim.topics, config: sim.config).isEmpty)
        #expect(loaded.isEmpty)
    }

    // MARK: Replay

    /// Random sequences of joins, heartbeats (acknowledging or not), leaves, static restarts, topic changes and
    /// time passing: the group rebuilt from the records always equals the live one, and no partition is ever held
    /// by two members.
    @Test(arguments: 0..<12)
    func replayEqualsLiveState(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9 &+ 1)
        var sim = ConsumerGroupSimulation(topics: [("a", 4), ("b", 3), ("c-1", 2)])
        var next = 0
        for step in 0..<150 {
            let ids = sim.consumers.keys.sorted()
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<12 where ids.count < 6:
                next += 1
                let id = "m\(next)"
                let kind = Int.random(in: 0..<4, using: &random)
                sim.add(
                    id, topics: kind == 0 ? ["a"] : kind == 1 ? ["a", "b"] : [],
                    regex: kind >= 2 ? "c-.*|b" : nil, instanceID: kind == 3 ? "static-\(next % 3)" : nil,
                    assignor: Bool.random(using: &random) ? "range" : nil,
                    rebalanceTimeoutMs: Int32.random(in: 5000...30_000, using: &random))
                sim.heartbeat(id)
            case 12..<60 where !ids.isEmpty:
                sim.heartbeat(ids.randomElement(using: &random)!, acknowledge: Int.random(in: 0..<5, using: &random) > 0)
            case 60..<66 where !ids.isEmpty:
                sim.leave(ids.randomElement(using: &random)!)
            case 66..<70 where !ids.isEmpty:
                let id = ids.randomElement(using: &random)!
                if let instance = sim.consumers[id]!.instanceID {
                    let topics = sim.consumers[id]!.topics
                    let regex = sim.consumers[id]!.regex
                    sim.leave(id, staticLeave: true)
                    next += 1
                    sim.add("m\(next)", topics: topics, regex: regex, instanceID: instance)
                    sim.heartbeat("m\(next)")
                }
            case 70..<74:
                sim.createTopic("c-\(Int.random(in: 1...4, using: &random))", partitions: Int32.random(in: 1...5, using: &random))
                sim.topicsChanged()
            default:
                sim.advance(byMs: Int64.random(in: 100...12_000, using: &random))
                // Fenced or expired consumers find out on their next heartbeat and rejoin.
            }
            sim.checkExclusiveOwnership()
            if step % 25 == 24 { #expect(sim.replayed() == sim.group, "seed \(seed) step \(step)") }
        }
        #expect(sim.replayed() == sim.group, "seed \(seed)")
        // Whatever happened, the survivors converge.
        sim.converge(rounds: 40)
        #expect(sim.replayed() == sim.group, "seed \(seed) after convergence")
    }
}
