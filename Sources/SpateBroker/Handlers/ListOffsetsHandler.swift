import Logging
import SpateStorage
import SpateWire

/// ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3), earliest local (-4) and by timestamp.
struct ListOffsetsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 1...10

    func handle(_ request: ListOffsetsRequest, context: RequestContext) async throws -> ListOffsetsResponse? {
        let replicas = context.broker.replicas
        let topics = request.topics
        // The leader epoch exists from v4; earlier versions must carry the default.
        let epoch: Int32 = context.header.apiVersion >= 4 ? 0 : -1
        let results = try await replicas.io.run { () -> [ListOffsetsResponse.ListOffsetsTopicResponse] in
            topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { item in
                        var result = ListOffsetsResponse.ListOffsetsPartitionResponse(
                            partitionIndex: item.partitionIndex, timestamp: -1, offset: -1, leaderEpoch: epoch)
                        let partition = TopicPartition(topic: topic.name.rawValue, partition: item.partitionIndex)
                        do {
                            guard let log = try replicas.log(for: partition) else {
                                result.errorCode = .unknownTopicOrPartition
                                return result
                            }
                            switch item.timestamp {
                            case -1:
                                result.offset = log.logEndOffset
                            case -2, -4, -5:
                                result.offset = log.logStartOffset
                            case -3:
                                if let found = try log.maxTimestampRecord() {
                                    result.offset = found.offset
                                    result.timestamp = found.timestamp
                                }
                            default:
                                if let found = try log.offset(forTimestamp: item.timestamp) {
                                    result.offset = found.offset
                                    result.timestamp = found.timestamp
                                }
                            }
                        } catch {
                            result.errorCode = .from(error)
                        }
                        return result
                    })
            }
        }
        return ListOffsetsResponse(throttleTimeMs: 0, topics: results)
    }
}
