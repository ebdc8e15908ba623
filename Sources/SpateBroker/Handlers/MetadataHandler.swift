import Logging
import SpateWire

/// Metadata (3): brokers, cluster ID, controller, and topics with their partitions; creates unknown topics when
/// `auto.create.topics.enable` and the client allows it.
struct MetadataHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 4...12

    /// Kafka's value for "authorized operations not requested".
    static let operationsNotRequested = Int32.min

    func handle(_ request: MetadataRequest, context: RequestContext) async throws -> MetadataResponse? {
        let broker = context.broker
        var results: [MetadataResponse.MetadataResponseTopic] = []
        if let requested = request.topics {
            for item in requested {
                if let name = item.name?.rawValue {
                    results.append(self.describe(name: name, request: request, context: context))
                } else if let topic = broker.topics.topic(withID: item.topicID) {
                    results.append(self.result(for: topic, broker: broker, request: request))
                } else {
                    results.append(.init(errorCode: .unknownTopicID, name: nil, topicID: item.topicID))
                }
            }
        } else {
            results = broker.topics.all.map { self.result(for: $0, broker: broker, request: request) }
        }
        return MetadataResponse(
            brokers: [.init(nodeID: broker.nodeID, host: broker.advertisedHost, port: broker.advertisedPort, rack: nil)],
            clusterID: broker.clusterID,
            controllerID: broker.nodeID,
            topics: results,
            // v8–10 only; without an authorizer every cluster operation is allowed.
            clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
                && (8...10).contains(context.header.apiVersion)
                ? DescribeClusterHandler.clusterOperations : Self.operationsNotRequested)
    }

    func describe(name: String, request: MetadataRequest, context: RequestContext) -> MetadataResponse.MetadataResponseTopic {
        let broker = context.broker
        if let topic = broker.topics.topic(named: name) { return self.result(for: topic, broker: broker, request: request) }
        if let problem = TopicStore.validateName(name) {
            context.logger.debug("Metadata for an invalid topic name", metadata: ["spate.reason": "\(problem)"])
            return .init(errorCode: .invalidTopicException, name: TopicName(name), isInternal: false)
        }
        guard request.allowAutoTopicCreation, broker.configuration.topics.autoCreateTopicsEnable else {
            return .init(errorCode: .unknownTopicOrPartition, name: TopicName(name))
        }
        do {
            let topic = try broker.createTopic(
                name: name, partitions: -1, replicationFactor: -1, configs: [:], validateOnly: false)
            context.logger.info("Auto-created topic", metadata: ["spate.topic": "\(name)"])
            return self.result(for: topic, broker: broker, request: request)
        } catch let error as TopicError {
            if error.code == .topicAlreadyExists, let topic = broker.topics.topic(named: name) {
                return self.result(for: topic, broker: broker, request: request)  // a concurrent request created it
            }
            return .init(errorCode: error.code, name: TopicName(name))
        } catch {
            context.logger.warning("Auto-creating a topic failed", metadata: ["spate.error": "\(error)"])
            return .init(errorCode: .kafkaStorageError, name: TopicName(name))
        }
    }

    func result(for topic: TopicMetadata, broker: BrokerState, request: MetadataRequest) -> MetadataResponse.MetadataResponseTopic {
        .init(
            errorCode: .none, name: TopicName(topic.name), topicID: topic.id, isInternal: topic.isInternal,
            partitions: (0..<topic.partitionCount).map { index in
                .init(
                    errorCode: .none, partitionIndex: index, leaderID: broker.nodeID, leaderEpoch: 0,
                    replicaNodes: [broker.nodeID], isrNodes: [broker.nodeID], offlineReplicas: [])
            },
            // Without an authorizer every topic operation is allowed (KIP-430 bit field).
            topicAuthorizedOperations: request.includeTopicAuthorizedOperations
                ? DescribeTopicPartitionsHandler.topicOperations : Self.operationsNotRequested)
    }
}
