import NIOCore
public import SpateWire

/// A change to what the group coordinator keeps in `__consumer_offsets`; each becomes one record
/// (``GroupCoordinatorState/records(for:)``) and replaying the records rebuilds the same state.
public enum GroupStoredChange: Hashable, Sendable {
    /// A committed offset, or its removal (a tombstone).
    case offset(group: String, GroupTopicPartition, CommittedOffset?)
    /// A classic group as stored after each completed assignment, or its removal.
    case classicGroup(id: String, ClassicGroupSnapshot?)
    /// A record of a KIP-848 consumer group.
    case consumerGroup(GroupCoordinatorRecord)
}

/// What `GroupMetadataValue` keeps of a classic group.
public struct ClassicGroupSnapshot: Hashable, Sendable {
    public var protocolType: String
    public var generation: Int32
    public var protocolName: String?
    public var leaderID: String?
    public var stateTimestampMs: Int64
    public var members: [ClassicMember]

    public init(
        protocolType: String, generation: Int32, protocolName: String?, leaderID: String?, stateTimestampMs: Int64,
        members: [ClassicMember]
    ) {
        self.protocolType = protocolType
        self.generation = generation
        self.protocolName = protocolName
        self.leaderID = leaderID
        self.stateTimestampMs = stateTimestampMs
        self.members = members
    }
}

/// Everything the group coordinator knows: groups and committed offsets. A deterministic state machine: requests
/// and a time (`nowMs`) go in; answers, answers to waiting requests and changes to store come out. Its owner writes
/// the changes to `__consumer_offsets` before sending the answers that depend on them, and on start-up replays the
/// topic through ``replay(_:nowMs:)``.
public struct GroupCoordinatorState: Sendable {
    public var config: GroupConfig
    public internal(set) var classicGroups: [String: ClassicGroup] = [:]
    /// KIP-848 groups (`group.protocol=consumer`).
    public internal(set) var consumerGroups: [String: ConsumerGroup] = [:]
    public internal(set) var offsets: [String: [GroupTopicPartition: CommittedOffset]] = [:]
    var nextPending = 0
    /// Makes a member ID from a prefix (the client ID, or the instance ID of a static member): Kafka appends a
    /// random UUID. Injected so tests are deterministic.
    let makeMemberID: @Sendable (String) -> String

    public init(config: GroupConfig = GroupConfig(), makeMemberID: @escaping @Sendable (String) -> String) {
        self.config = config
        self.makeMemberID = makeMemberID
    }

    /// What a call produced beyond its own answer.
    public struct Output: Sendable {
        /// Answers to requests that were waiting.
        public var replies: [(PendingID, GroupReply)] = []
        /// Changes to store, in order, before the answers are sent.
        public var changes: [GroupStoredChange] = []
        /// What happened to groups, for the log.
        public var events: [GroupEvent] = []
        public init() {}

        public static func += (a: inout Output, b: Output) {
            a.replies += b.replies
            a.changes += b.changes
            a.events += b.events
        }
    }

    mutating func newPendingID() -> PendingID {
        self.nextPending += 1
        return PendingID(self.nextPending)
    }

    /// Every group ID the coordinator knows (a group with only committed offsets counts).
    public var groupIDs: Set<String> {
        Set(self.classicGroups.keys).union(self.consumerGroups.keys).union(self.offsets.keys)
    }

    /// The earliest time ``tick(nowMs:)`` has something to do (group timers; offset expiry runs separately).
    public var nextDeadlineMs: Int64? {
        (self.classicGroups.values.compactMap(\.nextDeadlineMs) + self.consumerGroups.values.compactMap(\.nextDeadlineMs)).min()
    }

    // MARK: Classic protocol

    /// JoinGroup. The answer is immediate, or comes later in an ``Output`` reply under the returned ID.
    public mutating func join(
        _ request: JoinGroupRequest, version: Int16, clientID: String, clientHost: String, nowMs: Int64
    ) -> (response: JoinGroupResponse?, pending: PendingID, output: Output) {
        let pending = self.newPendingID()
        var output = Output()
        guard !request.groupID.rawValue.isEmpty else {
            return (ClassicGroup.joinError(.invalidGroupID, memberID: request.memberID, version: version), pending, output)
        }
        let id = request.groupID.rawValue
        if self.consumerGroups[id] != nil {
            // A group of the consumer protocol: its members do not speak the classic one.
            return (ClassicGroup.joinError(.inconsistentGroupProtocol, memberID: request.memberID, version: version), pending, output)
        }
        if self.classicGroups[id] == nil {
            guard request.memberID.isEmpty else {
                return (ClassicGroup.joinError(.unknownMemberID, memberID: request.memberID, version: version), pending, output)
            }
            self.classicGroups[id] = ClassicGroup(groupID: id, nowMs: nowMs)
        }
        var effects = GroupEffects()
        let prefix = request.groupInstanceID ?? clientID
        let response = self.classicGroups[id]!.join(
            request, version: version, pending: pending, clientID: clientID, clientHost: clientHost,
            newMemberID: self.makeMemberID(prefix), nowMs: nowMs, config: self.config, effects: &effects)
        self.absorb(effects, group: id, into: &output)
        return (response, pending, output)
    }

    /// SyncGroup. The answer is immediate, or comes later in an ``Output`` reply under the returned ID.
    public mutating func sync(
        _ request: SyncGroupRequest, version: Int16, nowMs: Int64
    ) -> (response: SyncGroupResponse?, pending: PendingID, output: Output) {
        let pending = self.newPendingID()
        var output = Output()
        let id = request.groupID.rawValue
        guard !id.isEmpty else { return (ClassicGroup.syncError(.invalidGroupID, version: version), pending, output) }
        guard self.classicGroups[id] != nil else {
            return (ClassicGroup.syncError(.unknownMemberID, version: version), pending, output)
        }
        var effects = GroupEffects()
        let response = self.classicGroups[id]!.sync(
            request, version: version, pending: pending, nowMs: nowMs, config: self.config, effects: &effects)
        self.absorb(effects, group: id, into: &output)
        return (response, pending, output)
    }

    public mutating func heartbeat(_ request: HeartbeatRequest, nowMs: Int64) -> HeartbeatResponse {
        let id = request.groupID.rawValue
        guard !id.isEmpty else { return HeartbeatResponse(errorCode: .invalidGroupID) }
        guard self.classicGroups[id] != nil else { return HeartbeatResponse(errorCode: .unknownMemberID) }
        return HeartbeatResponse(errorCode: self.classicGroups[id]!.heartbeat(request, nowMs: nowMs))
    }

    public mutating func leave(_ request: LeaveGroupRequest, version: Int16, nowMs: Int64) -> (LeaveGroupResponse, Output) {
        var output = Output()
        let id = request.groupID.rawValue
        let leaving: [(memberID: String, instanceID: String?)] =
            version >= 3 ? request.members.map { ($0.memberID, $0.groupInstanceID) } : [(request.memberID, nil)]
        guard !id.isEmpty else { return (LeaveGroupResponse(errorCode: .invalidGroupID), output) }
        guard self.classicGroups[id] != nil else {
            if version < 3 { return (LeaveGroupResponse(errorCode: .unknownMemberID), output) }
            return (
                LeaveGroupResponse(
                    members: leaving.map { .init(memberID: $0.memberID, groupInstanceID: $0.instanceID, errorCode: .unknownMemberID) }),
                output
            )
        }
        var effects = GroupEffects()
        var results: [LeaveGroupResponse.MemberResponse] = []
        for member in leaving {
            let code = self.classicGroups[id]!.leave(
                memberID: member.memberID, instanceID: member.instanceID, nowMs: nowMs, config: self.config, effects: &effects)
            results.append(.init(memberID: member.memberID, groupInstanceID: member.instanceID, errorCode: code))
        }
        self.absorb(effects, group: id, into: &output)
        if version < 3 { return (LeaveGroupResponse(errorCode: results.first?.errorCode ?? .none), output) }
        return (LeaveGroupResponse(members: results), output)
    }

    /// Runs every timer that is due: session expiry, rebalance and join deadlines.
    public mutating func tick(nowMs: Int64, topics: TopicImage = .empty) -> Output {
        var output = Output()
        for id in self.consumerGroups.keys.sorted() {
            guard let deadline = self.consumerGroups[id]?.nextDeadlineMs, deadline <= nowMs else { continue }
            let records = self.consumerGroups[id]!.tick(nowMs: nowMs, topics: topics, config: self.config)
            output.changes += records.map { .consumerGroup($0) }
        }
        for id in self.classicGroups.keys.sorted() {
            guard let deadline = self.classicGroups[id]?.nextDeadlineMs, deadline <= nowMs else { continue }
            var effects = GroupEffects()
            self.classicGroups[id]!.tick(nowMs: nowMs, config: self.config, effects: &effects)
            self.absorb(effects, group: id, into: &output)
        }
        return output
    }

    // MARK: Consumer protocol (KIP-848)

    /// ConsumerGroupHeartbeat: joins, heartbeats, reconciles and leaves a consumer group. An empty classic group of
    /// the same ID becomes a consumer group (as Kafka upgrades an empty group); a classic group with members is not
    /// a consumer group (`GROUP_ID_NOT_FOUND`).
    public mutating func consumerHeartbeat(
        _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientID: String, clientHost: String, nowMs: Int64,
        topics: TopicImage
    ) -> (ConsumerGroupHeartbeatResponse, Output) {
        var output = Output()
        let id = request.groupID.rawValue
        if let classic = self.classicGroups[id], classic.state != .empty {
            return (
                ConsumerGroupHeartbeatResponse(errorCode: .groupIDNotFound, errorMessage: "Group \(id) is not a consumer group."),
                output
            )
        }
        var group = self.consumerGroups[id] ?? ConsumerGroup(groupID: id)
        let (response, records) = group.heartbeat(
            request, version: version, clientID: clientID, clientHost: clientHost, nowMs: nowMs, topics: topics,
            config: self.config)
        if response.errorCode == .none, self.classicGroups.removeValue(forKey: id) != nil {
            output.changes.append(.classicGroup(id: id, nil))
        }
        // The group applied its records itself.
        if group.exists { self.consumerGroups[id] = group } else { self.consumerGroups.removeValue(forKey: id) }
        output.changes += records.map { .consumerGroup($0) }
        return (response, output)
    }

    /// Topics were created, deleted or grew: consumer groups recompute what their members subscribe to.
    public mutating func topicsChanged(_ topics: TopicImage, nowMs: Int64) -> Output {
        var output = Output()
        for id in self.consumerGroups.keys.sorted() {
            let records = self.consumerGroups[id]!.topicsChanged(topics, nowMs: nowMs, config: self.config)
            output.changes += records.map { .consumerGroup($0) }
        }
        return output
    }

    /// ConsumerGroupDescribe for one group.
    public func describeConsumerGroup(_ id: String, topics: TopicImage) -> ConsumerGroupDescribeResponse.DescribedGroup {
        guard let group = self.consumerGroups[id] else {
            let message = self.classicGroups[id] != nil ? "Group \(id) is not a consumer group." : "Group \(id) not found."
            return .init(errorCode: .groupIDNotFound, errorMessage: message, groupID: GroupID(id))
        }
        return group.describe(topics: topics, config: self.config)
    }

    /// Rearms the timers of the groups a replay rebuilt (every member gets a fresh session).
    public mutating func finishLoading(nowMs: Int64) {
        for id in self.consumerGroups.keys { self.consumerGroups[id]!.onLoaded(nowMs: nowMs, config: self.config) }
    }

    mutating func absorb(_ effects: GroupEffects, group id: String, into output: inout Output) {
        output.replies += effects.replies
        output.events += effects.events
        if effects.groupChanged, let group = self.classicGroups[id] {
            output.changes.append(.classicGroup(id: id, Self.snapshot(of: group)))
        }
    }

    static func snapshot(of group: ClassicGroup) -> ClassicGroupSnapshot {
        ClassicGroupSnapshot(
            protocolType: group.protocolType ?? "", generation: group.generation, protocolName: group.protocolName,
            leaderID: group.leaderID, stateTimestampMs: group.stateTimestampMs,
            members: group.state == .empty ? [] : group.orderedMembers)
    }

    // MARK: Offsets

    /// OffsetCommit: checks the member and generation (or lets a simple consumer commit for a group without
    /// members), then records every valid partition's offset. The changes must be stored before answering.
    public mutating func commitOffsets(_ request: OffsetCommitRequest, version: Int16, nowMs: Int64) -> (OffsetCommitResponse, Output) {
        var output = Output()
        let id = request.groupID.rawValue
        func everyPartition(_ code: ErrorCode) -> OffsetCommitResponse {
            OffsetCommitResponse(
                topics: request.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
                })
        }
        guard !id.isEmpty else { return (everyPartition(.invalidGroupID), output) }
        let generation = version >= 1 ? request.generationIDOrMemberEpoch : -1
        let memberID = version >= 1 ? request.memberID : ""
        if let error = self.validateOffsetCommit(
            group: id, generation: generation, memberID: memberID, instanceID: request.groupInstanceID, version: version, nowMs: nowMs)
        {
            return (everyPartition(error), output)
        }
        var response = OffsetCommitResponse()
        for topic in request.topics {
            var partitions: [OffsetCommitResponse.OffsetCommitResponsePartition] = []
            for partition in topic.partitions {
                let metadata = partition.committedMetadata ?? ""
                guard metadata.utf8.count <= self.config.offsetMetadataMaxBytes else {
                    partitions.append(.init(partitionIndex: partition.partitionIndex, errorCode: .offsetMetadataTooLarge))
                    continue
                }
                var expire: Int64?
                var commitTimestamp = nowMs
                if version == 1, partition.commitTimestamp >= 0 {
                    commitTimestamp = partition.commitTimestamp
                } else if (2...4).contains(version), request.retentionTimeMs > 0 {
                    expire = nowMs + request.retentionTimeMs
                }
                let offset = CommittedOffset(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch, metadata: metadata,
                    commitTimestampMs: commitTimestamp, expireTimestampMs: expire)
                let key = GroupTopicPartition(topic: topic.name.rawValue, partition: partition.partitionIndex)
                output.changes.append(.offset(group: id, key, offset))
                partitions.append(.init(partitionIndex: partition.partitionIndex, errorCode: .none))
            }
            response.topics.append(.init(name: topic.name, partitions: partitions))
        }
        for change in output.changes { self.apply(change, nowMs: nowMs) }
        return (response, output)
    }

    mutating func validateOffsetCommit(
        group id: String, generation: Int32, memberID: String, instanceID: String?, version: Int16, nowMs: Int64
    ) -> ErrorCode? {
        if let group = self.consumerGroups[id] {
            let code = group.validateOffsetCommit(memberID: memberID, memberEpoch: generation, apiVersion: version)
            return code == .none ? nil : code
        }
        guard let group = self.classicGroups[id] else {
            if generation < 0 && memberID.isEmpty && instanceID == nil {
                return nil  // a simple consumer (or the admin client): no group needed
            }
            return version >= 9 ? .groupIDNotFound : .illegalGeneration
        }
        if group.state == .dead { return .coordinatorNotAvailable }
        if generation < 0 && group.state == .empty { return nil }
        if generation >= 0 || !memberID.isEmpty || instanceID != nil {
            if let error = group.validateMember(memberID, instanceID: instanceID) { return error }
            guard group.members[memberID] != nil else { return .unknownMemberID }
            guard generation == group.generation else { return .illegalGeneration }
        } else if group.state != .empty {
            return .unknownMemberID
        }
        if group.state == .completingRebalance { return .rebalanceInProgress }
        return nil
    }

    /// Whether a member of a consumer group may fetch its offsets (OffsetFetch v9 names the member and its epoch).
    public func validateOffsetFetch(group id: String, memberID: String?, memberEpoch: Int32) -> ErrorCode {
        guard let group = self.consumerGroups[id] else {
            return memberID == nil || memberEpoch < 0 ? .none : (self.classicGroups[id] == nil ? .groupIDNotFound : .none)
        }
        return group.validateOffsetFetch(memberID: memberID, memberEpoch: memberEpoch)
    }

    /// OffsetFetch for one group: the committed offsets of the partitions asked for (-1 where none), or of every
    /// partition with one when `partitions` is nil.
    public func fetchOffsets(group id: String, partitions: [GroupTopicPartition]?) -> [GroupTopicPartition: CommittedOffset?] {
        let committed = self.offsets[id] ?? [:]
        guard let partitions else { return committed.mapValues { $0 } }
        var result: [GroupTopicPartition: CommittedOffset?] = [:]
        for partition in partitions { result[partition] = committed[partition] }
        return result
    }

    /// OffsetDelete: removes committed offsets of topics the group does not consume.
    public mutating func deleteOffsets(
        group id: String, partitions: [GroupTopicPartition], nowMs: Int64
    ) -> (ErrorCode, [GroupTopicPartition: ErrorCode], Output) {
        var output = Output()
        guard !id.isEmpty else { return (.invalidGroupID, [:], output) }
        guard self.classicGroups[id] != nil || self.consumerGroups[id] != nil || self.offsets[id] != nil else {
            return (.groupIDNotFound, [:], output)
        }
        if let group = self.classicGroups[id], group.state != .empty, group.protocolType != "consumer" {
            return (.nonEmptyGroup, [:], output)
        }
        let subscribed = self.subscribedTopics(of: id)
        var results: [GroupTopicPartition: ErrorCode] = [:]
        for partition in partitions {
            if subscribed.contains(partition.topic) {
                results[partition] = .groupSubscribedToTopic
            } else {
                results[partition] = ErrorCode.none
                if self.offsets[id]?[partition] != nil { output.changes.append(.offset(group: id, partition, nil)) }
            }
        }
        for change in output.changes { self.apply(change, nowMs: nowMs) }
        return (.none, results, output)
    }

    /// The topics a group's members consume (classic groups with protocol type `consumer`).
    func subscribedTopics(of id: String) -> Set<String> {
        if let group = self.consumerGroups[id] { return group.subscribedTopicNames }
        guard let group = self.classicGroups[id], group.state != .empty, group.protocolType == "consumer" else { return [] }
        var topics: Set<String> = []
        for member in group.members.values {
            topics.formUnion(consumerProtocolTopics(member.metadata(for: group.protocolName)) ?? [])
            // The assignment may name topics the subscription does not (a regex subscription resolved client-side).
        }
        return topics
    }

    /// Removes committed offsets past `offsets.retention.minutes` (or their explicit expiry), as Kafka does: for a
    /// group without members, counted from when it emptied (or from the commit for a group without a protocol);
    /// for a consumer group with members, only offsets of topics it no longer consumes, counted from the commit.
    /// Empty groups left without offsets are removed.
    public mutating func expireOffsets(nowMs: Int64) -> Output {
        var output = Output()
        for id in self.offsets.keys.sorted() {
            let group = self.classicGroups[id]
            let subscribed = self.subscribedTopics(of: id)
            if let group, group.state != .empty, group.protocolType != "consumer" { continue }
            for (partition, offset) in self.offsets[id]!.sorted(by: { $0.key < $1.key }) {
                let expired: Bool
                if let expire = offset.expireTimestampMs {
                    expired = expire <= nowMs
                } else if self.consumerGroups[id] != nil {
                    // Consumer groups: offsets of topics the group does not consume, counted from the commit.
                    expired = !subscribed.contains(partition.topic) && offset.commitTimestampMs + self.config.offsetsRetentionMs <= nowMs
                } else if let group, group.state == .empty, group.protocolType != nil {
                    expired = group.stateTimestampMs + self.config.offsetsRetentionMs <= nowMs
                } else if let group, group.state != .empty {
                    expired = !subscribed.contains(partition.topic) && offset.commitTimestampMs + self.config.offsetsRetentionMs <= nowMs
                } else {
                    expired = offset.commitTimestampMs + self.config.offsetsRetentionMs <= nowMs
                }
                if expired { output.changes.append(.offset(group: id, partition, nil)) }
            }
        }
        for change in output.changes { self.apply(change, nowMs: nowMs) }
        for id in self.classicGroups.keys.sorted() where self.classicGroups[id]!.state == .empty && self.offsets[id] == nil {
            self.classicGroups.removeValue(forKey: id)
            output.changes.append(.classicGroup(id: id, nil))
        }
        for id in self.consumerGroups.keys.sorted() where self.consumerGroups[id]!.isEmpty && self.offsets[id] == nil {
            let deletions = self.consumerGroups[id]!.deletionRecords().map { GroupStoredChange.consumerGroup($0) }
            self.consumerGroups.removeValue(forKey: id)
            output.changes += deletions
        }
        return output
    }

    // MARK: Administration

    /// DeleteGroups for one group: only a group without members can go; its offsets go with it.
    public mutating func deleteGroup(_ id: String, nowMs: Int64) -> (ErrorCode, Output) {
        var output = Output()
        guard !id.isEmpty else { return (.invalidGroupID, output) }
        guard self.classicGroups[id] != nil || self.consumerGroups[id] != nil || self.offsets[id] != nil else {
            return (.groupIDNotFound, output)
        }
        if let group = self.classicGroups[id], group.state != .empty { return (.nonEmptyGroup, output) }
        if let group = self.consumerGroups[id], !group.isEmpty { return (.nonEmptyGroup, output) }
        for partition in (self.offsets[id] ?? [:]).keys.sorted() { output.changes.append(.offset(group: id, partition, nil)) }
        if let group = self.consumerGroups[id] {
            output.changes += group.deletionRecords().map { .consumerGroup($0) }
        } else {
            output.changes.append(.classicGroup(id: id, nil))
        }
        for change in output.changes { self.apply(change, nowMs: nowMs) }
        return (.none, output)
    }

    /// DescribeGroups for one group.
    public func describe(_ id: String) -> DescribeGroupsResponse.DescribedGroup {
        if let group = self.consumerGroups[id] {
            // A consumer group in the classic form: members without classic metadata or assignments.
            return .init(
                errorCode: .none, groupID: GroupID(id), groupState: group.stateName, protocolType: "consumer",
                protocolData: group.assignorName(config: self.config),
                members: group.members.map {
                    .init(memberID: $0.memberID, groupInstanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                          memberMetadata: ByteBuffer(), memberAssignment: ByteBuffer())
                })
        }
        guard let group = self.classicGroups[id] else {
            if self.offsets[id] != nil {
                // Offsets committed without a group (simple consumers, admin tools): an empty group, as in Kafka.
                return .init(errorCode: .none, groupID: GroupID(id), groupState: ClassicGroupState.empty.rawValue, protocolType: "", protocolData: "")
            }
            // Kafka answers an unknown group with the Dead state and no error (before v6).
            return .init(errorCode: .none, groupID: GroupID(id), groupState: ClassicGroupState.dead.rawValue, protocolType: "", protocolData: "")
        }
        let stable = group.state == .stable
        return .init(
            errorCode: .none, groupID: GroupID(id), groupState: group.state.rawValue, protocolType: group.protocolType ?? "",
            protocolData: stable ? group.protocolName ?? "" : "",
            members: group.orderedMembers.map { member in
                .init(
                    memberID: member.memberID, groupInstanceID: member.groupInstanceID, clientID: member.clientID,
                    clientHost: member.clientHost, memberMetadata: stable ? member.metadata(for: group.protocolName) : ByteBuffer(),
                    memberAssignment: stable ? member.assignment : ByteBuffer())
            })
    }

    /// ListGroups: every group with its protocol type, state and type (classic).
    public func listGroups() -> [(id: String, protocolType: String, state: String, type: String)] {
        self.groupIDs.sorted().map { id in
            if let group = self.classicGroups[id] {
                return (id, group.protocolType ?? "", group.state.rawValue, "classic")
            }
            if let group = self.consumerGroups[id] {
                return (id, "consumer", group.stateName, "consumer")
            }
            return (id, "", ClassicGroupState.empty.rawValue, "classic")
        }
    }

    // MARK: Replay

    /// Applies one stored change: the same path serves live changes and the replay of `__consumer_offsets`.
    public mutating func replay(_ change: GroupStoredChange, nowMs: Int64) {
        self.apply(change, nowMs: nowMs)
    }

    mutating func apply(_ change: GroupStoredChange, nowMs: Int64) {
        switch change {
        case .offset(let group, let partition, let offset?):
            self.offsets[group, default: [:]][partition] = offset
        case .offset(let group, let partition, nil):
            self.offsets[group]?.removeValue(forKey: partition)
            if self.offsets[group]?.isEmpty == true { self.offsets.removeValue(forKey: group) }
        case .classicGroup(let id, let snapshot?):
            // Live changes come from the group itself; only a replay (re)builds it from the snapshot.
            if self.classicGroups[id].map({ Self.snapshot(of: $0) }) != snapshot {
                self.classicGroups[id] = ClassicGroup(
                    groupID: id, protocolType: snapshot.protocolType, generation: snapshot.generation,
                    protocolName: snapshot.protocolName, leaderID: snapshot.leaderID,
                    stateTimestampMs: snapshot.stateTimestampMs, members: snapshot.members, nowMs: nowMs)
            }
        case .classicGroup(let id, nil):
            self.classicGroups.removeValue(forKey: id)
        case .consumerGroup(let record):
            // Replay (and deletions): live heartbeats apply their records inside the group already.
            let id = record.groupID
            var group = self.consumerGroups[id] ?? ConsumerGroup(groupID: id)
            group.replay(record)
            if group.exists { self.consumerGroups[id] = group } else { self.consumerGroups.removeValue(forKey: id) }
        }
    }
}
