public import Logging
import NIOConcurrencyHelpers
import NIOCore
public import SpateRecords

/// Every partition log in a data directory, with Kafka's root files: `recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint` and the clean-shutdown marker `.kafka_cleanshutdown`.
///
/// Start-up after a clean shutdown reads the checkpoints and opens segments lazily; after a crash (no marker) each
/// log recovers from its recovery point. Synchronous like ``PartitionLog``: run it on the storage thread pool.
public final class LogManager: @unchecked Sendable {
    public static let cleanShutdownFileName = ".kafka_cleanshutdown"
    public static let recoveryPointFileName = "recovery-point-offset-checkpoint"
    public static let logStartFileName = "log-start-offset-checkpoint"

    public let dataDirectory: String
    public let hadCleanShutdown: Bool
    /// How long a producer may be idle before its state is dropped (`producer.id.expiration.ms`).
    public let producerIDExpiration: Duration
    let fileSystem: any StorageFileSystem
    let compressor: (any RecordsCompressor)?
    let logger: Logger
    private let lock = NIOLock()
    private var logs: [TopicPartition: PartitionLog]

    private init(
        dataDirectory: String, hadCleanShutdown: Bool, fileSystem: any StorageFileSystem,
        compressor: (any RecordsCompressor)?, logger: Logger, logs: [TopicPartition: PartitionLog],
        producerIDExpiration: Duration
    ) {
        self.producerIDExpiration = producerIDExpiration
        self.dataDirectory = dataDirectory
        self.hadCleanShutdown = hadCleanShutdown
        self.fileSystem = fileSystem
        self.compressor = compressor
        self.logger = logger
        self.logs = logs
    }

    /// Opens every partition log under `dataDirectory` (creating the directory if needed).
    /// - Parameters:
    ///   - config: The log configuration of a topic.
    ///   - producerIDExpiration: `producer.id.expiration.ms`; Kafka's default is one day.
    public static func open(
        dataDirectory: String, fileSystem: any StorageFileSystem = PosixFileSystem(),
        compressor: (any RecordsCompressor)?, config: (String) -> LogConfig, nowMs: Int64, logger: Logger,
        producerIDExpiration: Duration = .seconds(86_400)
    ) throws -> LogManager {
        try fileSystem.createDirectoryDurably(dataDirectory)
        let marker = joinPath(dataDirectory, Self.cleanShutdownFileName)
        let clean = fileSystem.fileExists(marker)
        var recoveryPoints: [TopicPartition: Int64] = [:]
        var logStarts: [TopicPartition: Int64] = [:]
        var checkpointsValid = true
        do {
            recoveryPoints = try OffsetCheckpointFile(
                path: joinPath(dataDirectory, Self.recoveryPointFileName), fileSystem: fileSystem
            ).read()
            logStarts = try OffsetCheckpointFile(path: joinPath(dataDirectory, Self.logStartFileName), fileSystem: fileSystem)
                .read()
        } catch {
            logger.warning("Ignored a malformed checkpoint file; recovering every log", metadata: ["spate.error": "\(error)"])
            checkpointsValid = false
            recoveryPoints = [:]
        }
        var logs: [TopicPartition: PartitionLog] = [:]
        for name in try fileSystem.contentsOfDirectory(dataDirectory) {
            guard let partition = TopicPartition(directoryName: name) else { continue }
            let log = try PartitionLog.open(
                directory: joinPath(dataDirectory, name), topicPartition: partition, config: config(partition.topic),
                fileSystem: fileSystem, compressor: compressor, recoveryPoint: recoveryPoints[partition] ?? 0,
                logStartOffset: logStarts[partition] ?? 0, hadCleanShutdown: clean && checkpointsValid, nowMs: nowMs,
                logger: logger)
            logs[partition] = log
        }
        // From here on a crash must be seen as one: remove the marker durably before accepting writes.
        if clean {
            try fileSystem.remove(marker)
            try fileSystem.syncDirectory(dataDirectory)
        }
        logger.info(
            "Loaded logs",
            metadata: [
                "spate.data_dir": "\(dataDirectory)", "spate.partitions": "\(logs.count)",
                "spate.clean_shutdown": "\(clean)",
            ])
        return LogManager(
            dataDirectory: dataDirectory, hadCleanShutdown: clean, fileSystem: fileSystem, compressor: compressor,
            logger: logger, logs: logs, producerIDExpiration: producerIDExpiration)
    }

    /// The log of a partition, if it exists.
    public func log(for partition: TopicPartition) -> PartitionLog? {
        self.lock.withLock { self.logs[partition] }
    }

    /// Every partition with a log.
    public var partitions: [TopicPartition] { self.lock.withLock { self.logs.keys.sorted() } }

    /// Returns the partition's log, creating an empty one if it does not exist.
    public func getOrCreateLog(for partition: TopicPartition, config: LogConfig, nowMs: Int64) throws -> PartitionLog {
        try self.lock.withLock { () throws -> PartitionLog in
            if let log = self.logs[partition] { return log }
            let log = try PartitionLog.open(
                directory: joinPath(self.dataDirectory, partition.directoryName), topicPartition: partition,
                config: config, fileSystem: self.fileSystem, compressor: self.compressor, recoveryPoint: 0,
                logStartOffset: 0, hadCleanShutdown: false, nowMs: nowMs, logger: self.logger)
            self.logs[partition] = log
            return log
        }
    }

    /// Deletes a partition's log and its directory.
    public func deleteLog(for partition: TopicPartition) throws {
        guard let log = self.lock.withLock({ self.logs.removeValue(forKey: partition) }) else { return }
        try log.deleteAll()
        try self.writeCheckpoints()
    }

    /// Writes both checkpoint files from the logs' current recovery points and log start offsets.
    public func writeCheckpoints() throws {
        let logs = self.lock.withLock { self.logs }
        try OffsetCheckpointFile(path: joinPath(self.dataDirectory, Self.recoveryPointFileName), fileSystem: self.fileSystem)
            .write(logs.mapValues(\.recoveryPoint))
        try OffsetCheckpointFile(path: joinPath(self.dataDirectory, Self.logStartFileName), fileSystem: self.fileSystem)
            .write(logs.mapValues(\.logStartOffset))
    }

    /// One pass of background upkeep: retention, `flush.ms`/`flush.messages` flushes, removal of `.deleted` files,
    /// expiry of idle producers (`producer.id.expiration.ms`) and a producer-state snapshot where it changed, then
    /// fresh checkpoints.
    public func runMaintenance(nowMs: Int64) throws {
        let logs = self.lock.withLock { Array(self.logs.values) }
        for log in logs {
            try log.enforceRetention(nowMs: nowMs)
            if log.needsFlushByTime(nowMs: nowMs) || log.needsFlushByMessages { try log.flush(nowMs: nowMs) }
            log.removeDeletedFiles(nowMs: nowMs)
            log.removeExpiredProducers(nowMs: nowMs, expiration: self.producerIDExpiration)
            try log.takeProducerSnapshot()
        }
        try self.writeCheckpoints()
    }

    /// Graceful shutdown: flushes and closes every log, writes the checkpoints, then the clean-shutdown marker.
    public func shutdown(nowMs: Int64) throws {
        let logs = self.lock.withLock { Array(self.logs.values) }
        for log in logs { try log.close(nowMs: nowMs) }
        try self.writeCheckpoints()
        try self.fileSystem.writeFileAtomically(
            joinPath(self.dataDirectory, Self.cleanShutdownFileName), contents: .init())
        self.logger.info("Logs closed cleanly", metadata: ["spate.data_dir": "\(self.dataDirectory)"])
    }
}
