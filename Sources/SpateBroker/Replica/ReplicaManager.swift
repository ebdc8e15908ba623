import Logging
import NIOConcurrencyHelpers
import NIOCore
import SpateRecords
import SpateStorage
import SpateWire

/// The partitions this broker leads (all of them, on a single node): appends with the produce rules, reads for
/// fetches, and the signals that wake long polls. Every file operation runs on the storage thread pool.
final class ReplicaManager: Sendable {
    let logManager: LogManager
    let io: StorageIO
    let topics: TopicStore
    let configuration: BrokerConfiguration
    let clock: @Sendable () -> Int64
    let signal = AppendSignal()
    private let groupCommits = NIOLockedValueBox<[TopicPartition: GroupCommit]>([:])
    /// Each partition's appends, in the order produces queued them.
    private let appendQueues = NIOLockedValueBox<[TopicPartition: SerialIOQueue]>([:])
    /// Effective settings by topic name, with the overrides they were computed from.
    private let settingsCache = NIOLockedValueBox<[String: (overrides: [String: String], settings: TopicSettings)]>([:])

    init(logManager: LogManager, io: StorageIO, topics: TopicStore, configuration: BrokerConfiguration,
         clock: @escaping @Sendable () -> Int64) {
        self.logManager = logManager
        self.io = io
        self.topics = topics
        self.configuration = configuration
        self.clock = clock
    }

    /// A topic's effective settings (broker defaults plus its overrides), cached until ``invalidateSettings(of:)``.
    func settings(of topic: TopicMetadata) -> TopicSettings {
        // Keyed by the overrides too, so a caller holding an older snapshot of the topic cannot bring back settings
        // that an alter has replaced.
        if let cached = self.settingsCache.withLockedValue({ $0[topic.name] }), cached.overrides == topic.configs {
            return cached.settings
        }
        let settings =
            (try? TopicConfigs.settings(overrides: topic.configs, broker: self.configuration))
            ?? TopicConfigs.defaults(self.configuration)
        self.settingsCache.withLockedValue { cache in
            if self.topics.topic(named: topic.name)?.configs == topic.configs {
                cache[topic.name] = (topic.configs, settings)
            }
        }
        return settings
    }

    func invalidateSettings(of topic: String) {
        _ = self.settingsCache.withLockedValue { $0.removeValue(forKey: topic) }
    }

    /// The log of a partition of an existing topic, created on first use.
    func log(for partition: TopicPartition) throws -> PartitionLog? {
        guard let topic = self.topics.topic(named: partition.topic), partition.partition < topic.partitionCount,
            partition.partition >= 0
        else { return nil }
        if let log = try self.logManager.log(for: partition) { return log }
        let log = try self.logManager.getOrCreateLog(for: partition, config: self.settings(of: topic).log, nowMs: self.clock())
        // A DeleteTopics that ran since the lookup above found no log to delete: delete the one just created, so that
        // no directory outlives its topic (and a topic re-created under the name starts empty).
        // (If the name was re-created meanwhile, the new, empty log is the new topic's: keep it.)
        let current = self.topics.topic(named: partition.topic)
        guard current?.id == topic.id else {
            if current == nil || partition.partition >= current!.partitionCount {
                try self.logManager.deleteLog(for: partition)
            }
            return nil
        }
        return log
    }

    /// Queues an append of validated batches to a partition, behind the appends queued to it before, and returns at
    /// once: the result says when it is written (or why it failed). Fetches waiting on the partition are woken when
    /// it is written.
    func enqueueAppend(
        _ batches: [RecordBatch], to partition: TopicPartition, settings: TopicSettings
    ) -> PendingResult<(PartitionLog, AppendResult)> {
        let pending = PendingResult<(PartitionLog, AppendResult)>()
        let queue = self.appendQueues.withLockedValue { queues in
            if let queue = queues[partition] { return queue }
            let queue = SerialIOQueue(io: self.io)
            queues[partition] = queue
            return queue
        }
        queue.enqueue { active in
            guard active else {
                pending.complete(.failure(StorageError(.closed, "the storage thread pool is shut down")))
                return
            }
            pending.complete(
                Result {
                    guard let log = try self.log(for: partition) else {
                        throw StorageError(.notFound, "no log for \(partition)")
                    }
                    let result = try log.append(
                        validated: batches, leaderEpoch: 0,
                        timestampType: settings.logAppendTime ? .logAppendTime : .createTime, nowMs: self.clock())
                    if !result.isDuplicate { self.signal.appended(to: partition) }
                    return (log, result)
                })
        }
        return pending
    }

    func groupCommit(for log: PartitionLog) -> GroupCommit {
        self.groupCommits.withLockedValue { commits in
            if let commit = commits[log.topicPartition], commit.log === log { return commit }
            let commit = GroupCommit(log: log, io: self.io, clock: self.clock)
            commits[log.topicPartition] = commit
            return commit
        }
    }

    func forget(_ partition: TopicPartition) {
        _ = self.groupCommits.withLockedValue { $0.removeValue(forKey: partition) }
        _ = self.appendQueues.withLockedValue { $0.removeValue(forKey: partition) }
    }
}
