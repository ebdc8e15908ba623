import SpateCoordinators
import SpateWire

extension TopicStore {
    /// Creates an internal topic (`__consumer_offsets`) unless it exists, with Kafka's settings for it: compacted,
    /// 100 MiB segments.
    func ensureInternalTopic(_ name: String, partitions: Int32) throws {
        guard self.topic(named: name) == nil else { return }
        try self.update { topics in
            guard topics[name] == nil else { return }
            topics[name] = TopicMetadata(
                name: name, id: KafkaUUID.random(), partitionCount: partitions,
                configs: ["cleanup.policy": "compact", "segment.bytes": "104857600"])
        }
    }
}

extension TopicStore {
    /// Creates `__consumer_offsets` on first use (FindCoordinator, or the coordinator's first write), as Kafka does.
    func ensureOffsetsTopic(_ configuration: BrokerConfiguration) throws {
        try self.ensureInternalTopic(GroupCoordinatorService.topic, partitions: configuration.groups.offsetsTopicPartitions)
    }
}
