import Logging

extension LogManager {
    /// The cleaner checkpoint file of this data directory (`cleaner-offset-checkpoint`, Kafka's name and format).
    public var cleanerCheckpointPath: String { joinPath(self.dataDirectory, LogCleaner.checkpointFileName) }

    /// A cleaner keeping its checkpoints in this data directory. Keep one for the broker's life and pass it to
    /// ``runCompaction(nowMs:cleaner:)``.
    public func makeCleaner(configuration: LogCleaner.Configuration = LogCleaner.Configuration()) -> LogCleaner {
        LogCleaner(
            fileSystem: self.fileSystem, checkpointPath: self.cleanerCheckpointPath, configuration: configuration,
            logger: self.logger)
    }

    /// One compaction pass over every log whose `cleanup.policy` includes `compact` (for the maintenance loop).
    ///
    /// A log that fails to clean is logged and skipped; the others are still cleaned. Checkpoints of deleted
    /// partitions are dropped.
    /// - Returns: The stats of the logs that were cleaned.
    @discardableResult
    public func runCompaction(nowMs: Int64, cleaner: LogCleaner? = nil) throws -> [TopicPartition: CleanerStats] {
        let cleaner = cleaner ?? self.makeCleaner()
        var results: [TopicPartition: CleanerStats] = [:]
        let partitions = self.partitions
        for partition in partitions {
            guard let log = try self.log(for: partition), log.config.cleanupPolicy.contains(.compact) else { continue }
            do {
                let stats = try cleaner.clean(log: log, nowMs: nowMs)
                if stats.cleaned { results[partition] = stats }
            } catch {
                self.logger.warning(
                    "Log compaction failed",
                    metadata: [
                        LogKey.topic: "\(partition.topic)", LogKey.partition: "\(partition.partition)",
                        "spate.error": "\(error)",
                    ])
            }
        }
        try cleaner.retainCheckpoints(for: Set(partitions))
        return results
    }
}
