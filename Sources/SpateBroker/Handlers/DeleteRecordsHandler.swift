import Logging
import SpateStorage
import SpateWire

/// DeleteRecords (21): advances each partition's log start offset (offset -1 means the high watermark, the log end
/// on one node), deleting the segments wholly below it; answers with the new low watermark.
struct DeleteRecordsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...2

    func handle(_ request: DeleteRecordsRequest, context: RequestContext) async throws -> DeleteRecordsResponse? {
        let replicas = context.broker.replicas
        let topics = request.topics
        let results = try await replicas.io.run { () -> [DeleteRecordsResponse.DeleteRecordsTopicResult] in
            topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { item in
                        var result = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                            partitionIndex: item.partitionIndex,
                            lowWatermark: -1,
                            errorCode: .none
                        )
                        do {
                            guard
                                let log = try replicas.log(
                                    for: TopicPartition(topic: topic.name.rawValue, partition: item.partitionIndex)
                                )
                            else {
                                result.errorCode = .unknownTopicOrPartition
                                return result
                            }
                            let offset = item.offset == -1 ? log.logEndOffset : item.offset
                            guard offset >= 0 else {
                                result.errorCode = .offsetOutOfRange
                                return result
                            }
                            result.lowWatermark = try log.deleteRecords(before: offset, nowMs: replicas.clock())
                        } catch {
                            result.errorCode = .from(error)
                        }
                        return result
                    }
                )
            }
        }
        return DeleteRecordsResponse(throttleTimeMs: 0, topics: results)
    }
}
