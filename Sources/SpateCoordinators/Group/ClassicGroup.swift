public import NIOCore
public import SpateWire

/// A request waiting for the group to reach a point (a JoinGroup waiting for the rebalance to complete, a SyncGroup
/// waiting for the leader's assignment). The coordinator's owner maps it to whatever resumes the caller.
public struct PendingID: Hashable, Sendable, Comparable {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: PendingID, b: PendingID) -> Bool { a.rawValue < b.rawValue }
}

/// The answer to a waiting request.
public enum GroupReply: Hashable, Sendable {
    case join(JoinGroupResponse)
    case sync(SyncGroupResponse)
}

/// The states of a classic group, with the names Kafka's DescribeGroups and ListGroups show.
public enum ClassicGroupState: String, Hashable, Sendable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"
}

/// A member of a classic group.
public struct ClassicMember: Hashable, Sendable {
    public var memberID: String
    public var groupInstanceID: String?
    public var clientID: String
    public var clientHost: String
    public var rebalanceTimeoutMs: Int32
    public var sessionTimeoutMs: Int32
    public var protocolType: String
    /// The protocols the member supports, in its order of preference.
    public var protocols: [(name: String, metadata: ByteBuffer)]
    /// The assignment of the current generation, from the leader's SyncGroup.
    public var assignment: ByteBuffer = ByteBuffer()

    /// A JoinGroup waiting for the rebalance to complete, and its request version.
    var pendingJoin: (id: PendingID, version: Int16)?
    /// A SyncGroup waiting for the leader's assignment, and its request version.
    var pendingSync: (id: PendingID, version: Int16)?
    /// When the member's session ends unless it heartbeats.
    var sessionDeadlineMs: Int64 = .max

    public var isStatic: Bool { self.groupInstanceID != nil }

    func metadata(for protocolName: String?) -> ByteBuffer {
        self.protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
    }

    func sameProtocols(_ other: [(name: String, metadata: ByteBuffer)]) -> Bool {
        self.protocols.count == other.count
            && zip(self.protocols, other).allSatisfy { $0.name == $1.name && $0.metadata == $1.metadata }
    }

    public static func == (a: ClassicMember, b: ClassicMember) -> Bool {
        a.memberID == b.memberID && a.groupInstanceID == b.groupInstanceID && a.clientID == b.clientID
            && a.clientHost == b.clientHost && a.rebalanceTimeoutMs == b.rebalanceTimeoutMs
            && a.sessionTimeoutMs == b.sessionTimeoutMs && a.protocolType == b.protocolType && a.sameProtocols(b.protocols)
            && a.assignment == b.assignment
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.memberID)
        hasher.combine(self.groupInstanceID)
    }

    public init(
        memberID: String, groupInstanceID: String?, clientID: String, clientHost: String, rebalanceTimeoutMs: Int32,
        sessionTimeoutMs: Int32, protocolType: String, protocols: [(name: String, metadata: ByteBuffer)],
        assignment: ByteBuffer = ByteBuffer()
    ) {
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.clientID = clientID
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.assignment = assignment
    }
}

/// What a call changed beyond its own answer: waiting requests to answer, and whether the group's persisted form
/// (its `GroupMetadataValue` record) must be written again.
public struct GroupEffects: Sendable {
    public var replies: [(PendingID, GroupReply)] = []
    /// The group's stored form changed (a generation completed its assignment, the group emptied or died).
    public var groupChanged = false
    /// What happened to the group, for the broker's log (rebalances, members removed and why), as Kafka logs them.
    public var events: [GroupEvent] = []

    public init() {}

    mutating func reply(_ id: PendingID, _ reply: GroupReply) { self.replies.append((id, reply)) }

    mutating func event(_ message: String, _ metadata: [String: String] = [:]) {
        self.events.append(GroupEvent(message: message, metadata: metadata))
    }
}

/// One thing that happened to a group (a rebalance began or completed, a member was removed), for the log.
public struct GroupEvent: Sendable, Hashable {
    public var message: String
    public var metadata: [String: String]
}

/// A group on Kafka's classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup): a state machine driven by
/// requests and a clock (`nowMs`), after Kafka's `ClassicGroup` and `GroupMetadataManager`. The broker is
/// assignor-agnostic: the leader member computes assignments, eager or cooperative, and the coordinator only relays
/// them.
public struct ClassicGroup: Sendable {
    public let groupID: String
    public internal(set) var state: ClassicGroupState = .empty
    public internal(set) var generation: Int32 = 0
    public internal(set) var protocolType: String?
    public internal(set) var protocolName: String?
    public internal(set) var leaderID: String?
    /// Members by ID, and the order they joined in (the first becomes leader when there is none).
    public internal(set) var members: [String: ClassicMember] = [:]
    var memberOrder: [String] = []
    /// Static members: `group.instance.id` → member ID.
    var staticMembers: [String: String] = [:]
    /// Members that were given an ID (MEMBER_ID_REQUIRED, KIP-394) and must rejoin with it before this deadline.
    var pendingMembers: [String: Int64] = [:]
    /// PreparingRebalance: when the join phase ends even if members are missing; CompletingRebalance: when the
    /// leader's assignment is given up on.
    var rebalanceDeadlineMs: Int64?
    /// The initial rebalance delay of an empty group (`group.initial.rebalance.delay.ms`): when it may end at the
    /// latest, each new member pushing the deadline by the delay again.
    var initialDelayLimitMs: Int64?
    /// When the group entered its current state (GroupMetadataValue's `currentStateTimestamp`).
    public internal(set) var stateTimestampMs: Int64

    public init(groupID: String, nowMs: Int64) {
        self.groupID = groupID
        self.stateTimestampMs = nowMs
    }

    public var orderedMembers: [ClassicMember] { self.memberOrder.compactMap { self.members[$0] } }

    /// The earliest time ``tick(nowMs:config:effects:)`` has something to do.
    public var nextDeadlineMs: Int64? {
        var deadline = self.rebalanceDeadlineMs
        for member in self.members.values where member.pendingJoin == nil && member.pendingSync == nil {
            deadline = min(deadline ?? .max, member.sessionDeadlineMs)
        }
        for pending in self.pendingMembers.values { deadline = min(deadline ?? .max, pending) }
        return deadline
    }

    // MARK: JoinGroup

    /// Handles a JoinGroup. Returns the immediate answer, or nil when the member waits (its answer comes later
    /// through `effects`, under `pending`).
    public mutating func join(
        _ request: JoinGroupRequest, version: Int16, pending: PendingID, clientID: String, clientHost: String,
        newMemberID: String, nowMs: Int64, config: GroupConfig, effects: inout GroupEffects
    ) -> JoinGroupResponse? {
        let protocols = request.protocols.map { (name: $0.name, metadata: $0.metadata) }
        if request.sessionTimeoutMs < config.minSessionTimeoutMs || request.sessionTimeoutMs > config.maxSessionTimeoutMs {
            return Self.joinError(.invalidSessionTimeout, memberID: request.memberID, version: version)
        }
        guard !request.protocolType.isEmpty, !protocols.isEmpty, self.supports(request.protocolType, protocols) else {
            return Self.joinError(.inconsistentGroupProtocol, memberID: request.memberID, version: version)
        }
        let rebalanceTimeout = request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs
        let instanceID = request.groupInstanceID
        var member = ClassicMember(
            memberID: request.memberID, groupInstanceID: instanceID, clientID: clientID, clientHost: clientHost,
            rebalanceTimeoutMs: rebalanceTimeout, sessionTimeoutMs: request.sessionTimeoutMs,
            protocolType: request.protocolType, protocols: protocols)

        if request.memberID.isEmpty {
            // A new member (or a static member coming back with a new incarnation).
            if let instanceID, let oldID = self.staticMembers[instanceID], self.members[oldID] != nil {
                return self.replaceStaticMember(
                    oldID: oldID, with: &member, newMemberID: newMemberID, version: version, pending: pending,
                    nowMs: nowMs, config: config, effects: &effects)
            }
            if self.members.count + self.pendingMembers.count >= config.maxSize {
                return Self.joinError(.groupMaxSizeReached, memberID: "", version: version)
            }
            member.memberID = newMemberID
            if instanceID == nil && version >= 4 {
                // KIP-394: the member must rejoin with the ID we give it, so that a lost response leaves no ghost.
                self.pendingMembers[newMemberID] = nowMs + Int64(request.sessionTimeoutMs)
                return Self.joinError(.memberIDRequired, memberID: newMemberID, version: version)
            }
            self.addAndRebalance(&member, version: version, pending: pending, nowMs: nowMs, config: config, effects: &effects)
            return nil
        }

        // A member that knows its ID.
        if self.pendingMembers.removeValue(forKey: request.memberID) != nil {
            if self.members.count >= config.maxSize {
                return Self.joinError(.groupMaxSizeReached, memberID: request.memberID, version: version)
            }
            self.addAndRebalance(&member, version: version, pending: pending, nowMs: nowMs, config: config, effects: &effects)
            return nil
        }
        if let error = self.validateMember(request.memberID, instanceID: instanceID) {
            return Self.joinError(error, memberID: request.memberID, version: version)
        }
        guard var existing = self.members[request.memberID] else {
            return Self.joinError(.unknownMemberID, memberID: request.memberID, version: version)
        }
        let unchanged = existing.sameProtocols(protocols)
        existing.clientID = clientID
        existing.clientHost = clientHost
        existing.rebalanceTimeoutMs = rebalanceTimeout
        existing.sessionTimeoutMs = request.sessionTimeoutMs
        existing.protocols = protocols
        switch self.state {
        case .preparingRebalance:
            if let old = existing.pendingJoin {
                // A retried join: the older request is answered as superseded.
                effects.reply(old.id, .join(Self.joinError(.unknownMemberID, memberID: existing.memberID, version: old.version)))
            }
            existing.pendingJoin = (pending, version)
            existing.sessionDeadlineMs = .max
            self.members[existing.memberID] = existing
            self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
            return nil
        case .completingRebalance where unchanged, .stable where unchanged && existing.memberID != self.leaderID:
            // Nothing changed: the member gets the current generation again (a follower that lost its response).
            existing.sessionDeadlineMs = nowMs + Int64(existing.sessionTimeoutMs)
            self.members[existing.memberID] = existing
            return self.joinResponse(for: existing.memberID, version: version)
        case .completingRebalance, .stable:
            existing.pendingJoin = (pending, version)
            existing.sessionDeadlineMs = .max
            self.members[existing.memberID] = existing
            let reason = existing.memberID == self.leaderID ? "the leader rejoined" : "a member rejoined with new metadata"
            self.prepareRebalance(reason: "\(reason) (\(existing.memberID))", nowMs: nowMs, config: config, effects: &effects)
            return nil
        case .empty, .dead:
            return Self.joinError(.unknownMemberID, memberID: request.memberID, version: version)
        }
    }

    /// A static member rejoined without its member ID (a restarted instance, KIP-345): it takes the old member's
    /// place. In a stable group with unchanged protocols there is no rebalance: it gets the current generation back.
    mutating func replaceStaticMember(
        oldID: String, with member: inout ClassicMember, newMemberID: String, version: Int16, pending: PendingID,
        nowMs: Int64, config: GroupConfig, effects: inout GroupEffects
    ) -> JoinGroupResponse? {
        guard let old = self.members.removeValue(forKey: oldID) else { return nil }
        // The previous incarnation's waiting requests are fenced.
        if let join = old.pendingJoin {
            effects.reply(join.id, .join(Self.joinError(.fencedInstanceID, memberID: oldID, version: join.version)))
        }
        if let sync = old.pendingSync {
            effects.reply(sync.id, .sync(Self.syncError(.fencedInstanceID, version: sync.version)))
        }
        member.memberID = newMemberID
        member.assignment = old.assignment
        self.members[newMemberID] = member
        if let index = self.memberOrder.firstIndex(of: oldID) { self.memberOrder[index] = newMemberID }
        self.staticMembers[member.groupInstanceID!] = newMemberID
        if self.leaderID == oldID { self.leaderID = newMemberID }
        switch self.state {
        case .stable where old.protocolType == member.protocolType && self.selectProtocol() == self.protocolName:
            // As Kafka: when the group would select the same protocol, the restarted instance changes nothing (its
            // metadata may differ, e.g. no owned partitions yet), so no rebalance; the group is stored again.
            self.members[newMemberID]!.sessionDeadlineMs = nowMs + Int64(member.sessionTimeoutMs)
            effects.groupChanged = true
            var response = self.joinResponse(for: newMemberID, version: version)
            if newMemberID == self.leaderID {
                // The leader gets the member list; v9+ (KIP-814) is told its assignment still stands. An older leader
                // computes one anyway, but its SyncGroup in the stable group only returns the current assignment.
                response.skipAssignment = version >= 9
                response.members = self.orderedMembers.map {
                    .init(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, metadata: $0.metadata(for: self.protocolName))
                }
            }
            return response
        case .preparingRebalance:
            self.members[newMemberID]!.pendingJoin = (pending, version)
            self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
            return nil
        default:
            self.members[newMemberID]!.pendingJoin = (pending, version)
            self.prepareRebalance(
                reason: "static member \(member.groupInstanceID!) rejoined as \(newMemberID)", nowMs: nowMs, config: config,
                effects: &effects)
            return nil
        }
    }

    mutating func addAndRebalance(
        _ member: inout ClassicMember, version: Int16, pending: PendingID, nowMs: Int64, config: GroupConfig,
        effects: inout GroupEffects
    ) {
        member.pendingJoin = (pending, version)
        if self.members.isEmpty { self.protocolType = member.protocolType }
        if let instanceID = member.groupInstanceID { self.staticMembers[instanceID] = member.memberID }
        self.members[member.memberID] = member
        self.memberOrder.append(member.memberID)
        if self.leaderID == nil { self.leaderID = member.memberID }
        if self.state == .preparingRebalance, let limit = self.initialDelayLimitMs {
            // Each member arriving during the initial delay extends it, up to the rebalance timeout.
            self.rebalanceDeadlineMs = min(nowMs + Int64(config.initialRebalanceDelayMs), limit)
        }
        self.prepareRebalance(reason: "a new member joined (\(member.memberID))", nowMs: nowMs, config: config, effects: &effects)
    }

    /// Moves the group to PreparingRebalance (if it is not there yet) and completes the join phase if it can.
    mutating func prepareRebalance(reason: String, nowMs: Int64, config: GroupConfig, effects: inout GroupEffects) {
        if self.state != .preparingRebalance {
            effects.event(
                "Preparing to rebalance group",
                ["spate.group": self.groupID, "spate.state": self.state.rawValue, "spate.generation": "\(self.generation)",
                 "spate.reason": reason])
            if self.state == .completingRebalance {
                // Members waiting for the previous generation's assignment must rejoin.
                for id in self.memberOrder {
                    if let sync = self.members[id]?.pendingSync {
                        effects.reply(sync.id, .sync(Self.syncError(.rebalanceInProgress, version: sync.version)))
                        self.members[id]!.pendingSync = nil
                    }
                }
            }
            let timeout = Int64(self.members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
            if self.state == .empty && config.initialRebalanceDelayMs > 0 {
                self.initialDelayLimitMs = nowMs + max(timeout, Int64(config.initialRebalanceDelayMs))
                self.rebalanceDeadlineMs = min(nowMs + Int64(config.initialRebalanceDelayMs), self.initialDelayLimitMs!)
            } else {
                self.initialDelayLimitMs = nil
                self.rebalanceDeadlineMs = nowMs + timeout
            }
            self.transition(to: .preparingRebalance, nowMs: nowMs)
        }
        self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
    }

    /// Ends the join phase once every member has rejoined (and no initial delay is running), or when forced by the
    /// rebalance deadline: members that did not rejoin are removed, the generation advances, a protocol is chosen
    /// and every waiting member gets its answer (the leader with every member's metadata).
    mutating func completeJoinIfReady(nowMs: Int64, config: GroupConfig, effects: inout GroupEffects, force: Bool = false) {
        guard self.state == .preparingRebalance else { return }
        let everyoneJoined = self.members.values.allSatisfy { $0.pendingJoin != nil } && self.pendingMembers.isEmpty
        guard force || (everyoneJoined && self.initialDelayLimitMs == nil) else { return }
        // Dynamic members that did not rejoin in time leave; static ones stay until their session expires.
        for id in self.memberOrder where self.members[id]?.pendingJoin == nil && self.members[id]?.isStatic == false {
            effects.event("Removed a member that did not rejoin in time", ["spate.group": self.groupID, "spate.member": id])
            self.removeMember(id)
        }
        self.initialDelayLimitMs = nil
        self.rebalanceDeadlineMs = nil
        self.generation += 1
        guard !self.members.isEmpty else {
            effects.event("Group is empty", ["spate.group": self.groupID, "spate.generation": "\(self.generation)"])
            // The protocol type stays: offsets of an empty consumer group expire counted from when it emptied.
            self.protocolName = nil
            self.leaderID = nil
            self.transition(to: .empty, nowMs: nowMs)
            effects.groupChanged = true
            return
        }
        self.protocolName = self.selectProtocol()
        if self.leaderID == nil || self.members[self.leaderID!]?.pendingJoin == nil {
            self.leaderID = self.memberOrder.first { self.members[$0]?.pendingJoin != nil } ?? self.memberOrder.first
        }
        self.transition(to: .completingRebalance, nowMs: nowMs)
        effects.event(
            "Stabilized group",
            ["spate.group": self.groupID, "spate.generation": "\(self.generation)", "spate.protocol": self.protocolName ?? "",
             "spate.members": "\(self.members.count)", "spate.leader": self.leaderID ?? ""])
        self.rebalanceDeadlineMs = nowMs + Int64(self.members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
        for id in self.memberOrder {
            guard var member = self.members[id] else { continue }
            member.assignment = ByteBuffer()
            member.sessionDeadlineMs = nowMs + Int64(member.sessionTimeoutMs)
            if let join = member.pendingJoin {
                var response = self.joinResponse(for: id, version: join.version)
                if id == self.leaderID {
                    response.members = self.orderedMembers.map {
                        .init(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, metadata: $0.metadata(for: self.protocolName))
                    }
                }
                effects.reply(join.id, .join(response))
                member.pendingJoin = nil
            }
            self.members[id] = member
        }
    }

    /// The protocol every member supports that most members prefer (each votes for its first supported one);
    /// ties go to the earliest vote, as Kafka's `ClassicGroup.selectProtocol` uses the first maximum.
    func selectProtocol() -> String? {
        let members = self.orderedMembers
        guard let first = members.first else { return nil }
        let candidates = first.protocols.map(\.name).filter { name in
            members.allSatisfy { member in member.protocols.contains { $0.name == name } }
        }
        var votes: [String: Int] = [:]
        for member in members {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) { votes[choice.name, default: 0] += 1 }
        }
        return candidates.max { (votes[$0] ?? 0) < (votes[$1] ?? 0) }
    }

    /// Whether a member with these protocols may join: same protocol type, and at least one protocol that every
    /// current member supports too.
    func supports(_ protocolType: String, _ protocols: [(name: String, metadata: ByteBuffer)]) -> Bool {
        if self.members.isEmpty { return self.state == .empty || self.protocolType == nil || self.protocolType == protocolType }
        guard self.protocolType == protocolType else { return false }
        return protocols.contains { offered in
            self.members.values.allSatisfy { member in member.protocols.contains { $0.name == offered.name } }
        }
    }

    func joinResponse(for memberID: String, version: Int16) -> JoinGroupResponse {
        var response = JoinGroupResponse()
        response.generationID = self.generation
        response.protocolType = self.protocolType
        response.protocolName = self.protocolName ?? (version >= 7 ? nil : "")
        response.leader = self.leaderID ?? ""
        response.memberID = memberID
        return response
    }

    static func joinError(_ code: ErrorCode, memberID: String, version: Int16) -> JoinGroupResponse {
        var response = JoinGroupResponse()
        response.errorCode = code
        response.generationID = -1
        response.protocolName = version >= 7 ? nil : ""
        response.memberID = memberID
        return response
    }

    // MARK: SyncGroup

    /// Handles a SyncGroup. Returns the immediate answer, or nil when the member waits for the leader.
    public mutating func sync(
        _ request: SyncGroupRequest, version: Int16, pending: PendingID, nowMs: Int64, config: GroupConfig,
        effects: inout GroupEffects
    ) -> SyncGroupResponse? {
        if let error = self.validateMember(request.memberID, instanceID: request.groupInstanceID) {
            return Self.syncError(error, version: version)
        }
        guard self.members[request.memberID] != nil else { return Self.syncError(.unknownMemberID, version: version) }
        guard request.generationID == self.generation else { return Self.syncError(.illegalGeneration, version: version) }
        if let type = request.protocolType, type != self.protocolType {
            return Self.syncError(.inconsistentGroupProtocol, version: version)
        }
        if let name = request.protocolName, name != self.protocolName {
            return Self.syncError(.inconsistentGroupProtocol, version: version)
        }
        switch self.state {
        case .empty, .dead:
            return Self.syncError(.unknownMemberID, version: version)
        case .preparingRebalance:
            return Self.syncError(.rebalanceInProgress, version: version)
        case .stable:
            self.members[request.memberID]!.sessionDeadlineMs = nowMs + Int64(self.members[request.memberID]!.sessionTimeoutMs)
            return self.syncResponse(for: request.memberID, version: version)
        case .completingRebalance:
            if let old = self.members[request.memberID]!.pendingSync {
                effects.reply(old.id, .sync(Self.syncError(.unknownMemberID, version: old.version)))
            }
            self.members[request.memberID]!.pendingSync = (pending, version)
            if request.memberID == self.leaderID {
                var assignments: [String: ByteBuffer] = [:]
                for assignment in request.assignments { assignments[assignment.memberID] = assignment.assignment }
                for id in self.memberOrder { self.members[id]!.assignment = assignments[id] ?? ByteBuffer() }
                self.rebalanceDeadlineMs = nil
                self.transition(to: .stable, nowMs: nowMs)
                effects.groupChanged = true
                effects.event(
                    "Received the leader's assignment", ["spate.group": self.groupID, "spate.generation": "\(self.generation)"])
                for id in self.memberOrder {
                    guard let sync = self.members[id]?.pendingSync else { continue }
                    self.members[id]!.pendingSync = nil
                    self.members[id]!.sessionDeadlineMs = nowMs + Int64(self.members[id]!.sessionTimeoutMs)
                    effects.reply(sync.id, .sync(self.syncResponse(for: id, version: sync.version)))
                }
            }
            return nil
        }
    }

    func syncResponse(for memberID: String, version: Int16) -> SyncGroupResponse {
        SyncGroupResponse(
            errorCode: .none, protocolType: self.protocolType, protocolName: self.protocolName,
            assignment: self.members[memberID]?.assignment ?? ByteBuffer())
    }

    static func syncError(_ code: ErrorCode, version: Int16) -> SyncGroupResponse {
        SyncGroupResponse(errorCode: code, assignment: ByteBuffer())
    }

    // MARK: Heartbeat and LeaveGroup

    public mutating func heartbeat(_ request: HeartbeatRequest, nowMs: Int64) -> ErrorCode {
        if let error = self.validateMember(request.memberID, instanceID: request.groupInstanceID) { return error }
        guard var member = self.members[request.memberID] else { return .unknownMemberID }
        guard request.generationID == self.generation else { return .illegalGeneration }
        switch self.state {
        case .empty, .dead:
            return .unknownMemberID
        case .preparingRebalance:
            member.sessionDeadlineMs = nowMs + Int64(member.sessionTimeoutMs)
            self.members[member.memberID] = member
            return .rebalanceInProgress
        case .completingRebalance, .stable:
            member.sessionDeadlineMs = nowMs + Int64(member.sessionTimeoutMs)
            self.members[member.memberID] = member
            return .none
        }
    }

    /// Removes one leaving member (by member ID, or by instance ID for a static member whose ID is unknown).
    public mutating func leave(
        memberID: String, instanceID: String?, nowMs: Int64, config: GroupConfig, effects: inout GroupEffects
    ) -> ErrorCode {
        var id = memberID
        if let instanceID {
            guard let known = self.staticMembers[instanceID] else { return .unknownMemberID }
            if !memberID.isEmpty && memberID != known { return .fencedInstanceID }
            id = known
        }
        if self.pendingMembers.removeValue(forKey: id) != nil {
            self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
            return .none
        }
        guard self.members[id] != nil else { return .unknownMemberID }
        self.removeAndRebalance(id, reason: "left the group", nowMs: nowMs, config: config, effects: &effects)
        return .none
    }

    mutating func removeAndRebalance(
        _ id: String, reason: String, nowMs: Int64, config: GroupConfig, effects: inout GroupEffects
    ) {
        guard let member = self.members[id] else { return }
        effects.event("Removed a member", ["spate.group": self.groupID, "spate.member": id, "spate.reason": reason])
        if let join = member.pendingJoin {
            effects.reply(join.id, .join(Self.joinError(.unknownMemberID, memberID: id, version: join.version)))
        }
        if let sync = member.pendingSync {
            effects.reply(sync.id, .sync(Self.syncError(.unknownMemberID, version: sync.version)))
        }
        self.removeMember(id)
        switch self.state {
        case .stable, .completingRebalance:
            self.prepareRebalance(reason: "member \(id) \(reason)", nowMs: nowMs, config: config, effects: &effects)
        case .preparingRebalance:
            if self.members.isEmpty {
                self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects, force: true)
            } else {
                self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
            }
        case .empty, .dead:
            break
        }
    }

    mutating func removeMember(_ id: String) {
        guard let member = self.members.removeValue(forKey: id) else { return }
        self.memberOrder.removeAll { $0 == id }
        if let instanceID = member.groupInstanceID, self.staticMembers[instanceID] == id {
            self.staticMembers.removeValue(forKey: instanceID)
        }
        if self.leaderID == id { self.leaderID = self.memberOrder.first }
    }

    /// FENCED_INSTANCE_ID when a static member's ID is not the one its instance ID now maps to.
    func validateMember(_ memberID: String, instanceID: String?) -> ErrorCode? {
        guard let instanceID else { return nil }
        guard let known = self.staticMembers[instanceID] else { return self.members[memberID] == nil ? .unknownMemberID : nil }
        return known == memberID ? nil : .fencedInstanceID
    }

    // MARK: Time

    /// Expires sessions and ends rebalance phases whose deadlines have passed.
    public mutating func tick(nowMs: Int64, config: GroupConfig, effects: inout GroupEffects) {
        for (id, deadline) in self.pendingMembers where deadline <= nowMs {
            self.pendingMembers.removeValue(forKey: id)
            self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects)
        }
        if let deadline = self.rebalanceDeadlineMs, deadline <= nowMs {
            switch self.state {
            case .preparingRebalance:
                // The initial delay is over, or the members that did not rejoin in time are left behind.
                self.completeJoinIfReady(nowMs: nowMs, config: config, effects: &effects, force: true)
            case .completingRebalance:
                // The leader never sent its assignment: members that did not sync leave, the rest rebalance.
                for id in self.memberOrder where self.members[id]?.pendingSync == nil {
                    effects.event("Removed a member that did not sync in time", ["spate.group": self.groupID, "spate.member": id])
                    self.removeMember(id)
                }
                self.rebalanceDeadlineMs = nil
                for id in self.memberOrder {
                    if let sync = self.members[id]?.pendingSync {
                        effects.reply(sync.id, .sync(Self.syncError(.rebalanceInProgress, version: sync.version)))
                        self.members[id]!.pendingSync = nil
                        self.members[id]!.sessionDeadlineMs = nowMs + Int64(self.members[id]!.sessionTimeoutMs)
                    }
                }
                if self.members.isEmpty {
                    self.generation += 1
                    self.protocolName = nil
                    self.leaderID = nil
                    self.transition(to: .empty, nowMs: nowMs)
                    effects.groupChanged = true
                } else {
                    self.prepareRebalance(
                        reason: "the leader's assignment did not arrive in time", nowMs: nowMs, config: config, effects: &effects)
                }
            default:
                self.rebalanceDeadlineMs = nil
            }
        }
        for id in self.memberOrder {
            guard let member = self.members[id], member.pendingJoin == nil, member.pendingSync == nil,
                member.sessionDeadlineMs <= nowMs
            else { continue }
            self.removeAndRebalance(
                id, reason: "expired (no heartbeat within \(member.sessionTimeoutMs) ms)", nowMs: nowMs, config: config,
                effects: &effects)
        }
    }

    mutating func transition(to state: ClassicGroupState, nowMs: Int64) {
        self.state = state
        self.stateTimestampMs = nowMs
    }

    // MARK: Loading

    /// The group as a stored record restores it: Stable with its members and their assignments (they must heartbeat
    /// within their session, which starts now), or Empty.
    public init(
        groupID: String, protocolType: String?, generation: Int32, protocolName: String?, leaderID: String?,
        stateTimestampMs: Int64, members: [ClassicMember], nowMs: Int64
    ) {
        self.groupID = groupID
        self.protocolType = protocolType.flatMap { $0.isEmpty ? nil : $0 }
        self.generation = generation
        self.protocolName = protocolName
        self.stateTimestampMs = stateTimestampMs >= 0 ? stateTimestampMs : nowMs
        self.state = members.isEmpty ? .empty : .stable
        self.leaderID = members.isEmpty ? nil : leaderID
        for var member in members {
            member.sessionDeadlineMs = nowMs + Int64(member.sessionTimeoutMs)
            self.members[member.memberID] = member
            self.memberOrder.append(member.memberID)
            if let instanceID = member.groupInstanceID { self.staticMembers[instanceID] = member.memberID }
        }
    }
}
