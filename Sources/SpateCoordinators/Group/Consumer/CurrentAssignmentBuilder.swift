import SpateWire

/// Moves a member's current assignment one step towards its target assignment, as Kafka's
/// `CurrentAssignmentBuilder` does (KIP-848 incremental reconciliation):
///
/// - A partition the member must give up goes to *pending revocation*; the member stays at its epoch in
///   ``ConsumerGroupMember/State/unrevokedPartitions`` until its heartbeat no longer lists it as owned.
/// - A partition the member should get is handed over only once no other member holds it (its *partition epoch*
///   is -1); until then the member waits in ``ConsumerGroupMember/State/unreleasedPartitions``.
///
/// So no partition is ever owned by two members at once.
struct CurrentAssignmentBuilder {
    var member: ConsumerGroupMember
    var targetAssignmentEpoch: Int32
    var targetAssignment: PartitionsByTopic
    /// The epoch of the member that holds a partition (assigned or pending revocation), or -1 when it is free.
    var currentPartitionEpoch: (KafkaUUID, Int32) -> Int32
    /// The partitions the member says it owns (nil when the heartbeat does not say).
    var ownedTopicPartitions: [ConsumerGroupHeartbeatRequest.TopicPartitions]?

    func build() -> ConsumerGroupMember {
        switch self.member.state {
        case .stable:
            // A newer target assignment may be available: reconcile towards it.
            if self.member.memberEpoch != self.targetAssignmentEpoch {
                return self.computeNextAssignment(self.member.memberEpoch, self.member.assignedPartitions)
            }
            return self.member
        case .unrevokedPartitions:
            // Wait until the member no longer reports the partitions it must revoke.
            if self.ownsRevokedPartitions(self.member.partitionsPendingRevocation) { return self.member }
            return self.computeNextAssignment(self.member.memberEpoch + 1, self.member.assignedPartitions)
        case .unreleasedPartitions:
            // Pick up the unreleased partitions as their previous owners release them.
            return self.computeNextAssignment(self.member.memberEpoch, self.member.assignedPartitions)
        case .unknown:
            // Kafka throws here; a member in a state from the future is moved back to the target, which at worst
            // revokes what it has.
            return self.computeNextAssignment(self.member.memberEpoch, self.member.assignedPartitions)
        }
    }

    /// Whether the member still owns any of `revoked`, according to its heartbeat (unknown counts as yes).
    private func ownsRevokedPartitions(_ revoked: PartitionsByTopic) -> Bool {
        guard let owned = self.ownedTopicPartitions else { return true }
        for topic in owned {
            guard let pending = revoked[topic.topicID] else { continue }
            if topic.partitions.contains(where: pending.contains) { return true }
        }
        return false
    }

    private func computeNextAssignment(_ memberEpoch: Int32, _ memberAssignedPartitions: PartitionsByTopic)
        -> ConsumerGroupMember
    {
        var hasUnreleasedPartitions = false
        var newAssigned: PartitionsByTopic = [:]
        var newPendingRevocation: PartitionsByTopic = [:]
        var newPendingAssignment: PartitionsByTopic = [:]
        let topics = Set(self.targetAssignment.keys).union(memberAssignedPartitions.keys)
        for topic in topics {
            let target = self.targetAssignment[topic] ?? []
            let current = memberAssignedPartitions[topic] ?? []
            // New assigned = previously assigned ∩ target.
            let assigned = current.intersection(target)
            // Pending revocation = previously assigned − new assigned.
            let revoking = current.subtracting(assigned)
            // Pending assignment = target − new assigned − partitions another member still holds.
            var assigning = target.subtracting(assigned)
            let ownPendingRevocation = self.member.partitionsPendingRevocation[topic] ?? []
            let unreleased = assigning.filter { partition in
                self.currentPartitionEpoch(topic, partition) != -1 && !ownPendingRevocation.contains(partition)
            }
            if !unreleased.isEmpty {
                hasUnreleasedPartitions = true
                assigning.subtract(unreleased)
            }
            if !assigned.isEmpty { newAssigned[topic] = assigned }
            if !revoking.isEmpty { newPendingRevocation[topic] = revoking }
            if !assigning.isEmpty { newPendingAssignment[topic] = assigning }
        }
        var next = self.member
        if !newPendingRevocation.isEmpty, self.ownsRevokedPartitions(newPendingRevocation) {
            // Revoke first: the member stays at its epoch until it acknowledges the revocation.
            next.state = .unrevokedPartitions
            next.updateMemberEpoch(memberEpoch)
            next.assignedPartitions = newAssigned
            next.partitionsPendingRevocation = newPendingRevocation
        } else if !newPendingAssignment.isEmpty {
            // Assign what is free: the member moves to the target epoch.
            for (topic, partitions) in newPendingAssignment { newAssigned[topic, default: []].formUnion(partitions) }
            next.state = hasUnreleasedPartitions ? .unreleasedPartitions : .stable
            next.updateMemberEpoch(self.targetAssignmentEpoch)
            next.assignedPartitions = newAssigned
            next.partitionsPendingRevocation = [:]
        } else {
            // Nothing to revoke or assign now; maybe something to wait for.
            next.state = hasUnreleasedPartitions ? .unreleasedPartitions : .stable
            next.updateMemberEpoch(self.targetAssignmentEpoch)
            next.assignedPartitions = newAssigned
            next.partitionsPendingRevocation = [:]
        }
        return next
    }
}

extension ConsumerGroupMember {
    /// Kafka's `Builder.updateMemberEpoch`: the old epoch becomes the previous one.
    mutating func updateMemberEpoch(_ epoch: Int32) {
        self.previousMemberEpoch = self.memberEpoch
        self.memberEpoch = epoch
    }
}
