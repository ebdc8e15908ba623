public import SpateWire

/// A group as ListGroups reports it.
public struct GroupListing: Hashable, Sendable {
    public var groupID: GroupID
    /// `consumer` for consumer groups (both protocols), or another classic protocol type; empty when unknown.
    public var protocolType: String
    /// The state (`Stable`, `Empty`, `PreparingRebalance`, …), where the broker reports it.
    public var state: String
    /// `classic` or `consumer`, where the broker reports it.
    public var type: String
}

/// A group as DescribeGroups reports it.
public struct GroupDescription: Hashable, Sendable {
    public struct Member: Hashable, Sendable {
        public var memberID: String
        public var groupInstanceID: String?
        public var clientID: String
        public var clientHost: String
        /// The partitions the member was assigned (decoded from the consumer protocol; empty for other protocols).
        public var assignment: [TopicPartition]
    }

    public var groupID: GroupID
    public var state: String
    public var protocolType: String
    /// The selected assignor (classic consumer groups).
    public var protocolName: String
    public var members: [Member]
}

/// One partition of ``Admin/groupOffsets(_:)``: what `kafka-consumer-groups.sh --describe` shows.
public struct GroupPartitionOffset: Hashable, Sendable {
    public var partition: TopicPartition
    /// The committed offset, or `nil` when none is.
    public var committedOffset: Int64?
    /// The log end offset (high watermark).
    public var endOffset: Int64?
    /// `endOffset - committedOffset`, when both are known.
    public var lag: Int64? {
        guard let committedOffset, let endOffset else { return nil }
        return max(0, endOffset - committedOffset)
    }
    /// The member the partition is assigned to, if any.
    public var memberID: String?
    public var clientID: String?
}

/// Where ``Admin/resetGroupOffsets(_:topic:to:)`` moves a group's offsets.
public enum GroupOffsetReset: Hashable, Sendable {
    case earliest
    case latest
    case offset(Int64)
}

extension Admin {
    /// Every group of every broker (ListGroups), sorted by ID.
    public func listGroups() async throws -> [GroupListing] {
        let client = self.client
        return try await retrying(client, "ListGroups") {
            let metadata = try await client.refreshMetadata(topics: [], allowAutoCreate: false)
            let nodes: [BrokerID?] = metadata.brokers.isEmpty ? [nil] : metadata.brokers.keys.sorted().map { $0 }
            var groups: [GroupID: GroupListing] = [:]
            for node in nodes {
                let response = try await client.send(to: node) { _ in ListGroupsRequest() }
                guard response.errorCode == .none else { throw KafkaClientError.broker(response.errorCode, "ListGroups") }
                for group in response.groups {
                    groups[group.groupID] = GroupListing(
                        groupID: group.groupID, protocolType: group.protocolType, state: group.groupState,
                        type: group.groupType)
                }
            }
            return groups.values.sorted { $0.groupID < $1.groupID }
        }
    }

    /// Describes a group (DescribeGroups to its coordinator). A group that does not exist is reported in state
    /// `Dead` with no members, as Kafka does.
    public func describeGroup(_ group: GroupID) async throws -> GroupDescription {
        let response = try await self.client.sendToCoordinator(
            of: group, "DescribeGroups", errorCode: { (r: DescribeGroupsResponse) in r.groups.first?.errorCode ?? .none }
        ) { _ in DescribeGroupsRequest(groups: [group]) }
        guard let described = response.groups.first else {
            throw KafkaClientError(.protocolViolation, "DescribeGroups answered without the group '\(group)'")
        }
        let members = described.members.map { member in
            GroupDescription.Member(
                memberID: member.memberID, groupInstanceID: member.groupInstanceID, clientID: member.clientID,
                clientHost: member.clientHost,
                assignment: described.protocolType == "consumer"
                    ? ((try? ConsumerAssignment(decoding: member.memberAssignment))?.partitions ?? []) : [])
        }
        return GroupDescription(
            groupID: described.groupID, state: described.groupState, protocolType: described.protocolType,
            protocolName: described.protocolData, members: members)
    }

    /// Deletes groups (DeleteGroups to each coordinator): their committed offsets go with them.
    /// - Throws: ``KafkaClientError`` with `GROUP_ID_NOT_FOUND` or `NON_EMPTY_GROUP`.
    public func deleteGroups(_ groups: [GroupID]) async throws {
        for group in groups {
            let response = try await self.client.sendToCoordinator(of: group, "DeleteGroups") { _ in
                DeleteGroupsRequest(groupsNames: [group])
            }
            for result in response.results where result.errorCode != .none {
                throw KafkaClientError.broker(result.errorCode, "cannot delete group '\(result.groupID)'")
            }
        }
    }

    /// The committed offsets of a group (every partition it has committed).
    public func committedOffsets(_ group: GroupID) async throws -> [TopicPartition: Int64] {
        try await self.client.committedOffsets(group: group, partitions: nil)
    }

    /// Per partition — every partition committed or assigned — the committed offset, the log end offset, the lag
    /// and the member, sorted by topic and partition.
    public func groupOffsets(_ group: GroupID) async throws -> [GroupPartitionOffset] {
        let description = try await self.describeGroup(group)
        let committed = try await self.committedOffsets(group)
        var owners: [TopicPartition: GroupDescription.Member] = [:]
        for member in description.members {
            for partition in member.assignment { owners[partition] = member }
        }
        let partitions = Set(committed.keys).union(owners.keys)
        var ends: [TopicPartition: ListedOffset] = [:]
        if !partitions.isEmpty {
            // Partitions of deleted topics have no end offset.
            let existing = try await self.existingPartitions(partitions)
            ends = existing.isEmpty ? [:] : try await self.client.listOffsets(
                Dictionary(uniqueKeysWithValues: existing.map { ($0, OffsetSpec.latest) }))
        }
        return partitions.sorted().map { partition in
            GroupPartitionOffset(
                partition: partition, committedOffset: committed[partition], endOffset: ends[partition]?.offset,
                memberID: owners[partition]?.memberID, clientID: owners[partition]?.clientID)
        }
    }

    private func existingPartitions(_ partitions: Set<TopicPartition>) async throws -> [TopicPartition] {
        var result: [TopicPartition] = []
        for (topic, wanted) in Dictionary(grouping: partitions, by: \.topic) {
            let metadata: TopicMetadata
            do {
                metadata = try await self.describeTopic(topic)
            } catch {
                if (error as? KafkaClientError)?.code == .unknownTopic { continue }
                throw error
            }
            let present = Set(metadata.partitions.map(\.partition))
            result += wanted.filter { present.contains($0.partition) }
        }
        return result
    }

    /// Sets a group's committed offsets (OffsetCommit from outside the group).
    /// - Throws: ``KafkaClientError`` with `UNKNOWN_MEMBER_ID` while the group has members (stop them first).
    public func alterGroupOffsets(_ group: GroupID, _ offsets: [TopicPartition: Int64]) async throws {
        try await self.client.commitOffsets(group: group, offsets)
    }

    /// Moves a group's committed offsets of every partition of `topic` to its log start, log end, or an offset
    /// (clamped to the log's range, as `kafka-consumer-groups.sh --reset-offsets --to-offset` does).
    /// - Returns: The new offsets.
    @discardableResult
    public func resetGroupOffsets(_ group: GroupID, topic: TopicName, to target: GroupOffsetReset) async throws
        -> [TopicPartition: Int64]
    {
        let metadata = try await self.describeTopic(topic)
        let partitions = metadata.partitions.map { TopicPartition(topic, $0.partition) }
        let starts = try await self.client.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, .earliest) }))
        let ends = try await self.client.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, .latest) }))
        var offsets: [TopicPartition: Int64] = [:]
        for partition in partitions {
            let start = starts[partition]?.offset ?? 0
            let end = ends[partition]?.offset ?? start
            switch target {
            case .earliest: offsets[partition] = start
            case .latest: offsets[partition] = end
            case .offset(let offset): offsets[partition] = min(max(offset, start), end)
            }
        }
        try await self.alterGroupOffsets(group, offsets)
        return offsets
    }
}
