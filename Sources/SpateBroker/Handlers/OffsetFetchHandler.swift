import SpateCoordinators
import SpateWire

/// OffsetFetch (9): committed offsets of one group (v0–7) or of several (v8+); -1 where nothing is committed. With no
/// transactions there are never unstable offsets, so `require_stable` needs no waiting.
struct OffsetFetchHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 1...9

    func handle(_ request: OffsetFetchRequest, context: RequestContext) async throws -> OffsetFetchResponse? {
        let groups = context.broker.groups
        let version = context.header.apiVersion
        if version >= 8 {
            var results: [OffsetFetchResponse.OffsetFetchResponseGroup] = []
            for group in request.groups {
                let asked = group.topics.map { topics in
                    topics.flatMap { topic in topic.partitionIndexes.map { GroupTopicPartition(topic: topic.name.rawValue, partition: $0) } }
                }
                let offsets: [GroupTopicPartition: CommittedOffset?]
                switch await groups.fetchOffsets(
                    group: group.groupID.rawValue, partitions: asked, memberID: group.memberID, memberEpoch: group.memberEpoch)
                {
                case .success(let found): offsets = found
                case .failure(let error):
                    results.append(.init(groupID: group.groupID, errorCode: error.code))
                    continue
                }
                let topics = Self.byTopic(offsets).map { name, partitions in
                    OffsetFetchResponse.OffsetFetchResponseTopics(
                        name: TopicName(name),
                        partitions: partitions.map { partition, offset in
                            .init(
                                partitionIndex: partition, committedOffset: offset?.offset ?? -1,
                                committedLeaderEpoch: offset?.leaderEpoch ?? -1, metadata: offset?.metadata ?? "", errorCode: .none)
                        })
                }
                results.append(.init(groupID: group.groupID, topics: topics, errorCode: .none))
            }
            return OffsetFetchResponse(groups: results)
        }
        let asked = request.topics.map { topics in
            topics.flatMap { topic in topic.partitionIndexes.map { GroupTopicPartition(topic: topic.name.rawValue, partition: $0) } }
        }
        let offsets: [GroupTopicPartition: CommittedOffset?]
        switch await groups.fetchOffsets(group: request.groupID.rawValue, partitions: asked) {
        case .success(let found): offsets = found
        case .failure(let error): return OffsetFetchResponse(topics: [], errorCode: error.code)
        }
        let topics = Self.byTopic(offsets).map { name, partitions in
            OffsetFetchResponse.OffsetFetchResponseTopic(
                name: TopicName(name),
                partitions: partitions.map { partition, offset in
                    .init(
                        partitionIndex: partition, committedOffset: offset?.offset ?? -1,
                        committedLeaderEpoch: offset?.leaderEpoch ?? -1, metadata: offset?.metadata ?? "", errorCode: .none)
                })
        }
        return OffsetFetchResponse(topics: topics)
    }

    /// Offsets grouped by topic, topics and partitions in order.
    static func byTopic(_ offsets: [GroupTopicPartition: CommittedOffset?]) -> [(String, [(Int32, CommittedOffset?)])] {
        var topics: [String: [(Int32, CommittedOffset?)]] = [:]
        for (key, offset) in offsets { topics[key.topic, default: []].append((key.partition, offset)) }
        return topics.keys.sorted().map { name in (name, topics[name]!.sorted { $0.0 < $1.0 }) }
    }
}
