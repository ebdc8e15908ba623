import Logging
import SpateWire

/// DescribeTopicPartitions (75, KIP-966): topics with their partitions, in name order, at most
/// `ResponsePartitionLimit` partitions (capped at Kafka's `max.request.partition.size.limit`, 2000) per response, with
/// a cursor to continue from. No topics asked for means every topic.
struct DescribeTopicPartitionsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...0

    /// Kafka's `max.request.partition.size.limit` default.
    static let maxPartitionLimit: Int32 = 2000

    /// Kafka's operations on a TOPIC resource (READ 3, WRITE 4, ALTER 5, DELETE 6, CREATE 7, DESCRIBE 8,
    /// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11), all allowed: Spate has no authorizer.
    static let topicOperations: Int32 = [3, 4, 5, 6, 7, 8, 10, 11].reduce(0) { $0 | (1 << $1) }

    func handle(
        _ request: DescribeTopicPartitionsRequest,
        context: RequestContext
    ) async throws -> DescribeTopicPartitionsResponse? {
        let broker = context.broker
        let fetchAll = request.topics.isEmpty
        let cursorTopic = request.cursor?.topicName.rawValue ?? ""
        let names: [String]
        if fetchAll {
            names = broker.topics.all.map(\.name).filter { $0 >= cursorTopic }
        } else {
            names = Set(request.topics.map(\.name.rawValue)).filter { $0 >= cursorTopic }.sorted()
            if let cursor = request.cursor, !names.contains(cursor.topicName.rawValue) {
                return self.failure(
                    request,
                    context: context,
                    "the topic list should contain the cursor topic \(cursor.topicName)"
                )
            }
        }
        if let cursor = request.cursor, cursor.partitionIndex < 0 {
            return self.failure(
                request,
                context: context,
                "the cursor's partition index \(cursor.partitionIndex) is negative"
            )
        }
        var remaining = max(min(Self.maxPartitionLimit, request.responsePartitionLimit), 1)
        var response = DescribeTopicPartitionsResponse(throttleTimeMs: 0, topics: [], nextCursor: nil)
        for name in names {
            guard remaining > 0 else {
                // Every partition of the previous topics fit: continue at the start of this one.
                response.nextCursor = .init(topicName: TopicName(name), partitionIndex: 0)
                break
            }
            guard let topic = broker.topics.topic(named: name) else {
                if !fetchAll {
                    let code: ErrorCode =
                        TopicStore.validateName(name) == nil ? .unknownTopicOrPartition : .invalidTopicException
                    response.topics.append(
                        .init(errorCode: code, name: TopicName(name), topicID: .zero, isInternal: TopicMetadata.internalNames.contains(name))
                    )
                }
                continue
            }
            let start = name == cursorTopic ? request.cursor?.partitionIndex ?? 0 : 0
            let end = min(topic.partitionCount, start + remaining)
            let partitions = start < end ? Array(start..<end) : []
            response.topics.append(
                .init(
                    errorCode: .none,
                    name: TopicName(name),
                    topicID: topic.id,
                    isInternal: topic.isInternal,
                    partitions: partitions.map { index in
                        .init(
                            errorCode: .none,
                            partitionIndex: index,
                            leaderID: broker.nodeID,
                            leaderEpoch: 0,
                            replicaNodes: [broker.nodeID],
                            isrNodes: [broker.nodeID],
                            eligibleLeaderReplicas: [],
                            lastKnownElr: [],
                            offlineReplicas: []
                        )
                    },
                    topicAuthorizedOperations: Self.topicOperations
                )
            )
            if end < topic.partitionCount {
                response.nextCursor = .init(topicName: TopicName(name), partitionIndex: end)
                break
            }
            remaining -= Int32(partitions.count)
        }
        return response
    }

    /// Kafka's answer to an invalid request: every requested topic with the error.
    func failure(
        _ request: DescribeTopicPartitionsRequest,
        context: RequestContext,
        _ message: String
    ) -> DescribeTopicPartitionsResponse {
        context.logger.debug("Invalid DescribeTopicPartitions request", metadata: ["spate.reason": "\(message)"])
        return DescribeTopicPartitionsResponse(
            throttleTimeMs: 0,
            topics: request.topics.map {
                .init(errorCode: .invalidRequest, name: $0.name, topicID: .zero, partitions: [])
            }
        )
    }
}
