import SpateCoordinators
import SpateWire

/// OffsetDelete (47): removes a group's committed offsets for topics it does not consume.
struct OffsetDeleteHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...0

    func handle(_ request: OffsetDeleteRequest, context: RequestContext) async throws -> OffsetDeleteResponse? {
        let asked = request.topics.flatMap { topic in
            topic.partitions.map { GroupTopicPartition(topic: topic.name.rawValue, partition: $0.partitionIndex) }
        }
        let (code, results) = await context.broker.groups.deleteOffsets(group: request.groupID.rawValue, partitions: asked)
        guard code == .none else { return OffsetDeleteResponse(errorCode: code) }
        return OffsetDeleteResponse(
            errorCode: .none,
            topics: request.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { partition in
                        .init(
                            partitionIndex: partition.partitionIndex,
                            errorCode: results[GroupTopicPartition(topic: topic.name.rawValue, partition: partition.partitionIndex)] ?? .none)
                    })
            })
    }
}
