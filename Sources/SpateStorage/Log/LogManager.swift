public import Logging
import NIOConcurrencyHelpers
import NIOCore
public import SpateRecords

/// Every partition log in a data directory, with Kafka's root files: `recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint` and the clean-shutdown marker `.kafka_cleanshutdown`.
///
/// Start-up after a clean shutdown reads the checkpoints and lists the data directory, nothing more: each partition
/// log is opened on first use (``log(for:)``), and then opens only its active segment. After a crash (no marker)
/// every log is opened, and recovers from its recovery point, before `open` returns. Synchronous like
/// ``PartitionLog``: run it on the storage thread pool.
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
    /// The log configuration of a topic, for logs opened after start-up.
    private let config: @Sendable (String) -> LogConfig
    /// The `nowMs` start-up was given (logs opened later open as they would have at start-up).
    private let startMs: Int64
    private let lock = NIOLock()
    private var logs: [TopicPartition: Entry]

    /// A partition's log: open, or found at a clean start and not used since.
    private enum Entry {
        case open(PartitionLog)
        case deferred(DeferredLog)
    }

    private init(
        dataDirectory: String, hadCleanShutdown: Bool, fileSystem: any StorageFileSystem,
        compressor: (any RecordsCompressor)?, logger: Logger, logs: [TopicPartition: Entry],
        producerIDExpiration: Duration, config: @escaping @Sendable (String) -> LogConfig, startMs: Int64
    ) {
        self.producerIDExpiration = producerIDExpiration
        self.dataDirectory = dataDirectory
        self.hadCleanShutdown = hadCleanShutdown
        self.fileSystem = fileSystem
        self.compressor = compressor
        self.logger = logger
        self.logs = logs
        self.config = config
        self.startMs = startMs
    }

    /// Opens every partition log under `dataDirectory` (creating the directory if needed).
    /// - Parameters:
    ///   - config: The log configuration of a topic.
    ///   - producerIDExpiration: `producer.id.expiration.ms`; Kafka's default is one day.
    public static func open(
        dataDirectory: String, fileSystem: any StorageFileSystem = PosixFileSystem(),
        compressor: (any RecordsCompressor)?, config: @escaping @Sendable (String) -> LogConfig, nowMs: Int64,
        logger: Logger,
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
        var logs: [TopicPartition: Entry] = [:]
        for name in try fileSystem.contentsOfDirectory(dataDirectory) {
            guard let partition = TopicPartition(directoryName: name) else { continue }
            let recoveryPoint = recoveryPoints[partition] ?? 0
            let logStart = logStarts[partition] ?? 0
            if clean && checkpointsValid {
                // Nothing to recover: open the log when it is first used. Until then its checkpointed offsets stand
                // for it, and its files stay exactly as the clean shutdown left them.
                logs[partition] = .deferred(
                    DeferredLog(
                        partition: partition, directory: joinPath(dataDirectory, name), recoveryPoint: recoveryPoint,
                        logStartOffset: logStart))
            } else {
                let log = try PartitionLog.open(
                    directory: joinPath(dataDirectory, name), topicPartition: partition, config: config(partition.topic),
                    fileSystem: fileSystem, compressor: compressor, recoveryPoint: recoveryPoint,
                    logStartOffset: logStart, hadCleanShutdown: false, nowMs: nowMs, logger: logger)
                logs[partition] = .open(log)
            }
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
            logger: logger, logs: logs, producerIDExpiration: producerIDExpiration, config: config, startMs: nowMs)
    }

    /// The log of a partition, if it exists (opening it if this is its first use since a clean start).
    /// - Throws: The error opening the log failed with (it is tried again on the next call).
    public func log(for partition: TopicPartition) throws -> PartitionLog? {
        guard let entry = self.lock.withLock({ self.logs[partition] }) else { return nil }
        switch entry {
        case .open(let log):
            return log
        case .deferred(let deferred):
            let log = try self.open(deferred)
            self.lock.withLock {
                if case .deferred(let current) = self.logs[partition], current === deferred { self.logs[partition] = .open(log) }
            }
            return log
        }
    }

    /// Opens a log found at a clean start (once; concurrent callers wait for the same open).
    private func open(_ deferred: DeferredLog) throws -> PartitionLog {
        try deferred.open {
            try PartitionLog.open(
                directory: deferred.directory, topicPartition: deferred.partition,
                config: self.config(deferred.partition.topic), fileSystem: self.fileSystem, compressor: self.compressor,
                recoveryPoint: deferred.recoveryPoint, logStartOffset: deferred.logStartOffset, hadCleanShutdown: true,
                nowMs: self.startMs, logger: self.logger)
        }
    }

    /// Every log, opening those not used since a clean start (for maintenance).
    private func allLogs() throws -> [PartitionLog] {
        try self.partitions.compactMap { try self.log(for: $0) }
    }

    /// Opens the logs not used since a clean start, one after another; returns how many it opened. The broker calls
    /// this in the background once it serves requests, so that start-up does not wait for it and the first requests
    /// to each partition seldom do. A log that fails to open is logged and left to open on its first use.
    @discardableResult
    public func openDeferredLogs() -> Int {
        let deferred = self.lock.withLock { () -> [TopicPartition] in
            self.logs.compactMap { partition, entry in
                if case .deferred(let log) = entry, log.openedLog == nil { return partition }
                return nil
            }.sorted()
        }
        var opened = 0
        for partition in deferred {
            do {
                if try self.log(for: partition) != nil { opened += 1 }
            } catch {
                self.logger.warning(
                    "Could not open a partition log in the background; it opens on first use",
                    metadata: [
                        LogKey.topic: "\(partition.topic)", LogKey.partition: "\(partition.partition)",
                        "spate.error": "\(error)",
                    ])
            }
        }
        return opened
    }

    /// Every partition with a log.
    public var partitions: [TopicPartition] { self.lock.withLock { self.logs.keys.sorted() } }

    /// Returns the partition's log, creating an empty one if it does not exist.
    public func getOrCreateLog(for partition: TopicPartition, config: LogConfig, nowMs: Int64) throws -> PartitionLog {
        if let log = try self.log(for: partition) { return log }
        return try self.lock.withLock { () throws -> PartitionLog in
            switch self.logs[partition] {
            case .open(let log): return log
            case .deferred: break  // created by nobody but start-up, and opened above; cannot reappear
            case nil: break
            }
            let log = try PartitionLog.open(
                directory: joinPath(self.dataDirectory, partition.directoryName), topicPartition: partition,
                config: config, fileSystem: self.fileSystem, compressor: self.compressor, recoveryPoint: 0,
                logStartOffset: 0, hadCleanShutdown: false, nowMs: nowMs, logger: self.logger)
            self.logs[partition] = .open(log)
            return log
        }
    }

    /// Deletes a partition's log and its directory.
    public func deleteLog(for partition: TopicPartition) throws {
        guard let entry = self.lock.withLock({ self.logs.removeValue(forKey: partition) }) else { return }
        switch entry {
        case .open(let log):
            try log.deleteAll()
        case .deferred(let deferred):
            if let log = deferred.markDeleted() {
                try log.deleteAll()
            } else {
                try self.fileSystem.remove(deferred.directory)
                try self.fileSystem.syncDirectory(self.dataDirectory)
            }
        }
        try self.writeCheckpoints()
    }

    /// Writes both checkpoint files from the logs' current recovery points and log start offsets (a log not opened
    /// since a clean start keeps the offsets it was checkpointed with).
    public func writeCheckpoints() throws {
        let logs = self.lock.withLock { self.logs }
        var recoveryPoints: [TopicPartition: Int64] = [:]
        var logStarts: [TopicPartition: Int64] = [:]
        for (partition, entry) in logs {
            switch entry {
            case .open(let log):
                recoveryPoints[partition] = log.recoveryPoint
                logStarts[partition] = log.logStartOffset
            case .deferred(let deferred):
                if let log = deferred.openedLog {
                    recoveryPoints[partition] = log.recoveryPoint
                    logStarts[partition] = log.logStartOffset
                } else {
                    recoveryPoints[partition] = deferred.recoveryPoint
                    logStarts[partition] = deferred.logStartOffset
                }
            }
        }
        try OffsetCheckpointFile(path: joinPath(self.dataDirectory, Self.recoveryPointFileName), fileSystem: self.fileSystem)
            .write(recoveryPoints)
        try OffsetCheckpointFile(path: joinPath(self.dataDirectory, Self.logStartFileName), fileSystem: self.fileSystem)
            .write(logStarts)
    }

    /// Whether the partition's log has been opened (false for one not used since a clean start; for tests).
    func isOpen(_ partition: TopicPartition) -> Bool {
        switch self.lock.withLock({ self.logs[partition] }) {
        case .open: true
        case .deferred(let deferred): deferred.openedLog != nil
        case nil: false
        }
    }

    /// One pass of background upkeep: retention, `flush.ms`/`flush.messages` flushes, removal of `.deleted` files,
    /// expiry of idle producers (`producer.id.expiration.ms`) and a producer-state snapshot where it changed, then
    /// fresh checkpoints.
    public func runMaintenance(nowMs: Int64) throws {
        // Logs not used since a clean start are opened here: retention applies to them too.
        for log in try self.allLogs() {
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
        // Logs never opened since a clean start are as that shutdown left them: nothing to flush or close.
        let logs = self.lock.withLock { () -> [PartitionLog] in
            self.logs.values.compactMap { entry in
                switch entry {
                case .open(let log): log
                case .deferred(let deferred): deferred.openedLog
                }
            }
        }
        for log in logs { try log.close(nowMs: nowMs) }
        try self.writeCheckpoints()
        try self.fileSystem.writeFileAtomically(
            joinPath(self.dataDirectory, Self.cleanShutdownFileName), contents: .init())
        self.logger.info("Logs closed cleanly", metadata: ["spate.data_dir": "\(self.dataDirectory)"])
    }
}

/// A partition log found at a clean start, opened on first use by ``LogManager/log(for:)``.
private final class DeferredLog: @unchecked Sendable {
    let partition: TopicPartition
    let directory: String
    /// The checkpointed offsets, which stand for the log until it is opened.
    let recoveryPoint: Int64
    let logStartOffset: Int64
    private let lock = NIOLock()
    private var state: State = .pending

    private enum State {
        case pending
        case opened(PartitionLog)
        case deleted
    }

    init(partition: TopicPartition, directory: String, recoveryPoint: Int64, logStartOffset: Int64) {
        self.partition = partition
        self.directory = directory
        self.recoveryPoint = recoveryPoint
        self.logStartOffset = logStartOffset
    }

    /// The log if it has been opened.
    var openedLog: PartitionLog? {
        self.lock.withLock {
            if case .opened(let log) = self.state { return log }
            return nil
        }
    }

    /// Opens the log with `body` unless it is open already; a failed open is tried again next time.
    func open(_ body: () throws -> PartitionLog) throws -> PartitionLog {
        try self.lock.withLock { () throws -> PartitionLog in
            switch self.state {
            case .opened(let log):
                return log
            case .deleted:
                throw StorageError(.closed, "\(self.partition) was deleted")
            case .pending:
                let log = try body()
                self.state = .opened(log)
                return log
            }
        }
    }

    /// Marks the log deleted (later opens fail); returns it if it had been opened, so that the caller deletes it.
    func markDeleted() -> PartitionLog? {
        self.lock.withLock {
            defer { self.state = .deleted }
            if case .opened(let log) = self.state { return log }
            return nil
        }
    }
}
