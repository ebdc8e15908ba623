import Logging
import SpateStorage
import SpateWire

/// OffsetForLeaderEpoch (23): the end offset of a leader epoch (the start of the next epoch, or the log end for the
/// latest), from the partition's leader-epoch cache. The current leader epoch is 0 on a single node, so a request
/// fenced with another `CurrentLeaderEpoch` gets FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer).
struct OffsetForLeaderEpochHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 2...4

    /// The leader epoch of every partition on a single node (what Metadata reports).
    static let currentLeaderEpoch: Int32 = 0

    func handle(
        _ request: OffsetForLeaderEpochRequest,
        context: RequestContext
    ) async throws -> OffsetForLeaderEpochResponse? {
        let replicas = context.broker.replicas
        let topics = request.topics
        let results = try await replicas.io.run { () -> [OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult] in
            topics.map { topic in
                .init(
                    topic: topic.topic,
                    partitions: topic.partitions.map { item in
                        var result = OffsetForLeaderEpochResponse.EpochEndOffset(
                            errorCode: .none,
                            partition: item.partition,
                            leaderEpoch: -1,
                            endOffset: -1
                        )
                        do {
                            guard
                                let log = try replicas.log(
                                    for: TopicPartition(topic: topic.topic.rawValue, partition: item.partition)
                                )
                            else {
                                result.errorCode = .unknownTopicOrPartition
                                return result
                            }
                            if item.currentLeaderEpoch != -1 && item.currentLeaderEpoch != Self.currentLeaderEpoch {
                                result.errorCode =
                                    item.currentLeaderEpoch < Self.currentLeaderEpoch
                                    ? .fencedLeaderEpoch : .unknownLeaderEpoch
                                return result
                            }
                            let (epoch, endOffset) = log.endOffset(forEpoch: item.leaderEpoch)
                            result.leaderEpoch = epoch
                            result.endOffset = endOffset
                        } catch {
                            result.errorCode = .from(error)
                        }
                        return result
                    }
                )
            }
        }
        return OffsetForLeaderEpochResponse(throttleTimeMs: 0, topics: results)
    }
}
