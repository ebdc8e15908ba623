public import SpateWire

/// Kafka's member-epoch sentinels in ConsumerGroupHeartbeat.
enum MemberEpoch {
    /// A member leaves the group.
    static let leave: Int32 = -1
    /// A static member leaves temporarily and will rejoin with the same instance ID.
    static let staticLeave: Int32 = -2
}

/// Why a heartbeat failed: an error code for the response and a message.
struct HeartbeatFailure: Error {
    var code: ErrorCode
    var message: String

    init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ConsumerGroup {
    /// The first ConsumerGroupHeartbeat version in which the member generates its own ID (KIP-1082).
    static let memberIDRequiredVersion: Int16 = 1

    /// Topics a regular expression never matches (Kafka's `Topic.isInternal`).
    static let internalTopics: Set<String> = ["__consumer_offsets", "__transaction_state"]

    // MARK: ConsumerGroupHeartbeat

    /// Handles a ConsumerGroupHeartbeat of this group, as Kafka 4's `GroupMetadataManager.consumerGroupHeartbeat`:
    /// joins (member epoch 0), leaves (-1, or -2 for a static member that will come back), and regular heartbeats
    /// that update the subscription, recompute the target assignment when the group epoch moved, and reconcile the
    /// member one step towards it.
    ///
    /// - Parameters:
    ///   - request: The request; its group ID is assumed to be this group's.
    ///   - version: The request's version (v0 lets the coordinator choose the member ID).
    ///   - clientID: The request header's client ID.
    ///   - clientHost: The client's address, as Kafka shows it (`/10.0.0.1`).
    ///   - nowMs: The current time.
    ///   - topics: The topics that exist now.
    ///   - config: The group settings.
    ///   - newMemberID: Makes a member ID for a v0 join without one (a random UUID by default).
    /// - Returns: The response, and the records to write (already applied to this group). On an error the response
    ///   carries the error code and the group is unchanged.
    public mutating func heartbeat(
        _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientID: String, clientHost: String, nowMs: Int64,
        topics: TopicImage, config: GroupConfig,
        newMemberID: () -> String = { KafkaUUID.random().description }
    ) -> (response: ConsumerGroupHeartbeatResponse, records: [GroupCoordinatorRecord]) {
        var work = self
        do {
            try Self.validate(request, version: version, config: config)
            let result: (ConsumerGroupHeartbeatResponse, [GroupCoordinatorRecord])
            if request.memberEpoch == MemberEpoch.leave || request.memberEpoch == MemberEpoch.staticLeave {
                result = try work.leave(request, nowMs: nowMs, topics: topics)
            } else {
                result = try work.regularHeartbeat(
                    request, version: version, clientID: clientID, clientHost: clientHost, nowMs: nowMs,
                    topics: topics, config: config, newMemberID: newMemberID)
            }
            self = work
            return result
        } catch {
            let response = ConsumerGroupHeartbeatResponse(errorCode: error.code, errorMessage: error.message)
            return (response, [])
        }
    }

    /// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
    static func validate(_ request: ConsumerGroupHeartbeatRequest, version: Int16, config: GroupConfig)
        throws(HeartbeatFailure)
    {
        if version >= Self.memberIDRequiredVersion || request.memberEpoch > 0 || request.memberEpoch == MemberEpoch.leave {
            if request.memberID.isEmpty { throw HeartbeatFailure(.invalidRequest, "MemberId can't be empty.") }
        }
        if request.groupID.rawValue.isEmpty { throw HeartbeatFailure(.invalidRequest, "GroupId can't be empty.") }
        if request.instanceID?.isEmpty == true { throw HeartbeatFailure(.invalidRequest, "InstanceId can't be empty.") }
        if request.rackID?.isEmpty == true { throw HeartbeatFailure(.invalidRequest, "RackId can't be empty.") }
        if request.memberEpoch == 0 {
            if request.rebalanceTimeoutMs == -1 {
                throw HeartbeatFailure(.invalidRequest, "RebalanceTimeoutMs must be provided in first request.")
            }
            if request.topicPartitions == nil || request.topicPartitions?.isEmpty == false {
                throw HeartbeatFailure(.invalidRequest, "TopicPartitions must be empty when (re-)joining.")
            }
            if request.subscribedTopicNames == nil && request.subscribedTopicRegex == nil {
                throw HeartbeatFailure(
                    .invalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
            }
        } else if request.memberEpoch == MemberEpoch.staticLeave {
            if request.instanceID == nil { throw HeartbeatFailure(.invalidRequest, "InstanceId can't be null.") }
        } else if request.memberEpoch < MemberEpoch.staticLeave {
            throw HeartbeatFailure(.invalidRequest, "MemberEpoch is invalid.")
        }
        if let assignor = request.serverAssignor,
            !config.consumerAssignors.contains(assignor) || !ServerAssignor.implemented.contains(assignor)
        {
            let supported = config.consumerAssignors.filter(ServerAssignor.implemented.contains).joined(separator: ", ")
            throw HeartbeatFailure(
                .unsupportedAssignor, "ServerAssignor \(assignor) is not supported. Supported assignors: \(supported).")
        }
    }

    private mutating func regularHeartbeat(
        _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientID: String, clientHost: String, nowMs: Int64,
        topics: TopicImage, config: GroupConfig, newMemberID: () -> String
    ) throws(HeartbeatFailure) -> (ConsumerGroupHeartbeatResponse, [GroupCoordinatorRecord]) {
        let memberEpoch = request.memberEpoch
        let owned = request.topicPartitions
        let joining = memberEpoch == 0
        if !self.exists && !joining {
            throw HeartbeatFailure(.groupIDNotFound, "Consumer group \(self.groupID) not found.")
        }
        // Kafka's `throwIfConsumerGroupIsFull`.
        let members = self.persistent.members
        if members.count >= config.consumerMaxSize && (request.memberID.isEmpty || members[request.memberID] == nil) {
            throw HeartbeatFailure(
                .groupMaxSizeReached,
                "The consumer group has reached its maximum capacity of \(config.consumerMaxSize) members.")
        }
        let memberID = request.memberID.isEmpty ? newMemberID() : request.memberID
        var records: [GroupCoordinatorRecord] = []

        // Get or create the member (Kafka's getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember).
        var member: ConsumerGroupMember
        var isNew = false
        if let instanceID = request.instanceID {
            let existing = self.staticMembers[instanceID].flatMap { self.persistent.members[$0] }
            if joining {
                if let existing {
                    // A static member rejoins: it may take over only after its predecessor left with epoch -2.
                    if existing.memberEpoch != MemberEpoch.staticLeave {
                        throw HeartbeatFailure(
                            .unreleasedInstanceID,
                            "Static member \(memberID) with instance id \(instanceID) cannot join the group because the instance id is owned by \(existing.memberID) member.")
                    }
                    var replacement = existing
                    replacement.memberID = memberID
                    replacement.memberEpoch = 0
                    replacement.previousMemberEpoch = 0
                    // Kafka's replaceMember: remove the old member, then add the new one with the old target.
                    let target = self.targetAssignment(of: existing.memberID)
                    let replacing = self.removalRecords(existing.memberID) + [
                        .consumerGroupMemberMetadata(
                            .init(groupID: self.groupID, memberID: memberID), replacement.metadataValue),
                        .consumerGroupTargetAssignmentMember(
                            .init(groupID: self.groupID, memberID: memberID), Self.targetValue(target)),
                        .consumerGroupCurrentMemberAssignment(
                            .init(groupID: self.groupID, memberID: memberID), replacement.currentAssignmentValue),
                    ]
                    self.apply(replacing, to: &records)
                    member = replacement
                } else if let current = self.persistent.members[memberID] {
                    // As Kafka: a new static member whose member ID is already known takes that member as is.
                    member = current
                } else {
                    member = ConsumerGroupMember(memberID: memberID)
                    isNew = true
                }
            } else {
                guard let existing else {
                    throw HeartbeatFailure(.unknownMemberID, "Instance id \(instanceID) is unknown.")
                }
                if existing.memberID != memberID {
                    throw HeartbeatFailure(
                        .fencedInstanceID,
                        "Static member \(memberID) with instance id \(instanceID) was fenced by member \(existing.memberID).")
                }
                try Self.validateEpoch(existing, memberEpoch, owned)
                member = existing
            }
        } else if let existing = self.persistent.members[memberID] {
            try Self.validateEpoch(existing, memberEpoch, owned)
            member = existing
        } else if joining {
            member = ConsumerGroupMember(memberID: memberID)
            isNew = true
        } else {
            throw HeartbeatFailure(.unknownMemberID, "Member \(memberID) is not a member of group \(self.groupID).")
        }

        // 1. Update the member; bump the group epoch if its subscription changed.
        var updated = member
        if let instanceID = request.instanceID { updated.instanceID = instanceID }
        if let rackID = request.rackID { updated.rackID = rackID }
        if request.rebalanceTimeoutMs != -1 { updated.rebalanceTimeoutMs = request.rebalanceTimeoutMs }
        if let assignor = request.serverAssignor { updated.serverAssignor = assignor }
        if let names = request.subscribedTopicNames { updated.subscribedTopicNames = Set(names.map(\.rawValue)) }
        if let regex = request.subscribedTopicRegex { updated.subscribedTopicRegex = regex }
        updated.clientID = clientID
        updated.clientHost = clientHost
        updated.classicMemberMetadata = nil

        var bumpGroupEpoch = self.persistent.groupEpoch == 0
        if updated != member || isNew {
            if updated.subscribedTopicNames != member.subscribedTopicNames {
                bumpGroupEpoch = true
            } else if updated.subscribedTopicRegex != member.subscribedTopicRegex {
                if updated.hasRegex, let regex = updated.subscribedTopicRegex, (try? Regex(regex)) == nil {
                    throw HeartbeatFailure(
                        .invalidRegularExpression, "SubscribedTopicRegex `\(regex)` is not a valid regular expression.")
                }
                bumpGroupEpoch = true
            }
            self.apply(
                [.consumerGroupMemberMetadata(.init(groupID: self.groupID, memberID: memberID), updated.metadataValue)],
                to: &records)
        }
        // Regular expressions are resolved here against the topics of the moment (Kafka 4 resolves them in the
        // background); a change in what they match changes subscriptions.
        bumpGroupEpoch = self.refreshRegularExpressions(topics) || bumpGroupEpoch
        bumpGroupEpoch = self.updateSubscriptionMetadata(topics, records: &records) || bumpGroupEpoch
        if bumpGroupEpoch {
            self.apply(
                [.consumerGroupMetadata(.init(groupID: self.groupID), .init(epoch: self.persistent.groupEpoch + 1))],
                to: &records)
        }

        // 2. Recompute the target assignment if the group epoch moved past it.
        if self.persistent.groupEpoch > self.persistent.targetAssignmentEpoch {
            try self.updateTargetAssignment(config: config, records: &records)
        }

        // 3. Reconcile the member one step towards its target.
        let reconciled = self.maybeReconcile(memberID, owned: owned, nowMs: nowMs, records: &records)
        self.sessionDeadlines[memberID] = nowMs + Int64(config.consumerSessionTimeoutMs)

        var response = ConsumerGroupHeartbeatResponse(
            memberID: reconciled.memberID, memberEpoch: reconciled.memberEpoch,
            heartbeatIntervalMs: config.consumerHeartbeatIntervalMs)
        // The assignment goes out on a full request (a join, or a member resending everything after an error) and
        // whenever it changed.
        let isFullRequest =
            joining
            || (request.rebalanceTimeoutMs != -1
                && (request.subscribedTopicNames != nil || request.subscribedTopicRegex != nil) && owned != nil)
        if isFullRequest || member.assignedPartitions != reconciled.assignedPartitions {
            response.assignment = .init(
                topicPartitions: reconciled.assignedPartitions.sortedPairs().map { .init(topicID: $0.0, partitions: $0.1) })
        }
        return (response, records)
    }

    /// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`: a member ahead of the coordinator is fenced; one behind
    /// is accepted only at its previous epoch with a subset of its partitions (its last response was lost).
    static func validateEpoch(
        _ member: ConsumerGroupMember, _ received: Int32, _ owned: [ConsumerGroupHeartbeatRequest.TopicPartitions]?
    ) throws(HeartbeatFailure) {
        if received > member.memberEpoch {
            throw HeartbeatFailure(
                .fencedMemberEpoch,
                "The consumer group member has a greater member epoch (\(received)) than the one known by the group coordinator (\(member.memberEpoch)). The member must abandon all its partitions and rejoin.")
        } else if received < member.memberEpoch {
            let isSubset =
                owned?.allSatisfy { topic in
                    guard let assigned = member.assignedPartitions[topic.topicID] else { return false }
                    return topic.partitions.allSatisfy(assigned.contains)
                } ?? false
            if received != member.previousMemberEpoch || !isSubset {
                throw HeartbeatFailure(
                    .fencedMemberEpoch,
                    "The consumer group member has a smaller member epoch (\(received)) than the one known by the group coordinator (\(member.memberEpoch)). The member must abandon all its partitions and rejoin.")
            }
        }
    }

    private mutating func leave(_ request: ConsumerGroupHeartbeatRequest, nowMs: Int64, topics: TopicImage)
        throws(HeartbeatFailure) -> (ConsumerGroupHeartbeatResponse, [GroupCoordinatorRecord])
    {
        guard self.exists else { throw HeartbeatFailure(.groupIDNotFound, "Consumer group \(self.groupID) not found.") }
        let response = ConsumerGroupHeartbeatResponse(memberID: request.memberID, memberEpoch: request.memberEpoch)
        var records: [GroupCoordinatorRecord] = []
        if let instanceID = request.instanceID {
            guard let memberID = self.staticMembers[instanceID], var member = self.persistent.members[memberID] else {
                throw HeartbeatFailure(.unknownMemberID, "Instance id \(instanceID) is unknown.")
            }
            if memberID != request.memberID {
                throw HeartbeatFailure(
                    .fencedInstanceID,
                    "Static member \(request.memberID) with instance id \(instanceID) was fenced by member \(memberID).")
            }
            if request.memberEpoch == MemberEpoch.staticLeave {
                // The static member keeps its assignment for its return (until its session expires).
                member.memberEpoch = MemberEpoch.staticLeave
                member.partitionsPendingRevocation = [:]
                self.apply(
                    [.consumerGroupCurrentMemberAssignment(
                        .init(groupID: self.groupID, memberID: memberID), member.currentAssignmentValue)],
                    to: &records)
                self.rebalanceDeadlines[memberID] = nil
                return (response, records)
            }
            self.fence(memberID, topics: topics, records: &records)
        } else {
            guard self.persistent.members[request.memberID] != nil else {
                throw HeartbeatFailure(
                    .unknownMemberID, "Member \(request.memberID) is not a member of group \(self.groupID).")
            }
            self.fence(request.memberID, topics: topics, records: &records)
        }
        return (response, records)
    }

    // MARK: Timers and topic changes

    /// Expires what is due at `nowMs`: members whose session timed out (no heartbeat for
    /// `group.consumer.session.timeout.ms`) and members that did not revoke partitions within their rebalance
    /// timeout are removed from the group, which bumps the group epoch.
    ///
    /// - Returns: The records to write (already applied).
    public mutating func tick(nowMs: Int64, topics: TopicImage, config: GroupConfig) -> [GroupCoordinatorRecord] {
        var records: [GroupCoordinatorRecord] = []
        let expiredSessions = self.sessionDeadlines.filter { $0.value <= nowMs }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        for (memberID, _) in expiredSessions where self.persistent.members[memberID] != nil {
            self.fence(memberID, topics: topics, records: &records)
        }
        let expiredRebalances = self.rebalanceDeadlines.filter { $0.value.deadlineMs <= nowMs }
            .sorted { ($0.value.deadlineMs, $0.key) < ($1.value.deadlineMs, $1.key) }
        for (memberID, timer) in expiredRebalances {
            self.rebalanceDeadlines[memberID] = nil
            // Only if the member is still stuck at the epoch it had to leave.
            if let member = self.persistent.members[memberID], member.memberEpoch == timer.memberEpoch {
                self.fence(memberID, topics: topics, records: &records)
            }
        }
        for (memberID, deadline) in self.sessionDeadlines where deadline <= nowMs { self.sessionDeadlines[memberID] = nil }
        return records
    }

    /// Reacts to topics created, deleted or grown: when what the group subscribes to changed (a regular expression
    /// matches a new topic, a subscribed topic appeared or got partitions), the new subscription metadata is written
    /// and the group epoch bumped, so the next heartbeat computes a new target assignment.
    ///
    /// - Returns: The records to write (already applied).
    public mutating func topicsChanged(_ topics: TopicImage, nowMs: Int64, config: GroupConfig) -> [GroupCoordinatorRecord] {
        guard self.exists, !self.persistent.members.isEmpty else { return [] }
        var records: [GroupCoordinatorRecord] = []
        var bump = self.refreshRegularExpressions(topics)
        bump = self.updateSubscriptionMetadata(topics, records: &records) || bump
        if bump {
            self.apply(
                [.consumerGroupMetadata(.init(groupID: self.groupID), .init(epoch: self.persistent.groupEpoch + 1))],
                to: &records)
        }
        return records
    }

    // MARK: Steps

    /// Applies records to the group and appends them to `records`.
    mutating func apply(_ new: [GroupCoordinatorRecord], to records: inout [GroupCoordinatorRecord]) {
        for record in new { self.replay(record) }
        records += new
    }

    /// Kafka's `removeMember`: the member's tombstones, in the order replay expects.
    func removalRecords(_ memberID: String) -> [GroupCoordinatorRecord] {
        [
            .consumerGroupCurrentMemberAssignment(.init(groupID: self.groupID, memberID: memberID), nil),
            .consumerGroupTargetAssignmentMember(.init(groupID: self.groupID, memberID: memberID), nil),
            .consumerGroupMemberMetadata(.init(groupID: self.groupID, memberID: memberID), nil),
        ]
    }

    /// Kafka's `consumerGroupFenceMember`: removes the member, updates the subscription metadata without it and
    /// bumps the group epoch.
    mutating func fence(_ memberID: String, topics: TopicImage, records: inout [GroupCoordinatorRecord]) {
        self.apply(self.removalRecords(memberID), to: &records)
        _ = self.refreshRegularExpressions(topics)
        _ = self.updateSubscriptionMetadata(topics, records: &records)
        self.apply(
            [.consumerGroupMetadata(.init(groupID: self.groupID), .init(epoch: self.persistent.groupEpoch + 1))],
            to: &records)
        self.sessionDeadlines[memberID] = nil
        self.rebalanceDeadlines[memberID] = nil
    }

    /// Resolves the members' regular expressions against `topics`; true when what one of them matches changed.
    mutating func refreshRegularExpressions(_ topics: TopicImage) -> Bool {
        let names = Set(topics.byName.keys)
        let regexes = Set(self.persistent.members.values.compactMap { $0.hasRegex ? $0.subscribedTopicRegex : nil })
        var changed = false
        if self.regexTopics != names {
            let previous = self.regexMatches
            self.regexMatches = [:]
            self.regexTopics = names
            for regex in regexes {
                let matches = Self.resolve(regex, names)
                self.regexMatches[regex] = matches
                if let before = previous[regex], before != matches { changed = true }
            }
        } else {
            for regex in regexes where self.regexMatches[regex] == nil {
                self.regexMatches[regex] = Self.resolve(regex, names)
            }
        }
        return changed
    }

    /// The topics a regular expression matches as a whole (RE2/J syntax is close to Swift's); internal topics never.
    static func resolve(_ pattern: String, _ names: Set<String>) -> Set<String> {
        guard let regex = try? Regex(pattern) else { return [] }
        return names.filter { !Self.internalTopics.contains($0) && $0.wholeMatch(of: regex) != nil }
    }

    /// A member's subscribed topic names, regular-expression matches included.
    func resolvedSubscription(_ member: ConsumerGroupMember) -> Set<String> {
        guard member.hasRegex, let regex = member.subscribedTopicRegex else { return member.subscribedTopicNames }
        return member.subscribedTopicNames.union(self.regexMatches[regex] ?? [])
    }

    /// Recomputes the metadata of the subscribed topics; writes it and returns true when it changed.
    mutating func updateSubscriptionMetadata(_ topics: TopicImage, records: inout [GroupCoordinatorRecord]) -> Bool {
        var metadata: [String: TopicMetadata] = [:]
        for name in self.subscribedTopicNames {
            guard let topic = topics.byName[name] else { continue }
            metadata[name] = TopicMetadata(id: topic.id, name: name, partitionCount: topic.partitionCount)
        }
        guard metadata != self.persistent.subscriptionMetadata else { return false }
        let value = ConsumerGroupPartitionMetadataValue(
            topics: metadata.values.sorted { $0.name < $1.name }.map {
                .init(topicID: $0.id, topicName: $0.name, numPartitions: $0.partitionCount, partitionMetadata: [])
            })
        self.apply([.consumerGroupPartitionMetadata(.init(groupID: self.groupID), value)], to: &records)
        return true
    }

    static func targetValue(_ assignment: PartitionsByTopic) -> ConsumerGroupTargetAssignmentMemberValue {
        ConsumerGroupTargetAssignmentMemberValue(
            topicPartitions: assignment.sortedPairs().map { .init(topicID: $0.0, partitions: $0.1) })
    }

    /// Kafka's `TargetAssignmentBuilder`: runs the group's assignor over every member and writes the members whose
    /// target changed, then the new assignment epoch (the group epoch).
    mutating func updateTargetAssignment(config: GroupConfig, records: inout [GroupCoordinatorRecord])
        throws(HeartbeatFailure)
    {
        let idsByName = self.persistent.subscriptionMetadata.mapValues(\.id)
        let counts = Dictionary(
            self.persistent.subscriptionMetadata.values.map { ($0.id, $0.partitionCount) }, uniquingKeysWith: { a, _ in a })
        let specs = self.persistent.members.values.map { member in
            ServerAssignor.Member(
                id: member.memberID,
                topics: Set(self.resolvedSubscription(member).compactMap { idsByName[$0] }),
                current: self.targetAssignment(of: member.memberID))
        }
        let assignor = self.assignorName(config: config)
        guard let assignment = ServerAssignor.assign(assignor, members: specs, partitionCounts: counts) else {
            throw HeartbeatFailure(
                .unknownServerError,
                "Failed to compute a new target assignment for epoch \(self.persistent.groupEpoch): unknown assignor \(assignor)")
        }
        var new: [GroupCoordinatorRecord] = []
        for memberID in self.persistent.members.keys.sorted() {
            let partitions = assignment[memberID] ?? [:]
            if self.persistent.targetAssignment[memberID] != partitions {
                new.append(
                    .consumerGroupTargetAssignmentMember(
                        .init(groupID: self.groupID, memberID: memberID), Self.targetValue(partitions)))
            }
        }
        new.append(
            .consumerGroupTargetAssignmentMetadata(
                .init(groupID: self.groupID), .init(assignmentEpoch: self.persistent.groupEpoch)))
        self.apply(new, to: &records)
    }

    /// Kafka's `maybeReconcile`: moves the member towards its target; arms its rebalance timeout while it has
    /// partitions to revoke.
    mutating func maybeReconcile(
        _ memberID: String, owned: [ConsumerGroupHeartbeatRequest.TopicPartitions]?, nowMs: Int64,
        records: inout [GroupCoordinatorRecord]
    ) -> ConsumerGroupMember {
        guard let member = self.persistent.members[memberID] else { return ConsumerGroupMember(memberID: memberID) }
        let targetEpoch = self.persistent.targetAssignmentEpoch
        if member.isReconciled(to: targetEpoch) { return member }
        let group = self
        let updated = CurrentAssignmentBuilder(
            member: member, targetAssignmentEpoch: targetEpoch, targetAssignment: self.targetAssignment(of: memberID),
            currentPartitionEpoch: { group.currentPartitionEpoch($0, $1) }, ownedTopicPartitions: owned
        ).build()
        guard updated != member else { return member }
        self.apply(
            [.consumerGroupCurrentMemberAssignment(
                .init(groupID: self.groupID, memberID: memberID), updated.currentAssignmentValue)],
            to: &records)
        if updated.state == .unrevokedPartitions {
            self.rebalanceDeadlines[memberID] = (nowMs + Int64(max(updated.rebalanceTimeoutMs, 0)), updated.memberEpoch)
        } else {
            self.rebalanceDeadlines[memberID] = nil
        }
        return updated
    }
}
