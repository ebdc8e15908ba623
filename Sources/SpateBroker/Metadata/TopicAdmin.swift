import Logging
import SpateStorage
import SpateWire

/// A topic operation that failed, with the error code and message the client gets.
struct TopicError: Error {
    var code: ErrorCode
    var message: String
}

extension BrokerState {
    /// Creates a topic (or only checks that it could be, with `validateOnly`).
    /// - Throws: ``TopicError`` with `INVALID_TOPIC_EXCEPTION`, `TOPIC_ALREADY_EXISTS`, `INVALID_PARTITIONS`,
    ///   `INVALID_REPLICATION_FACTOR` or `INVALID_CONFIG`.
    func createTopic(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String], validateOnly: Bool
    ) throws -> TopicMetadata {
        if let problem = TopicStore.validateName(name) { throw TopicError(code: .invalidTopicException, message: problem) }
        let count = partitions == -1 ? self.configuration.topics.numPartitions : partitions
        guard count >= 1 else {
            throw TopicError(code: .invalidPartitions, message: "the number of partitions must be at least 1")
        }
        let factor = replicationFactor == -1 ? self.configuration.topics.defaultReplicationFactor : replicationFactor
        guard factor == 1 else {
            throw TopicError(
                code: .invalidReplicationFactor,
                message: "replication factor \(factor) is larger than the 1 available broker (this is a single node)")
        }
        do {
            _ = try TopicConfigs.settings(overrides: configs, broker: self.configuration)
        } catch {
            throw TopicError(code: .invalidConfig, message: "\(error)")
        }
        let topic = TopicMetadata(name: name, id: KafkaUUID.random(), partitionCount: count, configs: configs)
        if validateOnly {
            guard self.topics.topic(named: name) == nil else {
                throw TopicError(code: .topicAlreadyExists, message: "topic '\(name)' already exists")
            }
            return topic
        }
        try self.topics.update { topics in
            guard topics[name] == nil else {
                throw TopicError(code: .topicAlreadyExists, message: "topic '\(name)' already exists")
            }
            topics[name] = topic
        }
        return topic
    }
}

extension ErrorCode {
    /// The code for a storage failure: what a client sees when its append or read fails.
    static func from(_ error: any Error) -> ErrorCode {
        if let producer = error as? ProducerStateError {
            switch producer.code {
            case .invalidProducerEpoch: return .invalidProducerEpoch
            case .outOfOrderSequence: return .outOfOrderSequenceNumber
            default: return .unknownServerError
            }
        }
        guard let storage = error as? StorageError else { return .unknownServerError }
        switch storage.code {
        case .offsetOutOfRange: return .offsetOutOfRange
        case .recordTooLarge: return .messageTooLarge
        case .corrupt: return .corruptMessage
        case .invalidArgument: return .invalidRequest
        default: return .kafkaStorageError
        }
    }
}
