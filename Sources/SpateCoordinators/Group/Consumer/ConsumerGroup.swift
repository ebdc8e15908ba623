public import SpateWire

/// A KIP-848 consumer group (`group.protocol=consumer`) as a deterministic, replayable state machine, after Kafka
/// 4's `GroupMetadataManager` and `ConsumerGroup`.
///
/// Every change of persistent state is a ``GroupCoordinatorRecord`` (the `ConsumerGroup*` records of
/// `__consumer_offsets`): operations compute records, apply them through ``replay(_:)`` and return them for the
/// broker to write, so a group rebuilt by replaying what was written equals the live one. Timers (session and
/// rebalance timeouts) are not persistent: the caller drives them with ``tick(nowMs:topics:config:)`` at
/// ``nextDeadlineMs`` and re-arms them after loading with ``onLoaded(nowMs:config:)``. Time is always passed in.
public struct ConsumerGroup: Sendable {
    /// The subscribed topic metadata a target assignment was computed from (`ConsumerGroupPartitionMetadataValue`).
    public struct TopicMetadata: Hashable, Sendable {
        public var id: KafkaUUID
        public var name: String
        public var partitionCount: Int32
    }

    /// What the records say; what replay rebuilds.
    struct Persistent: Hashable, Sendable {
        var created = false
        var groupEpoch: Int32 = 0
        /// By topic name.
        var subscriptionMetadata: [String: TopicMetadata] = [:]
        var targetAssignmentEpoch: Int32 = 0
        var targetAssignment: [String: PartitionsByTopic] = [:]
        var members: [String: ConsumerGroupMember] = [:]
    }

    public let groupID: String
    var persistent = Persistent()
    /// Derived from the members: instance ID → member ID.
    var staticMembers: [String: String] = [:]
    /// Derived from the members: the epoch of the member holding each partition (assigned or pending revocation).
    var partitionEpochs: [KafkaUUID: [Int32: Int32]] = [:]

    // Volatile state (not in records).
    var sessionDeadlines: [String: Int64] = [:]
    var rebalanceDeadlines: [String: (deadlineMs: Int64, memberEpoch: Int32)] = [:]
    /// Regular expression → the topic names it matched in `regexTopics`.
    var regexMatches: [String: Set<String>] = [:]
    var regexTopics: Set<String>? = nil

    public init(groupID: String) {
        self.groupID = groupID
    }

    // MARK: Views

    /// The group epoch: bumped whenever the members or their subscriptions change.
    public var groupEpoch: Int32 { self.persistent.groupEpoch }

    /// The epoch of the current target assignment.
    public var targetAssignmentEpoch: Int32 { self.persistent.targetAssignmentEpoch }

    /// Whether the group has been created (and not deleted since).
    public var exists: Bool { self.persistent.created }

    /// Whether the group has no members.
    public var isEmpty: Bool { self.persistent.members.isEmpty }

    /// The state as ListGroups and ConsumerGroupDescribe show it: "Empty", "Assigning", "Reconciling" or "Stable".
    public var stateName: String {
        let p = self.persistent
        if p.members.isEmpty { return "Empty" }
        if p.groupEpoch > p.targetAssignmentEpoch { return "Assigning" }
        if p.members.values.contains(where: { !$0.isReconciled(to: p.targetAssignmentEpoch) }) { return "Reconciling" }
        return "Stable"
    }

    /// The members, in member-ID order.
    public var members: [ConsumerGroupMember] {
        self.persistent.members.values.sorted { $0.memberID < $1.memberID }
    }

    public func member(_ memberID: String) -> ConsumerGroupMember? { self.persistent.members[memberID] }

    /// The member's partitions in the target assignment.
    public func targetAssignment(of memberID: String) -> PartitionsByTopic {
        self.persistent.targetAssignment[memberID] ?? [:]
    }

    /// The topics the group subscribes to: every member's names plus the topics their regular expressions matched
    /// when last resolved against a topic image.
    public var subscribedTopicNames: Set<String> {
        var names: Set<String> = []
        for member in self.persistent.members.values {
            names.formUnion(member.subscribedTopicNames)
            if member.hasRegex, let regex = member.subscribedTopicRegex { names.formUnion(self.regexMatches[regex] ?? []) }
        }
        return names
    }

    /// The server assignor the group uses: the one most members ask for, else the first configured (Kafka's
    /// `computePreferredServerAssignor`; ties go to the one configured first).
    public func assignorName(config: GroupConfig) -> String {
        var counts: [String: Int] = [:]
        for member in self.persistent.members.values {
            if let name = member.serverAssignor, ServerAssignor.implemented.contains(name),
                config.consumerAssignors.contains(name)
            {
                counts[name, default: 0] += 1
            }
        }
        let order = Dictionary(config.consumerAssignors.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let best = counts.max { a, b in
            if a.value != b.value { return a.value < b.value }
            return (order[a.key] ?? .max, a.key) > (order[b.key] ?? .max, b.key)
        }
        return best?.key ?? config.consumerAssignors.first(where: ServerAssignor.implemented.contains) ?? "uniform"
    }

    // MARK: Offsets

    /// Whether a member may commit offsets, as Kafka's `ConsumerGroup.validateOffsetCommit`: an empty group takes
    /// commits with a negative epoch (admin tools, consumers without group management); otherwise the member must
    /// exist (`UNKNOWN_MEMBER_ID`), use OffsetCommit v9+ unless the commit is transactional (`UNSUPPORTED_VERSION`),
    /// and be at its current epoch (`STALE_MEMBER_EPOCH`; `ILLEGAL_GENERATION` for classic-protocol members).
    public func validateOffsetCommit(
        memberID: String, memberEpoch: Int32, apiVersion: Int16 = 9, isTransactional: Bool = false
    ) -> ErrorCode {
        if memberEpoch < 0 && self.persistent.members.isEmpty { return .none }
        guard let member = self.persistent.members[memberID] else { return .unknownMemberID }
        let usesClassicProtocol = member.classicMemberMetadata != nil
        if !isTransactional && !usesClassicProtocol && apiVersion < 9 { return .unsupportedVersion }
        return Self.validateMemberEpoch(memberEpoch, member)
    }

    /// Whether a member may fetch offsets, as Kafka's `ConsumerGroup.validateOffsetFetch`: requests without a
    /// member (nil ID, negative epoch) always may; otherwise as for commits.
    public func validateOffsetFetch(memberID: String?, memberEpoch: Int32) -> ErrorCode {
        guard let memberID else { return memberEpoch < 0 ? .none : .unknownMemberID }
        guard let member = self.persistent.members[memberID] else { return .unknownMemberID }
        return Self.validateMemberEpoch(memberEpoch, member)
    }

    private static func validateMemberEpoch(_ received: Int32, _ member: ConsumerGroupMember) -> ErrorCode {
        guard received != member.memberEpoch else { return .none }
        return member.classicMemberMetadata != nil ? .illegalGeneration : .staleMemberEpoch
    }

    // MARK: Describe

    /// The group as ConsumerGroupDescribe shows it; topics missing from `topics` are left out of assignments.
    public func describe(topics: TopicImage, config: GroupConfig = GroupConfig()) -> ConsumerGroupDescribeResponse.DescribedGroup {
        func assignment(_ partitions: PartitionsByTopic) -> ConsumerGroupDescribeResponse.Assignment {
            ConsumerGroupDescribeResponse.Assignment(
                topicPartitions: partitions.sortedPairs().compactMap { topic, partitions in
                    guard let name = topics.byID[topic]?.name else { return nil }
                    return .init(topicID: topic, topicName: TopicName(name), partitions: partitions)
                })
        }
        return ConsumerGroupDescribeResponse.DescribedGroup(
            groupID: GroupID(self.groupID),
            groupState: self.stateName,
            groupEpoch: self.groupEpoch,
            assignmentEpoch: self.targetAssignmentEpoch,
            assignorName: self.assignorName(config: config),
            members: self.members.map { member in
                ConsumerGroupDescribeResponse.Member(
                    memberID: member.memberID, instanceID: member.instanceID, rackID: member.rackID,
                    memberEpoch: member.memberEpoch, clientID: member.clientID, clientHost: member.clientHost,
                    subscribedTopicNames: member.subscribedTopicNames.sorted().map { TopicName($0) },
                    subscribedTopicRegex: member.subscribedTopicRegex,
                    assignment: assignment(member.assignedPartitions),
                    targetAssignment: assignment(self.targetAssignment(of: member.memberID)))
            })
    }

    // MARK: Deletion

    /// Tombstones for everything the group has written, in Kafka's order (`createGroupTombstoneRecords`), for
    /// DeleteGroups (which Kafka allows only when the group is empty) or the expiry of an empty group.
    public func deletionRecords() -> [GroupCoordinatorRecord] {
        let g = self.groupID
        let ids = self.persistent.members.keys.sorted()
        var records: [GroupCoordinatorRecord] = []
        records += ids.map { .consumerGroupCurrentMemberAssignment(.init(groupID: g, memberID: $0), nil) }
        records += ids.map { .consumerGroupTargetAssignmentMember(.init(groupID: g, memberID: $0), nil) }
        records.append(.consumerGroupTargetAssignmentMetadata(.init(groupID: g), nil))
        records += ids.map { .consumerGroupMemberMetadata(.init(groupID: g, memberID: $0), nil) }
        records.append(.consumerGroupPartitionMetadata(.init(groupID: g), nil))
        records.append(.consumerGroupMetadata(.init(groupID: g), nil))
        return records
    }

    // MARK: Replay

    /// Applies one record of `__consumer_offsets`, as Kafka's `GroupMetadataManager.replay` does. Records of other
    /// groups and of other kinds (offsets, classic groups) are ignored. Inconsistent sequences (which Kafka rejects
    /// with an `IllegalStateException`) are applied as well as they can be; replay never traps.
    public mutating func replay(_ record: GroupCoordinatorRecord) {
        guard record.groupID == self.groupID else { return }
        switch record {
        case .offsetCommit, .groupMetadata:
            return
        case .consumerGroupMetadata(_, let value):
            if let value {
                self.persistent.created = true
                self.persistent.groupEpoch = value.epoch
            } else {
                self.reset()
            }
        case .consumerGroupPartitionMetadata(_, let value):
            if let value {
                self.persistent.created = true
                self.persistent.subscriptionMetadata = Dictionary(
                    value.topics.map { ($0.topicName, TopicMetadata(id: $0.topicID, name: $0.topicName, partitionCount: $0.numPartitions)) },
                    uniquingKeysWith: { _, last in last })
            } else {
                self.persistent.subscriptionMetadata = [:]
            }
        case .consumerGroupMemberMetadata(let key, let value):
            if let value {
                self.persistent.created = true
                var member = self.persistent.members[key.memberID] ?? ConsumerGroupMember(memberID: key.memberID)
                member.update(with: value)
                self.updateMember(member)
            } else {
                self.removeMember(key.memberID)
            }
        case .consumerGroupTargetAssignmentMetadata(_, let value):
            if let value {
                self.persistent.created = true
                self.persistent.targetAssignmentEpoch = value.assignmentEpoch
            } else {
                self.persistent.targetAssignmentEpoch = -1
            }
        case .consumerGroupTargetAssignmentMember(let key, let value):
            if let value {
                self.persistent.created = true
                self.persistent.targetAssignment[key.memberID] = PartitionsByTopic(
                    topicPartitions: value.topicPartitions.map { ($0.topicID, $0.partitions) })
            } else {
                self.persistent.targetAssignment[key.memberID] = nil
            }
        case .consumerGroupCurrentMemberAssignment(let key, let value):
            if let value {
                self.persistent.created = true
                var member = self.persistent.members[key.memberID] ?? ConsumerGroupMember(memberID: key.memberID)
                member.update(with: value)
                self.updateMember(member)
            } else if var member = self.persistent.members[key.memberID] {
                // The member is leaving: Kafka writes this tombstone first, then the others.
                member.memberEpoch = -1
                member.previousMemberEpoch = -1
                member.assignedPartitions = [:]
                member.partitionsPendingRevocation = [:]
                self.updateMember(member)
            }
        }
    }

    /// Back to a group that was never created (the group-epoch tombstone: DeleteGroups).
    private mutating func reset() {
        self = ConsumerGroup(groupID: self.groupID)
    }

    private mutating func updateMember(_ member: ConsumerGroupMember) {
        if let old = self.persistent.members[member.memberID] {
            self.removePartitionEpochs(of: old)
            if let instance = old.instanceID, self.staticMembers[instance] == old.memberID {
                self.staticMembers[instance] = nil
            }
        }
        self.persistent.members[member.memberID] = member
        for assignment in [member.assignedPartitions, member.partitionsPendingRevocation] {
            for (topic, partitions) in assignment {
                for partition in partitions { self.partitionEpochs[topic, default: [:]][partition] = member.memberEpoch }
            }
        }
        if let instance = member.instanceID { self.staticMembers[instance] = member.memberID }
    }

    private mutating func removeMember(_ memberID: String) {
        guard let old = self.persistent.members.removeValue(forKey: memberID) else { return }
        self.removePartitionEpochs(of: old)
        if let instance = old.instanceID, self.staticMembers[instance] == memberID { self.staticMembers[instance] = nil }
        self.sessionDeadlines[memberID] = nil
        self.rebalanceDeadlines[memberID] = nil
    }

    private mutating func removePartitionEpochs(of member: ConsumerGroupMember) {
        for assignment in [member.assignedPartitions, member.partitionsPendingRevocation] {
            for (topic, partitions) in assignment {
                for partition in partitions where self.partitionEpochs[topic]?[partition] == member.memberEpoch {
                    self.partitionEpochs[topic]![partition] = nil
                }
                if self.partitionEpochs[topic]?.isEmpty == true { self.partitionEpochs[topic] = nil }
            }
        }
    }

    /// The epoch of the member holding a partition, or -1 when no member holds it.
    func currentPartitionEpoch(_ topic: KafkaUUID, _ partition: Int32) -> Int32 {
        self.partitionEpochs[topic]?[partition] ?? -1
    }

    // MARK: Timers

    /// The earliest session or rebalance deadline; call ``tick(nowMs:topics:config:)`` then.
    public var nextDeadlineMs: Int64? {
        let session = self.sessionDeadlines.values.min()
        let rebalance = self.rebalanceDeadlines.values.map(\.deadlineMs).min()
        switch (session, rebalance) {
        case (nil, nil): return nil
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (let a?, let b?): return min(a, b)
        }
    }

    /// Arms the timers of a group rebuilt by replay (Kafka's `onLoaded`): every member gets a fresh session timeout,
    /// and members that still have partitions to revoke a fresh rebalance timeout.
    public mutating func onLoaded(nowMs: Int64, config: GroupConfig) {
        for member in self.persistent.members.values {
            self.sessionDeadlines[member.memberID] = nowMs + Int64(config.consumerSessionTimeoutMs)
            if member.state == .unrevokedPartitions {
                self.rebalanceDeadlines[member.memberID] = (nowMs + Int64(max(member.rebalanceTimeoutMs, 0)), member.memberEpoch)
            }
        }
    }
}

extension ConsumerGroup: Equatable {
    /// Groups are equal when their persistent state is: what replay rebuilds. Timers and caches do not count.
    public static func == (lhs: ConsumerGroup, rhs: ConsumerGroup) -> Bool {
        lhs.groupID == rhs.groupID && lhs.persistent == rhs.persistent && lhs.staticMembers == rhs.staticMembers
            && lhs.partitionEpochs == rhs.partitionEpochs
    }
}
