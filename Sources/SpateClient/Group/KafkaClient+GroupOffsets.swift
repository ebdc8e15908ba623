public import SpateWire

extension KafkaClient {
    /// Commits offsets for `group` (OffsetCommit to its coordinator), retrying retriable failures.
    /// - Parameters:
    ///   - generationID: The member's generation, or -1 for a commit from outside the group (admin tools, simple
    ///     consumers), which the coordinator accepts only while the group has no members.
    /// - Throws: ``KafkaClientError`` with the first partition's error.
    public func commitOffsets(
        group: GroupID, _ offsets: [TopicPartition: Int64], generationID: Int32 = -1, memberID: String = "",
        groupInstanceID: String? = nil
    ) async throws {
        guard !offsets.isEmpty else { return }
        let byTopic = Dictionary(grouping: offsets.keys, by: \.topic).sorted { $0.key < $1.key }
        let topics = byTopic.map { topic, partitions in
            OffsetCommitRequest.OffsetCommitRequestTopic(
                name: topic,
                partitions: partitions.sorted().map {
                    .init(partitionIndex: $0.partition, committedOffset: offsets[$0]!, committedMetadata: "")
                })
        }
        let response = try await self.sendToCoordinator(of: group, "OffsetCommit") { (version: Int16) in
            OffsetCommitRequest(
                groupID: group, generationIDOrMemberEpoch: generationID, memberID: memberID,
                groupInstanceID: version >= 7 ? groupInstanceID : nil, topics: topics)
        }
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode != .none {
                throw KafkaClientError.broker(
                    partition.errorCode, "OffsetCommit of \(topic.name)-\(partition.partitionIndex) for group '\(group)'")
            }
        }
    }

    /// The committed offsets of `group` (OffsetFetch to its coordinator): of `partitions`, or of every partition the
    /// group has committed when `partitions` is `nil`. Partitions without a committed offset are absent.
    /// - Parameters:
    ///   - memberID: A KIP-848 member's ID, sent with `memberEpoch` (OffsetFetch v9+), which the coordinator checks.
    ///   - memberEpoch: That member's epoch, or -1.
    public func committedOffsets(
        group: GroupID, partitions: [TopicPartition]?, memberID: String? = nil, memberEpoch: Int32 = -1
    ) async throws -> [TopicPartition: Int64] {
        if let partitions, partitions.isEmpty { return [:] }
        let byTopic = partitions.map { Dictionary(grouping: $0, by: \.topic).sorted { $0.key < $1.key } }
        let response = try await self.sendToCoordinator(
            of: group, "OffsetFetch",
            errorCode: { (r: OffsetFetchResponse) in r.groups.first?.errorCode ?? r.errorCode }
        ) { (version: Int16) in
            if version >= 8 {
                return OffsetFetchRequest(groups: [
                    .init(
                        groupID: group, memberID: version >= 9 ? memberID : nil,
                        memberEpoch: version >= 9 ? memberEpoch : -1,
                        topics: byTopic?.map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition).sorted()) })
                ])
            }
            return OffsetFetchRequest(
                groupID: group,
                topics: byTopic?.map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition).sorted()) })
        }
        var result: [TopicPartition: Int64] = [:]
        var rows: [(TopicName, Int32, Int64, ErrorCode)] = []
        for topic in response.topics {
            for p in topic.partitions { rows.append((topic.name, p.partitionIndex, p.committedOffset, p.errorCode)) }
        }
        for group in response.groups {
            for topic in group.topics {
                for p in topic.partitions { rows.append((topic.name, p.partitionIndex, p.committedOffset, p.errorCode)) }
            }
        }
        for (topic, partition, offset, errorCode) in rows {
            guard errorCode == .none else {
                throw KafkaClientError.broker(errorCode, "OffsetFetch of \(topic)-\(partition) for group '\(group)'")
            }
            if offset >= 0 { result[TopicPartition(topic, partition)] = offset }
        }
        return result
    }
}
