import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

@Suite struct LogManagerTests {
    func open(_ fs: any StorageFileSystem, config: LogConfig = LogConfig()) throws -> LogManager {
        try LogManager.open(
            dataDirectory: "/var/spate-data", fileSystem: fs, compressor: nil, config: { _ in config }, nowMs: 0,
            logger: testLogger)
    }

    /// Issue 4 (start-up < 150 ms with 1,000 partitions): after a clean shutdown `open` opens no partition log; each
    /// opens on first use, and until then its checkpointed offsets stand for it, in checkpoints written meanwhile,
    /// across a second clean shutdown and across a crash.
    @Test func aCleanStartOpensLogsOnFirstUse() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        let manager = try self.open(fs)
        let partitions = (0..<4).map { TopicPartition(topic: "orders", partition: Int32($0)) }
        for partition in partitions {
            let log = try manager.getOrCreateLog(for: partition, config: LogConfig(), nowMs: 0)
            for _ in 0..<3 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 4)), leaderEpoch: 0, nowMs: 0) }
        }
        try manager.log(for: partitions[3])!.deleteRecords(before: 2, nowMs: 0)
        try manager.shutdown(nowMs: 0)
        let checkpoint = memory.bytes(of: "/var/spate-data/recovery-point-offset-checkpoint")!

        fs.resetCounts()
        let restarted = try self.open(fs)
        #expect(restarted.hadCleanShutdown)
        #expect(restarted.partitions == partitions)
        #expect(fs.counts.opens <= 3)  // the two checkpoint files; no partition's files
        #expect(partitions.allSatisfy { !restarted.isOpen($0) })
        // Checkpoints written before a log is used keep its checkpointed offsets.
        try restarted.writeCheckpoints()
        #expect(memory.bytes(of: "/var/spate-data/recovery-point-offset-checkpoint")! == checkpoint)
        // First use opens that log only.
        #expect(try restarted.log(for: partitions[0])!.logEndOffset == 12)
        #expect(restarted.isOpen(partitions[0]) && !restarted.isOpen(partitions[1]))
        _ = try restarted.log(for: partitions[0])!.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 0, nowMs: 0)
        // Deleting a log never opened removes its directory.
        try restarted.deleteLog(for: partitions[1])
        #expect(!memory.fileExists("/var/spate-data/orders-1"))
        #expect(try restarted.log(for: partitions[1]) == nil)
        // A second clean shutdown closes what was opened and keeps the others' offsets.
        try restarted.shutdown(nowMs: 0)
        let again = try self.open(memory)
        #expect(again.hadCleanShutdown)
        // The broker's background pass opens every log not used yet (once).
        #expect(again.openDeferredLogs() == 3)
        #expect(again.openDeferredLogs() == 0)
        #expect(try again.log(for: partitions[0])!.logEndOffset == 13)
        #expect(try again.log(for: partitions[2])!.logEndOffset == 12)
        #expect(try again.log(for: partitions[3])!.logStartOffset == 2)
        // Maintenance opens the rest (retention applies to every log), and a crash then recovers everything.
        try again.runMaintenance(nowMs: 0)
        #expect(partitions.filter { $0 != partitions[1] }.allSatisfy { again.isOpen($0) })
        memory.crash(keepUnsynced: .none)
        let recovered = try self.open(memory)
        #expect(!recovered.hadCleanShutdown)
        #expect(try recovered.log(for: partitions[0])!.logEndOffset == 13)
        #expect(try recovered.log(for: partitions[3])!.logEndOffset == 12)
        #expect(try recovered.log(for: partitions[3])!.logStartOffset == 2)
    }

    @Test func checkpointsAndTheCleanShutdownMarkerUseKafkasFormats() throws {
        let fs = InMemoryFileSystem()
        let manager = try self.open(fs)
        #expect(!manager.hadCleanShutdown)
        let orders = TopicPartition(topic: "orders-eu", partition: 1)
        let audit = TopicPartition(topic: "audit", partition: 0)
        for partition in [orders, audit] {
            let log = try manager.getOrCreateLog(for: partition, config: LogConfig(), nowMs: 0)
            for _ in 0..<3 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 4)), leaderEpoch: 2, nowMs: 0) }
        }
        try manager.log(for: orders)!.deleteRecords(before: 5, nowMs: 0)
        try manager.shutdown(nowMs: 0)
        let recovery = String(decoding: fs.bytes(of: "/var/spate-data/recovery-point-offset-checkpoint")!, as: UTF8.self)
        #expect(recovery == "0\n2\naudit 0 12\norders-eu 1 12\n")
        let starts = String(decoding: fs.bytes(of: "/var/spate-data/log-start-offset-checkpoint")!, as: UTF8.self)
        #expect(starts == "0\n2\naudit 0 0\norders-eu 1 5\n")
        #expect(fs.fileExists("/var/spate-data/.kafka_cleanshutdown"))
        let epochs = String(decoding: fs.bytes(of: "/var/spate-data/orders-eu-1/leader-epoch-checkpoint")!, as: UTF8.self)
        #expect(epochs == "0\n1\n2 5\n")

        // Clean restart: the marker is consumed (durably) so that a crash from here on is seen as one.
        fs.crash(keepUnsynced: .none)
        let restarted = try self.open(fs)
        #expect(restarted.hadCleanShutdown)
        #expect(!fs.fileExists("/var/spate-data/.kafka_cleanshutdown"))
        #expect(restarted.partitions == [audit, orders])
        #expect(try restarted.log(for: orders)!.logStartOffset == 5)
        #expect(try restarted.log(for: orders)!.logEndOffset == 12)
        #expect(try readAll(restarted.log(for: audit)!).count == 12)

        // Crash without shutdown: recovery runs, acknowledged (flushed) data is there.
        _ = try restarted.log(for: audit)!.append(RecordSet(buffer: try makeBatch(count: 4)), leaderEpoch: 3, nowMs: 0)
        try restarted.log(for: audit)!.flush(nowMs: 0)
        try restarted.writeCheckpoints()
        fs.crash(keepUnsynced: .none)
        let recovered = try self.open(fs)
        #expect(!recovered.hadCleanShutdown)
        #expect(try recovered.log(for: audit)!.logEndOffset == 16)
        #expect(try recovered.log(for: audit)!.endOffset(forEpoch: 2) == (2, 12))
        #expect(try recovered.log(for: audit)!.endOffset(forEpoch: 3) == (3, 16))
    }

    @Test func deletingALogRemovesItsDirectoryAndCheckpointEntries() throws {
        let fs = InMemoryFileSystem()
        let manager = try self.open(fs)
        let partition = TopicPartition(topic: "tmp", partition: 0)
        _ = try manager.getOrCreateLog(for: partition, config: LogConfig(), nowMs: 0)
        try manager.deleteLog(for: partition)
        #expect(!fs.fileExists("/var/spate-data/tmp-0"))
        #expect(manager.partitions.isEmpty)
        let recovery = String(decoding: fs.bytes(of: "/var/spate-data/recovery-point-offset-checkpoint")!, as: UTF8.self)
        #expect(recovery == "0\n0\n")
    }

    @Test func maintenanceAppliesRetentionAndRemovesDeletedFilesLater() throws {
        let fs = InMemoryFileSystem()
        var config = LogConfig()
        config.retentionTime = .milliseconds(1_000)
        config.fileDeleteDelay = .milliseconds(500)
        let manager = try self.open(fs, config: config)
        let log = try manager.getOrCreateLog(for: TopicPartition(topic: "t", partition: 0), config: config, nowMs: 0)
        _ = try log.append(RecordSet(buffer: try makeBatch(count: 2, timestamp: 0)), leaderEpoch: 0, nowMs: 0)
        try log.roll(nowMs: 0)
        _ = try log.append(RecordSet(buffer: try makeBatch(count: 2, timestamp: 5_000)), leaderEpoch: 0, nowMs: 0)
        try manager.runMaintenance(nowMs: 2_000)
        #expect(log.segmentBaseOffsets == [2])
        #expect(fs.fileExists("/var/spate-data/t-0/00000000000000000000.log.deleted"))
        try manager.runMaintenance(nowMs: 2_499)
        #expect(fs.fileExists("/var/spate-data/t-0/00000000000000000000.log.deleted"))
        try manager.runMaintenance(nowMs: 2_500)
        #expect(!fs.fileExists("/var/spate-data/t-0/00000000000000000000.log.deleted"))
    }

    @Test func aFullOffsetIndexRollsTheSegment() throws {
        let fs = InMemoryFileSystem()
        var config = LogConfig()
        config.segmentIndexBytes = 16  // two offset-index entries, but one 12-byte time-index entry
        config.indexIntervalBytes = 1
        let manager = try self.open(fs, config: config)
        let log = try manager.getOrCreateLog(for: TopicPartition(topic: "t", partition: 0), config: config, nowMs: 0)
        for _ in 0..<5 { _ = try log.append(RecordSet(buffer: try makeBatch(count: 1)), leaderEpoch: 0, nowMs: 0) }
        // Entries are added from the second batch on; batch 1's time-index entry fills that index (as in Kafka, each
        // index's capacity is segment.index.bytes / its entry size), so batch 2 starts a new segment.
        #expect(log.segmentBaseOffsets == [0, 2, 4])
    }
}
