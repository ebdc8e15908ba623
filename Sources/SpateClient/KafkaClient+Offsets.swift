import SpateWire

/// Which offset of a partition ListOffsets should find.
public enum OffsetSpec: Hashable, Sendable {
    /// The log start offset.
    case earliest
    /// The log end offset (high watermark): the offset the next record will get.
    case latest
    /// The first offset whose timestamp is at or after this many milliseconds since the epoch.
    case timestamp(Int64)

    var rawTimestamp: Int64 {
        switch self {
        case .earliest: -2
        case .latest: -1
        case .timestamp(let t): t
        }
    }
}

/// An offset found by ListOffsets.
public struct ListedOffset: Hashable, Sendable {
    /// The offset, or `nil` when a timestamp lookup found no record at or after the timestamp.
    public var offset: Int64?
    /// The timestamp of the record found (timestamp lookups), or -1.
    public var timestamp: Int64
    /// The leader epoch of the record found, or -1.
    public var leaderEpoch: Int32
}

extension KafkaClient {
    /// Looks up offsets of partitions (ListOffsets to each partition's leader), retrying retriable failures within
    /// ``ClientConfiguration/operationTimeout``.
    /// - Parameters:
    ///   - specs: What to find, per partition.
    ///   - readCommitted: Whether `latest` means the last stable offset (isolation level read_committed).
    /// - Throws: ``KafkaClientError``; ``KafkaClientError/Code/unknownTopic`` for a partition that does not exist.
    public func listOffsets(
        _ specs: [TopicPartition: OffsetSpec], readCommitted: Bool = false
    ) async throws -> [TopicPartition: ListedOffset] {
        try await retrying(self, "ListOffsets", retryUnknownTopic: false) {
            try await self.listOffsetsOnce(specs, readCommitted: readCommitted)
        }
    }

    private func listOffsetsOnce(
        _ specs: [TopicPartition: OffsetSpec], readCommitted: Bool
    ) async throws -> [TopicPartition: ListedOffset] {
        var byLeader: [BrokerID: [TopicPartition]] = [:]
        for partition in specs.keys {
            byLeader[try await self.leader(for: partition), default: []].append(partition)
        }
        var result: [TopicPartition: ListedOffset] = [:]
        for (leader, partitions) in byLeader {
            let byTopic = Dictionary(grouping: partitions, by: \.topic)
            let response = try await self.send(to: leader) { version in
                ListOffsetsRequest(
                    replicaID: -1,
                    isolationLevel: version >= 2 && readCommitted ? 1 : 0,
                    topics: byTopic.map { topic, partitions in
                        ListOffsetsRequest.ListOffsetsTopic(
                            name: topic,
                            partitions: partitions.map {
                                ListOffsetsRequest.ListOffsetsPartition(
                                    partitionIndex: $0.partition, timestamp: specs[$0]!.rawTimestamp)
                            })
                    },
                    timeoutMs: version >= 10 ? self.configuration.requestTimeout.int32Milliseconds : 0)
            }
            for topic in response.topics {
                for partition in topic.partitions {
                    let tp = TopicPartition(topic.name, partition.partitionIndex)
                    guard partition.errorCode == .none else {
                        throw KafkaClientError.broker(partition.errorCode, "ListOffsets for \(tp)")
                    }
                    let offset = partition.offset >= 0 ? partition.offset : partition.oldStyleOffsets.first
                    result[tp] = ListedOffset(
                        offset: offset.flatMap { $0 >= 0 ? $0 : nil }, timestamp: partition.timestamp,
                        leaderEpoch: partition.leaderEpoch)
                }
            }
        }
        for partition in specs.keys where result[partition] == nil {
            throw KafkaClientError.broker(.unknownTopicOrPartition, "ListOffsets for \(partition): no answer")
        }
        return result
    }
}
