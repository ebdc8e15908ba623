import Logging
public import SpateWire

/// Callbacks a group member's ``Consumer`` calls when its assignment changes. They run on the consumer (inside
/// ``Consumer/poll(maxWait:)`` or ``Consumer/close()``) and may call it, to commit or seek.
public struct RebalanceListener: Sendable {
    /// Called with the partitions just assigned, after their positions are set from committed offsets.
    public var onAssigned: @Sendable (Set<TopicPartition>) async -> Void
    /// Called with the partitions about to be given up (eager rebalances: all of them; cooperative: those moving
    /// to another member; and on close), after the automatic commit and before they are removed.
    public var onRevoked: @Sendable (Set<TopicPartition>) async -> Void

    public init(
        onAssigned: @escaping @Sendable (Set<TopicPartition>) async -> Void = { _ in },
        onRevoked: @escaping @Sendable (Set<TopicPartition>) async -> Void = { _ in }
    ) {
        self.onAssigned = onAssigned
        self.onRevoked = onRevoked
    }
}

/// A classic-protocol member's state.
struct GroupMembership {
    var groupID: GroupID
    var topics: [TopicName]
    var listener: RebalanceListener
    var memberID = ""
    var generationID: Int32 = -1
    var protocolName: String?
    var leaderID = ""
    var needsRejoin = true
    /// The membership was lost (session expired, fenced): the partitions go without a commit.
    var isLost = false
    var isJoining = false
    var fatal: KafkaClientError?
    var lastCommit = ContinuousClock.now
    var heartbeat: Task<Void, Never>?
    /// The KIP-848 state, for a ``GroupProtocol/consumer`` member (which uses ``memberID``, ``topics``,
    /// ``listener``, ``fatal``, ``lastCommit`` and ``heartbeat`` above, and none of the classic fields).
    var consumerProtocol: ConsumerGroupMemberState?
}

extension Consumer {
    /// Joins the group (``ConsumerConfiguration/groupID``) with a subscription to `topics`; the next
    /// ``poll(maxWait:)`` completes the join and fetches from the partitions the group assigns. Heartbeats run in
    /// the background until ``close()``.
    /// - Throws: ``KafkaClientError/Code/invalidArgument`` without a group ID.
    public func subscribe(_ topics: [TopicName], listener: RebalanceListener = RebalanceListener()) throws {
        guard let groupID = self.configuration.groupID else {
            throw KafkaClientError(.invalidArgument, "subscribing needs a group ID (ConsumerConfiguration.groupID)")
        }
        guard !topics.isEmpty else { throw KafkaClientError(.invalidArgument, "subscribe to at least one topic") }
        if self.configuration.groupProtocol == .consumer {
            try self.subscribeConsumerProtocol(topics: topics, pattern: nil, listener: listener)
            return
        }
        if self.group == nil {
            self.group = GroupMembership(groupID: groupID, topics: topics, listener: listener)
            let interval = self.configuration.heartbeatInterval
            self.group?.heartbeat = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    await self.heartbeatOnce()
                }
            }
        } else {
            self.group?.topics = topics
            self.group?.listener = listener
            self.group?.needsRejoin = true
        }
    }

    /// The member ID the coordinator gave this member, or `nil` before the first join.
    public var memberID: String? { self.group.flatMap { $0.memberID.isEmpty ? nil : $0.memberID } }
    /// The group generation this member last joined, or -1; with ``GroupProtocol/consumer``, the member epoch (0
    /// while joining).
    public var generationID: Int32 {
        if let state = self.group?.consumerProtocol { return state.memberEpoch }
        return self.group?.generationID ?? -1
    }

    /// Whether rebalances are incremental: every configured assignor is cooperative (as Java decides).
    private var isCooperative: Bool { self.configuration.assignors.allSatisfy(\.isCooperative) }

    // MARK: Poll

    /// Joins or rejoins when needed, and commits when the automatic commit interval has passed.
    func pollGroup() async throws {
        if self.group?.consumerProtocol != nil { return try await self.pollConsumerGroup() }
        guard let group = self.group else { return }
        if let fatal = group.fatal { throw fatal }
        let deadline = ContinuousClock.now + self.configuration.rebalanceTimeout
        while self.group?.needsRejoin == true {
            if let fatal = self.group?.fatal { throw fatal }
            try await self.prepareRejoin()
            do {
                try await self.joinAndSync()
            } catch {
                guard let clientError = error as? KafkaClientError, clientError.isRetriable,
                    ContinuousClock.now < deadline
                else { throw error }
                try await Task.sleep(for: self.client.configuration.retryBackoff)
            }
        }
        try await self.autoCommitIfDue()
    }

    /// Commits all positions when automatic commits are on and the interval has passed.
    func autoCommitIfDue() async throws {
        guard let group = self.group else { return }
        if self.configuration.enableAutoCommit, ContinuousClock.now - group.lastCommit >= self.configuration.autoCommitInterval {
            self.group?.lastCommit = .now
            do {
                try await self.commit()
            } catch {
                self.logger.debug("automatic commit failed", metadata: [LogKey.error: "\(error)"])
            }
        }
    }

    /// Before a JoinGroup: a lost membership drops its partitions; an eager member gives up all of them.
    private func prepareRejoin() async throws {
        guard let group = self.group else { return }
        let owned = Set(self.positions.keys)
        if group.isLost {
            self.group?.isLost = false
            if !owned.isEmpty {
                await group.listener.onRevoked(owned)
                self.dropPartitions(owned)
            }
        } else if !self.isCooperative && !owned.isEmpty {
            await self.revoke(owned)
        }
    }

    /// Commits (with automatic commits), tells the listener, and removes the partitions.
    func revoke(_ partitions: Set<TopicPartition>) async {
        guard let group = self.group, !partitions.isEmpty else { return }
        if self.configuration.enableAutoCommit {
            do {
                try await self.commit(offsets: self.committablePositions(of: partitions))
            } catch {
                self.logger.debug("commit before revocation failed", metadata: [LogKey.error: "\(error)"])
            }
        }
        await group.listener.onRevoked(partitions)
        self.dropPartitions(partitions)
    }

    private func dropPartitions(_ partitions: Set<TopicPartition>) {
        for partition in partitions {
            self.positions[partition] = nil
            self.highWatermarks[partition] = nil
        }
        self.paused.subtract(partitions)
    }

    private func committablePositions(of partitions: Set<TopicPartition>) -> [TopicPartition: Int64] {
        var offsets: [TopicPartition: Int64] = [:]
        for partition in partitions {
            if case .offset(let offset) = self.positions[partition] { offsets[partition] = offset }
        }
        return offsets
    }

    // MARK: Join and sync

    /// One JoinGroup + SyncGroup round; leaves ``GroupMembership/needsRejoin`` set when another round is needed.
    private func joinAndSync() async throws {
        guard let group = self.group else { return }
        self.group?.isJoining = true
        defer { self.group?.isJoining = false }
        let client = self.client
        let configuration = self.configuration
        let groupID = group.groupID
        let owned = self.isCooperative ? Array(self.positions.keys).sorted() : []
        let subscription = ConsumerSubscription(
            topics: group.topics, ownedPartitions: owned, generationID: self.isCooperative ? group.generationID : -1)
        let metadata = subscription.encoded()
        let memberID = group.memberID
        let join = try await client.sendToCoordinator(
            of: groupID, "JoinGroup", timeout: configuration.rebalanceTimeout + client.configuration.requestTimeout
        ) { (version: Int16) in
            JoinGroupRequest(
                groupID: groupID, sessionTimeoutMs: configuration.sessionTimeout.int32Milliseconds,
                rebalanceTimeoutMs: configuration.rebalanceTimeout.int32Milliseconds, memberID: memberID,
                groupInstanceID: version >= 5 ? configuration.groupInstanceID : nil, protocolType: "consumer",
                protocols: configuration.assignors.map { .init(name: $0.rawValue, metadata: metadata) },
                reason: nil)
        }
        switch join.errorCode {
        case .none:
            break
        case .memberIDRequired:
            // KIP-394: rejoin at once with the member ID the coordinator gave.
            self.group?.memberID = join.memberID
            return
        case .unknownMemberID, .illegalGeneration:
            self.group?.memberID = join.errorCode == .unknownMemberID ? "" : memberID
            self.group?.generationID = -1
            return
        case .rebalanceInProgress:
            return
        case .fencedInstanceID:
            let error = KafkaClientError.broker(.fencedInstanceID, "JoinGroup for group '\(groupID)'")
            self.group?.fatal = error
            throw error
        default:
            throw KafkaClientError.broker(join.errorCode, "JoinGroup for group '\(groupID)'")
        }
        self.group?.memberID = join.memberID
        self.group?.generationID = join.generationID
        self.group?.protocolName = join.protocolName
        self.group?.leaderID = join.leader
        let assignments = join.leader == join.memberID ? try await self.computeAssignments(join) : []
        let generationID = join.generationID
        let newMemberID = join.memberID
        let protocolName = join.protocolName
        let sync = try await client.sendToCoordinator(of: groupID, "SyncGroup") { (version: Int16) in
            SyncGroupRequest(
                groupID: groupID, generationID: generationID, memberID: newMemberID,
                groupInstanceID: version >= 3 ? configuration.groupInstanceID : nil,
                protocolType: version >= 5 ? "consumer" : nil, protocolName: version >= 5 ? protocolName : nil,
                assignments: assignments)
        }
        switch sync.errorCode {
        case .none:
            break
        case .rebalanceInProgress:
            return
        case .unknownMemberID, .illegalGeneration:
            if sync.errorCode == .unknownMemberID { self.group?.memberID = "" }
            self.group?.generationID = -1
            return
        case .fencedInstanceID:
            let error = KafkaClientError.broker(.fencedInstanceID, "SyncGroup for group '\(groupID)'")
            self.group?.fatal = error
            throw error
        default:
            throw KafkaClientError.broker(sync.errorCode, "SyncGroup for group '\(groupID)'")
        }
        let assignment: ConsumerAssignment
        do {
            assignment = try ConsumerAssignment(decoding: sync.assignment)
        } catch {
            throw KafkaClientError(.protocolViolation, "undecodable assignment from the group leader: \(error)")
        }
        let topics = Set(self.group?.topics ?? [])
        let assigned = Set(assignment.partitions.filter { topics.contains($0.topic) })
        let current = Set(self.positions.keys)
        let revoked = current.subtracting(assigned)
        let added = assigned.subtracting(current)
        self.group?.needsRejoin = false
        if !revoked.isEmpty {
            // Cooperative (KIP-429): give up what moved, then rejoin so that its new owner gets it.
            await self.revoke(revoked)
            self.group?.needsRejoin = true
        }
        if !added.isEmpty {
            let committed = try await self.committed(added)
            self.takePartitions(added, committed: committed)
            await group.listener.onAssigned(added)
        }
        self.group?.lastCommit = .now
        self.logger.debug(
            "joined group",
            metadata: [
                LogKey.groupID: "\(groupID)", "spate.generation": "\(generationID)",
                "spate.assignment": "\(assigned.sorted().map(\.description))",
            ])
    }

    /// Sets the positions of newly assigned partitions: their committed offsets, else ``ConsumerConfiguration/autoOffsetReset``.
    func takePartitions(_ added: Set<TopicPartition>, committed: [TopicPartition: Int64]) {
        let reset: SeekTarget = self.configuration.autoOffsetReset == .earliest ? .beginning : .end
        for partition in added {
            if let offset = committed[partition] {
                self.positions[partition] = .offset(offset)
            } else {
                self.positions[partition] = .pending(reset)
            }
        }
    }

    /// The leader's work: decode the members' subscriptions and run the selected assignor.
    private func computeAssignments(_ join: JoinGroupResponse) async throws -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        guard let name = join.protocolName, let assignor = PartitionAssignor(rawValue: name) else {
            throw KafkaClientError(.protocolViolation, "the coordinator selected an unknown assignor '\(join.protocolName ?? "")'")
        }
        var members: [PartitionAssignor.Member] = []
        for member in join.members {
            let subscription: ConsumerSubscription
            do {
                subscription = try ConsumerSubscription(decoding: member.metadata)
            } catch {
                throw KafkaClientError(.protocolViolation, "member \(member.memberID) sent an undecodable subscription: \(error)")
            }
            members.append(.init(memberID: member.memberID, groupInstanceID: member.groupInstanceID, subscription: subscription))
        }
        let client = self.client
        var counts: [TopicName: Int32] = [:]
        for topic in Set(members.flatMap(\.subscription.topics)) {
            do {
                let metadata = try await retrying(client, "metadata for topic '\(topic)'", retryUnknownTopic: false) {
                    try await client.topicMetadata(topic)
                }
                counts[topic] = Int32(metadata.partitions.count)
            } catch {
                // A subscribed topic that does not exist gets no partitions (as Kafka's assignors).
                guard (error as? KafkaClientError)?.code == .unknownTopic else { throw error }
            }
        }
        let result = assignor.assign(members, partitionCounts: counts)
        return members.map { member in
            .init(memberID: member.memberID, assignment: ConsumerAssignment(partitions: result[member.memberID] ?? []).encoded())
        }
    }

    // MARK: Heartbeat

    /// One Heartbeat, when the member is in a stable generation; errors become a rejoin.
    func heartbeatOnce() async {
        guard let group = self.group, !self.isClosed, !group.isJoining, group.generationID >= 0, group.fatal == nil
        else { return }
        let configuration = self.configuration
        do {
            let node = try await self.client.coordinator(of: group.groupID)
            let response = try await self.client.send(to: node) { (version: Int16) in
                HeartbeatRequest(
                    groupID: group.groupID, generationID: group.generationID, memberID: group.memberID,
                    groupInstanceID: version >= 3 ? configuration.groupInstanceID : nil)
            }
            // The generation may have moved on while the heartbeat was out.
            guard self.group?.generationID == group.generationID else { return }
            switch response.errorCode {
            case .none:
                break
            case .rebalanceInProgress:
                self.group?.needsRejoin = true
            case .unknownMemberID:
                self.group?.memberID = ""
                self.group?.generationID = -1
                self.group?.isLost = true
                self.group?.needsRejoin = true
            case .illegalGeneration:
                self.group?.generationID = -1
                self.group?.isLost = true
                self.group?.needsRejoin = true
            case .fencedInstanceID:
                self.group?.fatal = KafkaClientError.broker(.fencedInstanceID, "Heartbeat for group '\(group.groupID)'")
            case .notCoordinator, .coordinatorNotAvailable:
                await self.client.invalidateCoordinator(of: group.groupID)
            default:
                self.logger.debug("heartbeat failed", metadata: [LogKey.error: "\(response.errorCode.name)"])
            }
        } catch {
            if let clientError = error as? KafkaClientError, clientError.invalidatesCoordinator {
                await self.client.invalidateCoordinator(of: group.groupID)
            }
            self.logger.debug("heartbeat failed", metadata: [LogKey.error: "\(error)"])
        }
    }

    // MARK: Leave

    /// On close: commit, revoke, leave (dynamic members), stop heartbeating.
    func leaveGroup() async {
        if self.group?.consumerProtocol != nil { return await self.leaveConsumerGroup() }
        guard let group = self.group else { return }
        group.heartbeat?.cancel()
        if group.generationID >= 0, group.fatal == nil {
            await self.revoke(Set(self.positions.keys))
        }
        if !group.memberID.isEmpty, self.configuration.groupInstanceID == nil {
            let memberID = group.memberID
            do {
                _ = try await self.client.sendToCoordinator(
                    of: group.groupID, "LeaveGroup", errorCode: { (r: LeaveGroupResponse) in r.errorCode }
                ) { version in
                    version >= 3
                        ? LeaveGroupRequest(
                            groupID: group.groupID,
                            members: [.init(memberID: memberID, reason: version >= 5 ? "the consumer is closing" : nil)])
                        : LeaveGroupRequest(groupID: group.groupID, memberID: memberID)
                }
            } catch {
                self.logger.debug("leaving the group failed", metadata: [LogKey.error: "\(error)"])
            }
        }
        self.group = nil
    }

    // MARK: Commits

    /// Commits the positions of every assigned partition: the offset after the last record ``poll(maxWait:)``
    /// returned.
    /// - Throws: ``KafkaClientError``; a rebalance in progress (`REBALANCE_IN_PROGRESS`, `ILLEGAL_GENERATION`,
    ///   `UNKNOWN_MEMBER_ID`) fails the commit and makes the next poll rejoin.
    public func commit() async throws {
        try await self.commit(offsets: self.committablePositions(of: Set(self.positions.keys)))
    }

    /// Commits these offsets (each the offset of the next record to read) for the group.
    public func commit(offsets: [TopicPartition: Int64]) async throws {
        guard let groupID = self.configuration.groupID else {
            throw KafkaClientError(.invalidArgument, "committing needs a group ID (ConsumerConfiguration.groupID)")
        }
        guard !offsets.isEmpty else { return }
        if self.group?.consumerProtocol != nil {
            return try await self.commitAsConsumerGroupMember(group: groupID, offsets)
        }
        let generation = self.group?.generationID ?? -1
        let memberID = self.group?.memberID ?? ""
        let instanceID = self.configuration.groupInstanceID
        do {
            try await self.client.commitOffsets(
                group: groupID, offsets, generationID: generation, memberID: generation >= 0 ? memberID : "",
                groupInstanceID: generation >= 0 ? instanceID : nil)
        } catch {
            if let code = (error as? KafkaClientError)?.kafkaErrorCode,
                [.rebalanceInProgress, .illegalGeneration, .unknownMemberID].contains(code)
            {
                self.group?.needsRejoin = true
            }
            throw error
        }
    }

    /// The group's committed offsets of `partitions` (absent: none committed).
    public func committed(_ partitions: Set<TopicPartition>) async throws -> [TopicPartition: Int64] {
        guard let groupID = self.configuration.groupID else {
            throw KafkaClientError(.invalidArgument, "committed offsets need a group ID (ConsumerConfiguration.groupID)")
        }
        if let state = self.group?.consumerProtocol, state.memberEpoch > 0, let memberID = self.group?.memberID {
            // OffsetFetch v9: the coordinator checks the member and its epoch (KIP-848).
            return try await self.client.committedOffsets(
                group: groupID, partitions: Array(partitions), memberID: memberID, memberEpoch: state.memberEpoch)
        }
        return try await self.client.committedOffsets(group: groupID, partitions: Array(partitions))
    }
}
