import NIOCore
import SpateCoordinators
import SpateWire
import Testing

/// Drives a ``GroupCoordinatorState`` like clients would, on a manual clock: every answer, immediate or delivered
/// later to a waiting request, is collected by pending ID.
struct GroupHarness {
    var state: GroupCoordinatorState
    var now: Int64 = 1_000_000
    var joins: [PendingID: JoinGroupResponse] = [:]
    var syncs: [PendingID: SyncGroupResponse] = [:]
    /// Every change the coordinator asked to store, in order.
    var changes: [GroupStoredChange] = []
    /// Every event the coordinator reported for the log, in order.
    var events: [GroupEvent] = []

    init(config: GroupConfig = GroupConfig()) {
        let counter = Counter()
        self.state = GroupCoordinatorState(config: config) { prefix in "\(prefix)-\(counter.next())" }
    }

    final class Counter: @unchecked Sendable {
        var value = 0
        func next() -> Int {
            self.value += 1
            return self.value
        }
    }

    mutating func absorb(_ output: GroupCoordinatorState.Output) {
        self.changes += output.changes
        self.events += output.events
        for (id, reply) in output.replies {
            switch reply {
            case .join(let response): self.joins[id] = response
            case .sync(let response): self.syncs[id] = response
            }
        }
    }

    static func subscription(_ topics: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        buffer.writeInteger(Int32(topics.count))
        for topic in topics {
            buffer.writeInteger(Int16(topic.utf8.count))
            buffer.writeString(topic)
        }
        buffer.writeInteger(Int32(-1))
        return buffer
    }

    /// Sends a JoinGroup; returns its pending ID and the immediate answer, if any.
    mutating func join(
        _ group: String, member: String = "", instance: String? = nil, client: String = "client",
        protocols: [(String, ByteBuffer)] = [("range", subscription(["t"]))], session: Int32 = 10_000,
        rebalance: Int32 = 30_000, version: Int16 = 9
    ) -> (PendingID, JoinGroupResponse?) {
        let request = JoinGroupRequest(
            groupID: GroupID(group), sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberID: member,
            groupInstanceID: instance, protocolType: "consumer",
            protocols: protocols.map { .init(name: $0.0, metadata: $0.1) })
        let (response, pending, output) = self.state.join(
            request, version: version, clientID: client, clientHost: "/127.0.0.1", nowMs: self.now)
        self.absorb(output)
        if let response { self.joins[pending] = response }
        return (pending, response)
    }

    /// A dynamic member's full join at v4+: MEMBER_ID_REQUIRED, then the rejoin with the given ID.
    mutating func joinNew(_ group: String, client: String = "client", protocols: [(String, ByteBuffer)]? = nil) -> (String, PendingID) {
        let (_, first) = self.join(group, client: client, protocols: protocols ?? [("range", Self.subscription(["t"]))])
        #expect(first?.errorCode == .memberIDRequired)
        let id = first!.memberID
        let (pending, _) = self.join(group, member: id, client: client, protocols: protocols ?? [("range", Self.subscription(["t"]))])
        return (id, pending)
    }

    mutating func sync(_ group: String, member: String, generation: Int32, assignments: [String: String] = [:], instance: String? = nil) -> PendingID {
        let request = SyncGroupRequest(
            groupID: GroupID(group), generationID: generation, memberID: member, groupInstanceID: instance,
            protocolType: "consumer",
            assignments: assignments.sorted { $0.key < $1.key }.map { .init(memberID: $0.key, assignment: ByteBuffer(string: $0.value)) })
        let (response, pending, output) = self.state.sync(request, version: 5, nowMs: self.now)
        self.absorb(output)
        if let response { self.syncs[pending] = response }
        return pending
    }

    mutating func heartbeat(_ group: String, member: String, generation: Int32, instance: String? = nil) -> ErrorCode {
        self.state.heartbeat(
            HeartbeatRequest(groupID: GroupID(group), generationID: generation, memberID: member, groupInstanceID: instance),
            nowMs: self.now
        ).errorCode
    }

    mutating func leave(_ group: String, member: String, instance: String? = nil) -> ErrorCode {
        let (response, output) = self.state.leave(
            LeaveGroupRequest(groupID: GroupID(group), members: [.init(memberID: member, groupInstanceID: instance)]),
            version: 5, nowMs: self.now)
        self.absorb(output)
        return response.members.first?.errorCode ?? response.errorCode
    }

    mutating func advance(by milliseconds: Int64) {
        self.now += milliseconds
        self.absorb(self.state.tick(nowMs: self.now))
    }

    mutating func commit(_ group: String, member: String = "", generation: Int32 = -1, offsets: [(String, Int32, Int64)], version: Int16 = 9) -> [ErrorCode] {
        var topics: [String: [OffsetCommitRequest.OffsetCommitRequestPartition]] = [:]
        for (topic, partition, offset) in offsets {
            topics[topic, default: []].append(.init(partitionIndex: partition, committedOffset: offset, committedMetadata: "m"))
        }
        let request = OffsetCommitRequest(
            groupID: GroupID(group), generationIDOrMemberEpoch: generation, memberID: member,
            topics: topics.sorted { $0.key < $1.key }.map { .init(name: TopicName($0.key), partitions: $0.value) })
        let (response, output) = self.state.commitOffsets(request, version: version, nowMs: self.now)
        self.absorb(output)
        return response.topics.flatMap { $0.partitions.map(\.errorCode) }
    }

    /// Joins `count` dynamic members and completes the first generation (initial delay, sync). Returns member IDs,
    /// the leader first.
    mutating func formGroup(_ group: String, count: Int) -> [String] {
        var members: [(String, PendingID)] = []
        for index in 0..<count { members.append(self.joinNew(group, client: "c\(index)")) }
        self.advance(by: Int64(self.state.config.initialRebalanceDelayMs))
        let generation = self.joins[members[0].1]!.generationID
        let leader = self.joins[members[0].1]!.leader
        var syncs: [PendingID] = []
        for (id, _) in members where id != leader { syncs.append(self.sync(group, member: id, generation: generation)) }
        let assignments = Dictionary(uniqueKeysWithValues: members.map { ($0.0, "assigned-\($0.0)") })
        syncs.append(self.sync(group, member: leader, generation: generation, assignments: assignments))
        for pending in syncs { #expect(self.syncs[pending]?.errorCode == ErrorCode.none) }
        return [leader] + members.map(\.0).filter { $0 != leader }
    }
}

@Suite("Classic group protocol")
struct ClassicGroupTests {
    @Test("A member needs its ID first (KIP-394), then joins after the initial delay, syncs and heartbeats")
    func singleMember() {
        var h = GroupHarness()
        let (_, first) = h.join("g")
        #expect(first?.errorCode == .memberIDRequired)
        let id = first!.memberID
        #expect(id.hasPrefix("client-"))
        let (pending, immediate) = h.join("g", member: id)
        #expect(immediate == nil)
        #expect(h.state.classicGroups["g"]?.state == .preparingRebalance)
        h.advance(by: 2999)
        #expect(h.joins[pending] == nil, "the initial rebalance delay is 3 s")
        h.advance(by: 1)
        let join = h.joins[pending]!
        #expect(join.errorCode == .none)
        #expect(join.generationID == 1)
        #expect(join.leader == id)
        #expect(join.protocolName == "range")
        #expect(join.members.map(\.memberID) == [id])
        let sync = h.sync("g", member: id, generation: 1, assignments: [id: "all"])
        #expect(h.syncs[sync]?.assignment == ByteBuffer(string: "all"))
        #expect(h.state.classicGroups["g"]?.state == .stable)
        #expect(h.heartbeat("g", member: id, generation: 1) == .none)
        #expect(h.heartbeat("g", member: id, generation: 0) == .illegalGeneration)
        #expect(h.heartbeat("g", member: "nobody", generation: 1) == .unknownMemberID)
        // The completed generation is stored.
        guard case .classicGroup("g", let snapshot?) = h.changes.last else {
            Issue.record("no group record")
            return
        }
        #expect(snapshot.generation == 1 && snapshot.members.map(\.memberID) == [id])
    }

    @Test("Three members share one generation; only the leader gets the member list; followers wait for the leader")
    func threeMembers() {
        var h = GroupHarness()
        let members = h.formGroup("g", count: 3)
        #expect(Set(members).count == 3)
        let group = h.state.classicGroups["g"]!
        #expect(group.generation == 1 && group.state == .stable)
        for id in members { #expect(group.members[id]?.assignment == ByteBuffer(string: "assigned-\(id)")) }
        let leaderJoin = h.joins.values.first { $0.memberID == members[0] && $0.errorCode == .none }!
        #expect(leaderJoin.members.count == 3)
        #expect(h.joins.values.filter { $0.memberID != members[0] && $0.errorCode == .none }.allSatisfy { $0.members.isEmpty })
    }

    @Test("A member that stops heartbeating is removed after its session timeout and the rest rebalance")
    func sessionExpiry() {
        var h = GroupHarness()
        let members = h.formGroup("g", count: 2)
        for _ in 0..<2 {
            h.advance(by: 4000)
            #expect(h.heartbeat("g", member: members[0], generation: 1) == .none)
        }
        #expect(h.state.classicGroups["g"]?.members[members[1]] != nil)
        h.advance(by: 4000)
        // members[1] last heard of at the sync, 12 s ago: gone (10 s session).
        #expect(h.state.classicGroups["g"]?.members[members[1]] == nil)
        #expect(h.state.classicGroups["g"]?.state == .preparingRebalance)
        // The broker logs why: the member, its session, and the rebalance that follows.
        #expect(h.events.suffix(2).map(\.message) == ["Removed a member", "Preparing to rebalance group"])
        #expect(h.events.suffix(2).first?.metadata["spate.member"] == members[1])
        #expect(h.events.suffix(2).first?.metadata["spate.reason"] == "expired (no heartbeat within 10000 ms)")
        #expect(h.heartbeat("g", member: members[0], generation: 1) == .rebalanceInProgress)
        let (pending, _) = h.join("g", member: members[0])
        let join = h.joins[pending]!
        #expect(join.generationID == 2 && join.leader == members[0] && join.members.count == 1)
        #expect(h.events.last?.message == "Stabilized group" && h.events.last?.metadata["spate.generation"] == "2")
    }

    @Test("A commit of the old generation is accepted while the group prepares a rebalance, refused once the join completes")
    func commitAroundRejoin() {
        // A client that commits right after sending its JoinGroup on the same connection (librdkafka in a cooperative
        // rebalance) has that commit processed after the JoinGroup's answer, as Kafka processes a connection's
        // requests one at a time: by then the generation has moved on and the commit gets ILLEGAL_GENERATION.
        var h = GroupHarness()
        let members = h.formGroup("g", count: 2)
        #expect(h.leave("g", member: members[1]) == .none)
        #expect(h.commit("g", member: members[0], generation: 1, offsets: [("t", 0, 5)]) == [.none])
        let (pending, _) = h.join("g", member: members[0])
        #expect(h.joins[pending]?.generationID == 2)
        #expect(h.commit("g", member: members[0], generation: 1, offsets: [("t", 0, 6)]) == [.illegalGeneration])
        #expect(h.commit("g", member: members[0], generation: 2, offsets: [("t", 0, 6)]) == [.rebalanceInProgress])
    }

    @Test("Members that do not rejoin within the rebalance timeout are left behind")
    func rebalanceTimeout() {
        var h = GroupHarness()
        let members = h.formGroup("g", count: 2)
        // members[0] changes its subscription: a rebalance.
        let (pending, _) = h.join("g", member: members[0], protocols: [("range", GroupHarness.subscription(["t", "u"]))], rebalance: 5000)
        #expect(h.state.classicGroups["g"]?.state == .preparingRebalance)
        // members[1] keeps heartbeating (told to rejoin) but never does.
        h.advance(by: 3000)
        #expect(h.heartbeat("g", member: members[1], generation: 1) == .rebalanceInProgress)
        h.advance(by: 27_000)  // the group's rebalance timeout is the largest of its members' (30 s)
        let join = h.joins[pending]!
        #expect(join.errorCode == .none && join.generationID == 2 && join.members.map(\.memberID) == [members[0]])
        #expect(h.heartbeat("g", member: members[1], generation: 1) == .unknownMemberID)
    }

    @Test("LeaveGroup triggers a rebalance that completes when the others rejoin")
    func leave() {
        var h = GroupHarness()
        let members = h.formGroup("g", count: 3)
        #expect(h.leave("g", member: members[2]) == .none)
        #expect(h.leave("g", member: "ghost") == .unknownMemberID)
        let (p0, _) = h.join("g", member: members[0])
        #expect(h.joins[p0] == nil)
        let (p1, _) = h.join("g", member: members[1])
        #expect(h.joins[p0]?.generationID == 2 && h.joins[p1]?.generationID == 2)
        #expect(h.joins[p0]?.members.count == 2)
    }

    @Test("Cooperative rebalancing: two consecutive generations, assignments relayed as the leader sends them")
    func cooperativeTwoPhase() {
        var h = GroupHarness()
        let coop = [("cooperative-sticky", GroupHarness.subscription(["t"]))]
        let (a, pa) = h.joinNew("g", client: "a", protocols: coop)
        h.advance(by: 3000)
        #expect(h.joins[pa]?.protocolName == "cooperative-sticky")
        _ = h.sync("g", member: a, generation: 1, assignments: [a: "t0,t1"])
        // b joins: a keeps consuming while it rejoins (it revokes nothing in the first phase).
        let (b, pb) = h.joinNew("g", client: "b", protocols: coop)
        #expect(h.heartbeat("g", member: a, generation: 1) == .rebalanceInProgress)
        let (pa2, _) = h.join("g", member: a, protocols: coop)
        #expect(h.joins[pa2]?.generationID == 2 && h.joins[pb]?.generationID == 2)
        let sb = h.sync("g", member: b, generation: 2)
        _ = h.sync("g", member: a, generation: 2, assignments: [a: "t0", b: ""])
        #expect(h.syncs[sb]?.assignment == ByteBuffer())
        // Second phase: a revoked t1 and rejoins; b gets it.
        let (pa3, _) = h.join("g", member: a, protocols: [("cooperative-sticky", ByteBuffer(string: "owned t0"))])
        let (pb3, _) = h.join("g", member: b, protocols: coop)
        #expect(h.joins[pa3]?.generationID == 3 && h.joins[pb3]?.generationID == 3)
        let sb3 = h.sync("g", member: b, generation: 3)
        _ = h.sync("g", member: a, generation: 3, assignments: [a: "t0", b: "t1"])
        #expect(h.syncs[sb3]?.assignment == ByteBuffer(string: "t1"))
    }

    @Test("A static member restarting within its session takes its old place without a rebalance (KIP-345)")
    func staticReplacement() {
        var h = GroupHarness()
        let (p1, r1) = h.join("g", instance: "i1", client: "a")
        #expect(r1 == nil, "static members need no MEMBER_ID_REQUIRED round")
        let (p2, _) = h.join("g", instance: "i2", client: "b")
        h.advance(by: 3000)
        let old = h.joins[p1]!.memberID
        let other = h.joins[p2]!.memberID
        let leader = h.joins[p1]!.leader
        let s1 = h.sync("g", member: old, generation: 1, assignments: [old: "A", other: "B"], instance: "i1")
        _ = h.sync("g", member: other, generation: 1, assignments: leader == other ? [old: "A", other: "B"] : [:], instance: "i2")
        #expect(h.syncs[s1]?.assignment == ByteBuffer(string: "A"))
        // i1 restarts: a new member ID, same generation, no rebalance.
        let (_, again) = h.join("g", instance: "i1", client: "a")
        let rejoined = again!
        #expect(rejoined.errorCode == .none && rejoined.generationID == 1 && rejoined.memberID != old)
        #expect(h.state.classicGroups["g"]?.state == .stable)
        let s2 = h.sync("g", member: rejoined.memberID, generation: 1, instance: "i1")
        #expect(h.syncs[s2]?.assignment == ByteBuffer(string: "A"))
        // The old incarnation is fenced.
        #expect(h.heartbeat("g", member: old, generation: 1, instance: "i1") == .fencedInstanceID)
        #expect(h.heartbeat("g", member: other, generation: 1, instance: "i2") == .none)
    }

    @Test("OffsetCommit checks member and generation; a simple consumer may commit only to a group without members")
    func offsetCommitValidation() {
        var h = GroupHarness()
        #expect(h.commit("solo", offsets: [("t", 0, 5)]) == [.none])
        #expect(h.state.fetchOffsets(group: "solo", partitions: nil)[GroupTopicPartition(topic: "t", partition: 0)]??.offset == 5)
        #expect(h.commit("none", member: "x", generation: 3, offsets: [("t", 0, 5)]) == [.groupIDNotFound])
        #expect(h.commit("none", member: "x", generation: 3, offsets: [("t", 0, 5)], version: 8) == [.illegalGeneration])
        let members = h.formGroup("g", count: 2)
        #expect(h.commit("g", member: members[0], generation: 1, offsets: [("t", 0, 10), ("t", 1, 11)]) == [.none, .none])
        #expect(h.commit("g", member: members[0], generation: 0, offsets: [("t", 0, 10)]) == [.illegalGeneration])
        #expect(h.commit("g", member: "ghost", generation: 1, offsets: [("t", 0, 10)]) == [.unknownMemberID])
        #expect(h.commit("g", offsets: [("t", 0, 10)]) == [.unknownMemberID], "a simple commit to an active group")
        // During the join phase the current generation may still commit (before revoking); during the sync phase not.
        _ = h.join("g", member: members[0])
        #expect(h.commit("g", member: members[1], generation: 1, offsets: [("t", 1, 12)]) == [.none])
        _ = h.join("g", member: members[1])
        #expect(h.state.classicGroups["g"]?.state == .completingRebalance)
        #expect(h.commit("g", member: members[1], generation: 2, offsets: [("t", 1, 13)]) == [.rebalanceInProgress])
    }

    @Test("Offsets of an empty group expire after offsets.retention.minutes counted from when it emptied")
    func offsetExpiry() {
        var config = GroupConfig()
        config.offsetsRetentionMs = 60_000
        var h = GroupHarness(config: config)
        let members = h.formGroup("g", count: 1)
        _ = h.commit("g", member: members[0], generation: 1, offsets: [("t", 0, 1)])
        for _ in 0..<24 {
            h.advance(by: 5000)
            #expect(h.heartbeat("g", member: members[0], generation: 1) == .none)
        }
        #expect(h.state.expireOffsets(nowMs: h.now).changes.isEmpty, "a group with members keeps offsets of topics it consumes")
        #expect(h.leave("g", member: members[0]) == .none)
        #expect(h.state.classicGroups["g"]?.state == .empty)
        h.now += 59_999
        #expect(h.state.expireOffsets(nowMs: h.now).changes.isEmpty)
        h.now += 1
        let expired = h.state.expireOffsets(nowMs: h.now)
        #expect(expired.changes == [
            .offset(group: "g", GroupTopicPartition(topic: "t", partition: 0), nil), .classicGroup(id: "g", nil),
        ])
        #expect(h.state.groupIDs.isEmpty)
    }

    @Test("group.max.size: a join beyond it gets GROUP_MAX_SIZE_REACHED")
    func maxSize() {
        var config = GroupConfig()
        config.maxSize = 2
        var h = GroupHarness(config: config)
        _ = h.joinNew("g", client: "a")
        _ = h.joinNew("g", client: "b")
        let (_, third) = h.join("g", client: "c")
        #expect(third?.errorCode == .groupMaxSizeReached)
        #expect(h.state.classicGroups["g"]?.members.count == 2)
    }

    @Test("Session timeouts outside group.min/max.session.timeout.ms and mismatched protocols are refused")
    func joinValidation() {
        var h = GroupHarness()
        #expect(h.join("g", session: 5999).1?.errorCode == .invalidSessionTimeout)
        #expect(h.join("g", session: 1_800_001).1?.errorCode == .invalidSessionTimeout)
        _ = h.joinNew("g", client: "a")
        #expect(h.join("g", protocols: [("roundrobin", ByteBuffer())]).1?.errorCode == .inconsistentGroupProtocol)
        #expect(h.join("", client: "x").1?.errorCode == .invalidGroupID)
    }

    @Test("DeleteGroups refuses a group with members and removes an empty one with its offsets")
    func deleteGroups() {
        var h = GroupHarness()
        let members = h.formGroup("g", count: 1)
        _ = h.commit("g", member: members[0], generation: 1, offsets: [("t", 0, 1)])
        #expect(h.state.deleteGroup("g", nowMs: h.now).0 == .nonEmptyGroup)
        #expect(h.leave("g", member: members[0]) == .none)
        #expect(h.state.deleteGroup("g", nowMs: h.now).0 == .none)
        #expect(h.state.deleteGroup("g", nowMs: h.now).0 == .groupIDNotFound)
        #expect(h.state.describe("g").groupState == "Dead")
    }

    @Test("Replaying the stored changes rebuilds the same groups and offsets", arguments: 0..<20)
    func replayEqualsLive(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var h = GroupHarness()
        var live: [String: (id: String, generation: Int32)] = [:]
        for _ in 0..<60 {
            let group = "g\(random.next() % 3)"
            switch random.next() % 6 {
            case 0:
                let (id, _) = h.joinNew(group, client: "c\(random.next() % 100)")
                live[id] = (group, 0)
            case 1:
                h.advance(by: Int64(random.next() % 5000))
            case 2:
                if let (id, member) = live.randomElement(using: &random) {
                    let generation = h.state.classicGroups[member.id]?.generation ?? 0
                    let leader = h.state.classicGroups[member.id]?.leaderID == id
                    let everyone = h.state.classicGroups[member.id]?.members.keys.map { ($0, "a-\($0)") } ?? []
                    _ = h.sync(member.id, member: id, generation: generation, assignments: leader ? Dictionary(uniqueKeysWithValues: everyone) : [:])
                }
            case 3:
                if let (id, member) = live.randomElement(using: &random) {
                    _ = h.leave(member.id, member: id)
                    live.removeValue(forKey: id)
                }
            case 4:
                if let (id, member) = live.randomElement(using: &random) {
                    let generation = h.state.classicGroups[member.id]?.generation ?? 0
                    _ = h.commit(member.id, member: id, generation: generation, offsets: [("t", Int32(random.next() % 4), Int64(random.next() % 1000))])
                }
            default:
                _ = h.commit("simple\(random.next() % 2)", offsets: [("u", 0, Int64(random.next() % 1000))])
            }
        }
        // Through the bytes written to __consumer_offsets and read back.
        var replayed = GroupCoordinatorState { $0 }
        for change in h.changes {
            let decoded = try GroupStoredChange(GroupCoordinatorRecord(decoding: change.record.encoded()))
            replayed.replay(decoded, nowMs: h.now)
        }
        #expect(replayed.offsets == h.state.offsets)
        // Every group as stored: the last stored form of each live group equals the replayed one.
        var lastStored: [String: ClassicGroupSnapshot?] = [:]
        for case .classicGroup(let id, let snapshot) in h.changes { lastStored[id] = snapshot }
        for (id, snapshot) in lastStored {
            #expect(replayed.classicGroups[id]?.generation == snapshot?.generation)
            #expect(replayed.classicGroups[id]?.orderedMembers.map(\.memberID) == snapshot?.members.map(\.memberID))
            #expect(replayed.classicGroups[id]?.orderedMembers.map(\.assignment) == snapshot?.members.map(\.assignment))
        }
        // A stable live group and its replay agree on generation, leader and assignments.
        for (id, group) in h.state.classicGroups where group.state == .stable {
            #expect(replayed.classicGroups[id]?.generation == group.generation)
            #expect(replayed.classicGroups[id]?.leaderID == group.leaderID)
            #expect(replayed.classicGroups[id]?.orderedMembers.map(\.assignment) == group.orderedMembers.map(\.assignment))
        }
    }
}
