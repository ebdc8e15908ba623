import Logging
import SpateWire

/// DeleteTopics (20): deletes topics by name, or (v6) by name or topic ID, with their partition logs. Refused for
/// every topic when `delete.topic.enable=false` (TOPIC_DELETION_DISABLED, or INVALID_REQUEST before v3, as Kafka
/// does), and for internal topics.
struct DeleteTopicsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 1...6

    func handle(_ request: DeleteTopicsRequest, context: RequestContext) async throws -> DeleteTopicsResponse? {
        let broker = context.broker
        let version = context.header.apiVersion
        // Before v6 the request names topics only; v6 carries names or IDs.
        let items: [DeleteTopicsRequest.DeleteTopicState] =
            version >= 6 ? request.topics : request.topicNames.map { .init(name: $0, topicID: .zero) }
        func result(
            _ item: DeleteTopicsRequest.DeleteTopicState,
            name: String?,
            id: KafkaUUID,
            _ code: ErrorCode,
            _ message: String?
        ) -> DeleteTopicsResponse.DeletableTopicResult {
            .init(
                name: name.map { TopicName($0) } ?? (version >= 6 ? nil : item.name ?? ""),
                topicID: version >= 6 ? id : .zero,
                errorCode: code,
                errorMessage: message
            )
        }
        guard broker.configuration.topics.deleteTopicEnable else {
            let code: ErrorCode = version < 3 ? .invalidRequest : .topicDeletionDisabled
            return DeleteTopicsResponse(
                throttleTimeMs: 0,
                responses: items.map {
                    result(
                        $0,
                        name: $0.name?.rawValue,
                        id: $0.topicID,
                        code,
                        "topic deletion is disabled (delete.topic.enable=false)"
                    )
                }
            )
        }
        var responses: [DeleteTopicsResponse.DeletableTopicResult] = []
        var seenNames: Set<String> = []
        var seenIDs: Set<KafkaUUID> = []
        for item in items {
            let byID = item.topicID != .zero
            if byID && item.name != nil {
                responses.append(
                    result(
                        item,
                        name: item.name?.rawValue,
                        id: item.topicID,
                        .invalidRequest,
                        "give a topic name or a topic ID, not both"
                    )
                )
                continue
            }
            let topic: TopicMetadata?
            if byID {
                guard seenIDs.insert(item.topicID).inserted else {
                    responses.append(
                        result(item, name: nil, id: item.topicID, .invalidRequest, "duplicate topic ID in the request")
                    )
                    continue
                }
                topic = broker.topics.topic(withID: item.topicID)
                if topic == nil {
                    responses.append(
                        result(item, name: nil, id: item.topicID, .unknownTopicID, "no topic has ID \(item.topicID)")
                    )
                    continue
                }
            } else {
                let name = item.name?.rawValue ?? ""
                guard seenNames.insert(name).inserted else {
                    responses.append(
                        result(item, name: name, id: .zero, .invalidRequest, "duplicate topic name in the request")
                    )
                    continue
                }
                topic = broker.topics.topic(named: name)
                if topic == nil {
                    responses.append(
                        result(item, name: name, id: .zero, .unknownTopicOrPartition, "topic '\(name)' does not exist")
                    )
                    continue
                }
            }
            guard let topic else { continue }
            if byID && !seenNames.insert(topic.name).inserted || !byID && !seenIDs.insert(topic.id).inserted {
                responses.append(
                    result(item, name: topic.name, id: topic.id, .invalidRequest, "the topic is named twice")
                )
                continue
            }
            do {
                try await broker.deleteTopic(topic)
                context.logger.info(
                    "Deleted topic",
                    metadata: ["spate.topic": "\(topic.name)", "spate.topic_id": "\(topic.id)"]
                )
                responses.append(result(item, name: topic.name, id: topic.id, .none, nil))
            } catch let error as TopicError {
                responses.append(result(item, name: topic.name, id: topic.id, error.code, error.message))
            } catch {
                context.logger.warning(
                    "Deleting a topic's logs failed",
                    metadata: ["spate.topic": "\(topic.name)", "spate.error": "\(error)"]
                )
                responses.append(result(item, name: topic.name, id: topic.id, .kafkaStorageError, "\(error)"))
            }
        }
        return DeleteTopicsResponse(throttleTimeMs: 0, responses: responses)
    }
}
