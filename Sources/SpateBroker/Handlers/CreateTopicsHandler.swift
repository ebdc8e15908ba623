import Logging
import SpateWire

/// CreateTopics (19): creates topics with partitions, replication factor 1 (or -1) and config overrides;
/// `validateOnly` checks without creating.
struct CreateTopicsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 2...7

    func handle(_ request: CreateTopicsRequest, context: RequestContext) async throws -> CreateTopicsResponse? {
        var results: [CreateTopicsResponse.CreatableTopicResult] = []
        var seen: Set<TopicName> = []
        for item in request.topics {
            guard seen.insert(item.name).inserted else {
                results.append(.init(name: item.name, errorCode: .invalidRequest, errorMessage: "duplicate topic in the request"))
                continue
            }
            var configs: [String: String] = [:]
            for config in item.configs {
                configs[config.name] = config.value
            }
            var partitions = item.numPartitions
            var factor = item.replicationFactor
            if !item.assignments.isEmpty {
                // Manual assignment: every replica must be this broker.
                let node = context.broker.nodeID
                guard partitions == -1, factor == -1,
                    item.assignments.allSatisfy({ $0.brokerIDs == [node] }),
                    Set(item.assignments.map(\.partitionIndex)) == Set(0..<Int32(item.assignments.count))
                else {
                    results.append(
                        .init(
                            name: item.name, errorCode: .invalidReplicaAssignment,
                            errorMessage: "replica assignments may only name broker \(node), once per partition"))
                    continue
                }
                partitions = Int32(item.assignments.count)
                factor = 1
            }
            do {
                let topic = try context.broker.createTopic(
                    name: item.name.rawValue, partitions: partitions, replicationFactor: factor, configs: configs,
                    validateOnly: request.validateOnly)
                if !request.validateOnly {
                    context.logger.info("Created topic", metadata: ["spate.topic": "\(topic.name)"])
                }
                results.append(
                    .init(
                        name: item.name, topicID: request.validateOnly ? .zero : topic.id, errorCode: .none,
                        errorMessage: nil, numPartitions: topic.partitionCount, replicationFactor: 1,
                        configs: DescribedConfigs.topicConfigs(of: topic, broker: context.broker).map {
                            .init(
                                name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.source.rawValue,
                                isSensitive: false)
                        }))
            } catch let error as TopicError {
                results.append(.init(name: item.name, errorCode: error.code, errorMessage: error.message))
            }
        }
        return CreateTopicsResponse(throttleTimeMs: 0, topics: results)
    }
}
