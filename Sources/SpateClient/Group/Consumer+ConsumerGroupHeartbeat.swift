import Logging
import SpateWire

/// A KIP-848 member's state (``GroupProtocol/consumer``): the coordinator computes the member's target assignment
/// and sends it in ConsumerGroupHeartbeat responses; the member reconciles towards it (as Kafka's Java
/// `ConsumerMembershipManager`): it gives up the partitions no longer assigned (committing first with automatic
/// commits), takes the new ones (from their committed offsets) and acknowledges by sending what it owns in the next
/// heartbeat.
struct ConsumerGroupMemberState {
    /// A regular-expression subscription (SubscribedTopicRegex, ConsumerGroupHeartbeat v1), instead of topic names.
    var pattern: String?
    /// The member epoch: 0 to join, then the coordinator's.
    var memberEpoch: Int32 = 0
    /// The latest assignment from the coordinator (topic ID → partitions), or `nil` before the first.
    var target: [KafkaUUID: Set<Int32>]?
    /// Bumped with every new target and when the membership is lost, so that a reconciliation notices.
    var targetVersion = 0
    /// Topic names by ID, from metadata.
    var topicNames: [KafkaUUID: TopicName] = [:]
    /// The interval the coordinator asks for.
    var heartbeatInterval: Duration
    /// Heartbeat at once rather than after the interval (to join, rejoin or acknowledge a reconciliation).
    var isUrgent = true
    /// The background task's current wait, cancelled to heartbeat at once.
    var sleeper: Task<Void, Never>?
    var isReconciling = false
    /// Partitions dropped without a commit when the membership was lost, for the listener's next call.
    var lost: Set<TopicPartition> = []
    var isLeaving = false
}

extension Consumer {
    /// Subscribes a ``GroupProtocol/consumer`` member to topics whose names match `pattern` (a regular expression,
    /// in the coordinator's syntax: RE2/J on Kafka, Swift `Regex` on Spate); the coordinator resolves it, and the
    /// subscription follows topics as they are created and deleted. Needs ConsumerGroupHeartbeat v1 (Kafka 4.0+).
    /// - Throws: ``KafkaClientError/Code/invalidArgument`` without a group ID or with the classic protocol.
    public func subscribe(pattern: String, listener: RebalanceListener = RebalanceListener()) throws {
        guard self.configuration.groupProtocol == .consumer else {
            throw KafkaClientError(.invalidArgument, "regular-expression subscriptions need group.protocol=consumer")
        }
        guard !pattern.isEmpty else { throw KafkaClientError(.invalidArgument, "the pattern must not be empty") }
        try self.subscribeConsumerProtocol(topics: [], pattern: pattern, listener: listener)
    }

    /// Starts (or changes) a KIP-848 membership; the heartbeat task joins at once.
    func subscribeConsumerProtocol(topics: [TopicName], pattern: String?, listener: RebalanceListener) throws {
        guard let groupID = self.configuration.groupID else {
            throw KafkaClientError(.invalidArgument, "subscribing needs a group ID (ConsumerConfiguration.groupID)")
        }
        if self.group != nil {
            self.group?.topics = topics
            self.group?.listener = listener
            self.group?.consumerProtocol?.pattern = pattern
            self.wakeHeartbeat()
            return
        }
        var group = GroupMembership(groupID: groupID, topics: topics, listener: listener)
        // ConsumerGroupHeartbeat v1: the client makes its member ID, and keeps it for the consumer's lifetime.
        group.memberID = KafkaUUID.random().description
        group.needsRejoin = false
        group.consumerProtocol = ConsumerGroupMemberState(
            pattern: pattern, heartbeatInterval: self.configuration.heartbeatInterval)
        group.heartbeat = Task { [weak self] in
            while !Task.isCancelled {
                guard let self, let wait = await self.consumerGroupHeartbeat() else { return }
                if wait > .zero { await self.waitForHeartbeat(wait) }
            }
        }
        self.group = group
    }

    // MARK: Heartbeat

    /// Makes the heartbeat task send its next heartbeat now.
    func wakeHeartbeat() {
        self.group?.consumerProtocol?.isUrgent = true
        self.group?.consumerProtocol?.sleeper?.cancel()
    }

    /// Waits `wait`, or less when ``wakeHeartbeat()`` is called (or the task is cancelled).
    private func waitForHeartbeat(_ wait: Duration) async {
        guard let state = self.group?.consumerProtocol, !state.isUrgent, !state.isLeaving else { return }
        let sleeper = Task<Void, Never> { _ = try? await Task.sleep(for: wait) }
        self.group?.consumerProtocol?.sleeper = sleeper
        await withTaskCancellationHandler {
            await sleeper.value
        } onCancel: {
            sleeper.cancel()
        }
        if self.group?.consumerProtocol?.sleeper == sleeper { self.group?.consumerProtocol?.sleeper = nil }
    }

    /// The partitions this member owns, by topic ID, as a heartbeat sends them.
    private func ownedTopicPartitions(_ state: ConsumerGroupMemberState) -> [ConsumerGroupHeartbeatRequest.TopicPartitions] {
        let ids = Dictionary(state.topicNames.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        let byTopic = Dictionary(grouping: self.positions.keys, by: \.topic)
        return byTopic.compactMap { topic, partitions in
            guard let id = ids[topic] else { return nil }
            return .init(topicID: id, partitions: partitions.map(\.partition).sorted())
        }.sorted { $0.topicID.description < $1.topicID.description }
    }

    /// Sends one ConsumerGroupHeartbeat and handles its response.
    /// - Returns: How long to wait before the next heartbeat, or `nil` to stop (leaving, closed, or a fatal error).
    func consumerGroupHeartbeat() async -> Duration? {
        guard let group = self.group, let state = group.consumerProtocol, !self.isClosed, !state.isLeaving,
            group.fatal == nil
        else { return nil }
        self.group?.consumerProtocol?.isUrgent = false
        let configuration = self.configuration
        let epoch = state.memberEpoch
        // Every heartbeat is a full one (subscription, rebalance timeout, owned partitions): simpler than tracking
        // what changed, and the coordinator then always answers with the assignment.
        let owned = epoch == 0 ? [] : self.ownedTopicPartitions(state)
        let topics = group.topics
        let pattern = state.pattern
        let memberID = group.memberID
        do {
            let node = try await self.client.coordinator(of: group.groupID)
            let response = try await self.client.send(to: node) { (version: Int16) in
                if pattern != nil && version < 1 {
                    throw KafkaClientError(
                        .unsupportedVersion, "the coordinator does not support regular-expression subscriptions")
                }
                return ConsumerGroupHeartbeatRequest(
                    groupID: group.groupID, memberID: memberID, memberEpoch: epoch,
                    instanceID: configuration.groupInstanceID,
                    rebalanceTimeoutMs: configuration.rebalanceTimeout.int32Milliseconds,
                    subscribedTopicNames: pattern == nil ? topics : nil, subscribedTopicRegex: pattern,
                    serverAssignor: configuration.serverAssignor, topicPartitions: owned)
            }
            guard let current = self.group?.consumerProtocol, !current.isLeaving, !self.isClosed else { return nil }
            return await self.handleHeartbeatResponse(response, groupID: group.groupID)
        } catch {
            guard let clientError = error as? KafkaClientError, clientError.isRetriable else {
                let fatal = error as? KafkaClientError ?? KafkaClientError(.protocolViolation, "\(error)")
                self.group?.fatal = fatal
                self.logger.error("ConsumerGroupHeartbeat failed", metadata: [LogKey.error: "\(fatal)"])
                return nil
            }
            if clientError.invalidatesCoordinator { await self.client.invalidateCoordinator(of: group.groupID) }
            self.logger.debug("ConsumerGroupHeartbeat failed", metadata: [LogKey.error: "\(error)"])
            return self.client.configuration.retryBackoff
        }
    }

    private func handleHeartbeatResponse(_ response: ConsumerGroupHeartbeatResponse, groupID: GroupID) async -> Duration? {
        let backoff = self.client.configuration.retryBackoff
        switch response.errorCode {
        case .none:
            if let memberID = response.memberID, !memberID.isEmpty { self.group?.memberID = memberID }
            self.group?.consumerProtocol?.memberEpoch = response.memberEpoch
            if response.heartbeatIntervalMs > 0 {
                self.group?.consumerProtocol?.heartbeatInterval = .milliseconds(Int64(response.heartbeatIntervalMs))
            }
            if let assignment = response.assignment {
                let target = Dictionary(
                    assignment.topicPartitions.map { ($0.topicID, Set($0.partitions)) }, uniquingKeysWith: { $0.union($1) })
                if target != self.group?.consumerProtocol?.target {
                    self.group?.consumerProtocol?.target = target
                    self.group?.consumerProtocol?.targetVersion += 1
                }
            }
            return self.group?.consumerProtocol?.isUrgent == true ? .zero : self.group?.consumerProtocol?.heartbeatInterval
        case .fencedMemberEpoch, .unknownMemberID:
            // The coordinator no longer counts this member in: its partitions may already be elsewhere, so they go
            // without a commit, and the member rejoins with epoch 0.
            self.logger.info(
                "the group fenced this member; rejoining",
                metadata: [LogKey.groupID: "\(groupID)", LogKey.error: "\(response.errorCode.name)"])
            self.loseConsumerGroupMembership()
            return .zero
        case .notCoordinator, .coordinatorNotAvailable:
            await self.client.invalidateCoordinator(of: groupID)
            return backoff
        case .coordinatorLoadInProgress:
            return backoff
        default:
            // UNSUPPORTED_ASSIGNOR, GROUP_MAX_SIZE_REACHED, UNRELEASED_INSTANCE_ID, FENCED_INSTANCE_ID,
            // INVALID_REGULAR_EXPRESSION, INVALID_REQUEST, …: the next poll throws.
            let error = KafkaClientError.broker(
                response.errorCode, "ConsumerGroupHeartbeat for group '\(groupID)'", message: response.errorMessage)
            self.group?.fatal = error
            self.logger.error("ConsumerGroupHeartbeat failed", metadata: [LogKey.error: "\(error)"])
            return nil
        }
    }

    /// Drops every partition without a commit (the listener hears of them at the next poll) and rejoins.
    private func loseConsumerGroupMembership() {
        let owned = Set(self.positions.keys)
        for partition in owned {
            self.positions[partition] = nil
            self.highWatermarks[partition] = nil
        }
        self.paused.subtract(owned)
        self.group?.consumerProtocol?.lost.formUnion(owned)
        self.group?.consumerProtocol?.memberEpoch = 0
        self.group?.consumerProtocol?.target = nil
        self.group?.consumerProtocol?.targetVersion += 1
        self.group?.consumerProtocol?.isUrgent = true
    }

    // MARK: Poll: reconciliation

    /// The consumer protocol's part of a poll: tells the listener of lost partitions, reconciles the assignment
    /// with the latest target, and commits when the automatic commit interval has passed.
    func pollConsumerGroup() async throws {
        guard let group = self.group, let state = group.consumerProtocol else { return }
        if let fatal = group.fatal { throw fatal }
        if !state.lost.isEmpty {
            self.group?.consumerProtocol?.lost = []
            await group.listener.onRevoked(state.lost)
        }
        do {
            try await self.reconcile()
        } catch {
            // The membership moved on while reconciling (a newer epoch, a fence): the next poll reconciles again.
            guard let code = (error as? KafkaClientError)?.kafkaErrorCode,
                [.staleMemberEpoch, .fencedMemberEpoch, .unknownMemberID].contains(code)
            else { throw error }
            self.logger.debug("reconciliation interrupted", metadata: [LogKey.error: "\(error)"])
        }
        try await self.autoCommitIfDue()
    }

    /// Moves the assignment to the latest target: revoke what is no longer assigned, then take what is new, then
    /// acknowledge with a heartbeat at once; again while a newer target arrived meanwhile.
    private func reconcile() async throws {
        guard let state = self.group?.consumerProtocol, !state.isReconciling else { return }
        self.group?.consumerProtocol?.isReconciling = true
        defer { self.group?.consumerProtocol?.isReconciling = false }
        while let state = self.group?.consumerProtocol, let target = state.target, !state.isLeaving {
            let version = state.targetVersion
            let names = try await self.resolveTopicNames(Set(target.keys))
            var assigned = Set<TopicPartition>()
            for (id, partitions) in target {
                guard let name = names[id] else { continue }
                for partition in partitions { assigned.insert(TopicPartition(name, partition)) }
            }
            let owned = Set(self.positions.keys)
            let revoked = owned.subtracting(assigned)
            if !revoked.isEmpty { await self.revoke(revoked) }
            guard self.group?.consumerProtocol?.targetVersion == version else { continue }
            let added = assigned.subtracting(Set(self.positions.keys))
            if !added.isEmpty {
                let committed = try await self.committed(added)
                guard self.group?.consumerProtocol?.targetVersion == version else { continue }
                self.takePartitions(added, committed: committed)
                if let listener = self.group?.listener { await listener.onAssigned(added) }
            }
            if !revoked.isEmpty || !added.isEmpty {
                self.wakeHeartbeat()
                self.logger.debug(
                    "reconciled",
                    metadata: [
                        LogKey.groupID: "\(self.group?.groupID.rawValue ?? "")",
                        "spate.member_epoch": "\(self.group?.consumerProtocol?.memberEpoch ?? -1)",
                        "spate.assignment": "\(assigned.sorted().map(\.description))",
                    ])
            }
            if self.group?.consumerProtocol?.targetVersion == version { return }
        }
    }

    /// Topic names of `ids`, refreshing metadata for the IDs not known yet (unknown ones stay out).
    private func resolveTopicNames(_ ids: Set<KafkaUUID>) async throws -> [KafkaUUID: TopicName] {
        guard let state = self.group?.consumerProtocol else { return [:] }
        guard !ids.isSubset(of: state.topicNames.keys) else { return state.topicNames }
        let topics = state.pattern == nil ? self.group?.topics : nil
        let metadata = try await self.client.refreshMetadata(topics: topics, allowAutoCreate: false)
        var names = state.topicNames
        for (name, topic) in metadata.topics where topic.topicID != .zero { names[topic.topicID] = name }
        self.group?.consumerProtocol?.topicNames = names
        return names
    }

    // MARK: Leave

    /// On close: stop heartbeating, commit and revoke (with the listener), then leave with epoch -1 (a static
    /// member: -2, so that its restart takes its place without a rebalance).
    func leaveConsumerGroup() async {
        guard let group = self.group, let state = group.consumerProtocol else { return }
        self.group?.consumerProtocol?.isLeaving = true
        group.heartbeat?.cancel()
        state.sleeper?.cancel()
        await group.heartbeat?.value
        if group.fatal == nil, let current = self.group?.consumerProtocol, current.memberEpoch > 0 {
            await self.revoke(Set(self.positions.keys))
        }
        if group.fatal == nil {
            let memberID = self.group?.memberID ?? group.memberID
            let epoch: Int32 = self.configuration.groupInstanceID == nil ? -1 : -2
            let instanceID = self.configuration.groupInstanceID
            do {
                _ = try await self.client.sendToCoordinator(
                    of: group.groupID, "ConsumerGroupHeartbeat (leave)",
                    errorCode: { (r: ConsumerGroupHeartbeatResponse) in r.errorCode }
                ) { _ in
                    ConsumerGroupHeartbeatRequest(
                        groupID: group.groupID, memberID: memberID, memberEpoch: epoch, instanceID: instanceID)
                }
            } catch {
                self.logger.debug("leaving the group failed", metadata: [LogKey.error: "\(error)"])
            }
        }
        self.group = nil
    }

    // MARK: Offsets

    /// Commits as a KIP-848 member (OffsetCommit v9: member ID and epoch); once more with the new epoch when the
    /// coordinator moved the member on meanwhile (`STALE_MEMBER_EPOCH`).
    func commitAsConsumerGroupMember(group groupID: GroupID, _ offsets: [TopicPartition: Int64]) async throws {
        var epoch = self.group?.consumerProtocol?.memberEpoch ?? -1
        let memberID = self.group?.memberID ?? ""
        let instanceID = self.configuration.groupInstanceID
        var retried = false
        while true {
            do {
                try await self.client.commitOffsets(
                    group: groupID, offsets, generationID: epoch, memberID: memberID, groupInstanceID: instanceID)
                return
            } catch {
                let current = self.group?.consumerProtocol?.memberEpoch ?? -1
                guard !retried, (error as? KafkaClientError)?.kafkaErrorCode == .staleMemberEpoch, current != epoch,
                    current > 0
                else { throw error }
                retried = true
                epoch = current
            }
        }
    }
}
