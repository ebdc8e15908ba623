import Logging
import SpateStorage
import SpateWire

/// DescribeProducers (61): the active idempotent producers of each partition, from the log's producer state
/// (no transactions yet, so no coordinator epoch and no open transaction).
struct DescribeProducersHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...0

    func handle(_ request: DescribeProducersRequest, context: RequestContext) async throws -> DescribeProducersResponse? {
        let replicas = context.broker.replicas
        let topics = request.topics
        let results = try await replicas.io.run { () -> [DescribeProducersResponse.TopicResponse] in
            topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitionIndexes.map { index in
                        var result = DescribeProducersResponse.PartitionResponse(partitionIndex: index)
                        let partition = TopicPartition(topic: topic.name.rawValue, partition: index)
                        do {
                            guard let log = try replicas.log(for: partition) else {
                                result.errorCode = .unknownTopicOrPartition
                                return result
                            }
                            result.activeProducers = log.producerState.producers.values
                                .sorted { $0.producerID < $1.producerID }
                                .map { entry in
                                    .init(
                                        producerID: ProducerID(entry.producerID), producerEpoch: Int32(entry.epoch),
                                        lastSequence: entry.lastSequence, lastTimestamp: entry.lastTimestamp,
                                        coordinatorEpoch: -1, currentTxnStartOffset: -1)
                                }
                        } catch {
                            result.errorCode = .from(error)
                            result.errorMessage = "\(error)"
                        }
                        return result
                    })
            }
        }
        return DescribeProducersResponse(throttleTimeMs: 0, topics: results)
    }
}
