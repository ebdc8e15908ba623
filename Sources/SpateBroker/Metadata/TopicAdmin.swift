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
        if TopicMetadata.internalNames.contains(name) {
            throw TopicError(code: .invalidRequest, message: "creation of the internal topic \(name) is prohibited")
        }
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

extension BrokerState {
    /// Deletes a topic: removes it from the store (so no request finds it any more), then deletes its partition logs
    /// and forgets their cached state, so that a topic created later under the same name starts empty.
    /// - Throws: ``TopicError`` with `INVALID_TOPIC_EXCEPTION` for an internal topic, or a storage error.
    func deleteTopic(_ topic: TopicMetadata) async throws {
        if topic.isInternal {
            throw TopicError(code: .invalidTopicException, message: "the internal topic '\(topic.name)' cannot be deleted")
        }
        try self.topics.update { topics in
            // Only the topic that was looked up: a concurrent delete and re-create must not remove the new one.
            guard topics[topic.name]?.id == topic.id else {
                throw TopicError(code: .unknownTopicOrPartition, message: "topic '\(topic.name)' does not exist")
            }
            topics[topic.name] = nil
        }
        let replicas = self.replicas
        let partitions = (0..<topic.partitionCount).map { TopicPartition(topic: topic.name, partition: $0) }
        replicas.invalidateSettings(of: topic.name)
        try await replicas.io.run {
            for partition in partitions { try replicas.logManager.deleteLog(for: partition) }
        }
        for partition in partitions {
            replicas.forget(partition)
            replicas.signal.appended(to: partition)  // wakes long polls, which then find the partition gone
        }
    }

    /// Raises a topic's partition count (the new partitions' logs are created on first use).
    /// - Throws: ``TopicError`` with `UNKNOWN_TOPIC_OR_PARTITION`, `INVALID_PARTITIONS` or `INVALID_REPLICA_ASSIGNMENT`.
    func createPartitions(
        topic name: String, count: Int32, assignments: [[BrokerID]]?, validateOnly: Bool
    ) throws -> TopicMetadata {
        func check(_ topic: TopicMetadata?) throws -> TopicMetadata {
            guard var topic else {
                throw TopicError(code: .unknownTopicOrPartition, message: "topic '\(name)' does not exist")
            }
            if count < topic.partitionCount {
                throw TopicError(
                    code: .invalidPartitions,
                    message: "topic currently has \(topic.partitionCount) partitions, which is higher than the requested \(count)")
            }
            if count == topic.partitionCount {
                throw TopicError(code: .invalidPartitions, message: "topic already has \(count) partitions")
            }
            if let assignments {
                let added = Int(count - topic.partitionCount)
                guard assignments.count == added else {
                    throw TopicError(
                        code: .invalidReplicaAssignment,
                        message: "\(assignments.count) replica assignments were given for \(added) new partitions")
                }
                guard assignments.allSatisfy({ $0 == [self.nodeID] }) else {
                    throw TopicError(
                        code: .invalidReplicaAssignment,
                        message: "replica assignments may only name broker \(self.nodeID), once (this is a single node)")
                }
            }
            topic.partitionCount = count
            return topic
        }
        if validateOnly { return try check(self.topics.topic(named: name)) }
        return try self.topics.update { topics in
            let topic = try check(topics[name])
            topics[name] = topic
            return topic
        }
    }

    /// Replaces a topic's config overrides with `change(current overrides)`, after validating the result, and applies
    /// it at once to the topic's partition logs (so `retention.*`, `max.message.bytes`, `segment.*` take effect
    /// immediately; retention runs at once when a retention setting changed).
    /// - Throws: ``TopicError`` with `UNKNOWN_TOPIC_OR_PARTITION`, `INVALID_CONFIG` or `INVALID_REQUEST`.
    func alterTopicConfigs(
        topic name: String, validateOnly: Bool, _ change: ([String: String]) throws(TopicError) -> [String: String]
    ) async throws {
        func check(_ topic: TopicMetadata?) throws -> (TopicMetadata, TopicSettings) {
            guard var topic else {
                throw TopicError(code: .unknownTopicOrPartition, message: "topic '\(name)' does not exist")
            }
            topic.configs = try change(topic.configs)
            do {
                return (topic, try TopicConfigs.settings(overrides: topic.configs, broker: self.configuration))
            } catch {
                throw TopicError(code: .invalidConfig, message: "\(error)")
            }
        }
        if validateOnly {
            _ = try check(self.topics.topic(named: name))
            return
        }
        let (old, (topic, settings)) = try self.topics.update { topics in
            let old = topics[name]
            let result = try check(old)
            topics[name] = result.0
            return (old!, result)
        }
        let replicas = self.replicas
        replicas.invalidateSettings(of: name)
        let retentionChanged = ["retention.ms", "retention.bytes", "cleanup.policy"].contains { old.configs[$0] != topic.configs[$0] }
        try await replicas.io.run {
            for index in 0..<topic.partitionCount {
                guard let log = try replicas.logManager.log(for: TopicPartition(topic: name, partition: index)) else { continue }
                log.config = settings.log
                if retentionChanged { try log.enforceRetention(nowMs: replicas.clock()) }
            }
        }
    }
}
