import NIOCore
import NIOPosix
import SpateRecords
import Testing

@testable import SpateStorage

/// After every fault or crash, reopening gives a consistent log whose contents are exactly a prefix of what was
/// appended, and that prefix includes everything acknowledged (flushed before the acknowledgement).
@Suite struct CrashAndFaultTests {
    static let partition = TopicPartition(topic: "payments", partition: 0)
    static let directory = "/data/payments-0"

    static func open(_ fs: any StorageFileSystem, config: LogConfig = smallSegments, recoveryPoint: Int64 = 0)
        throws -> PartitionLog
    {
        if !fs.fileExists("/data") {
            try fs.createDirectory("/data")
            try fs.syncDirectory("/")
        }
        return try PartitionLog.open(
            directory: Self.directory, topicPartition: Self.partition, config: config, fileSystem: fs, compressor: nil,
            recoveryPoint: recoveryPoint, logStartOffset: 0, hadCleanShutdown: false, nowMs: 0, logger: testLogger)
    }

    static var smallSegments: LogConfig {
        var config = LogConfig()
        config.segmentBytes = 2_048
        config.indexIntervalBytes = 128
        return config
    }

    /// Values of every record appended, in offset order: "b<batch>-<index>".
    static func values(batches: Range<Int>, perBatch: (Int) -> Int) -> [String] {
        batches.flatMap { batch in (0..<perBatch(batch)).map { "b\(batch)-\($0)" } }
    }

    static func appendBatch(_ log: PartitionLog, number: Int, count: Int) throws -> AppendResult {
        try log.append(RecordSet(buffer: try makeBatch(count: count, prefix: "b\(number)")), leaderEpoch: 0, nowMs: 0)
    }

    /// Checks that the log holds a prefix of `appended` at offsets 0..., covering at least `acknowledged` records.
    static func expectConsistentPrefix(_ log: PartitionLog, appended: [String], acknowledged: Int) throws {
        let records = try readAll(log)
        #expect(records.map(\.offset) == (0..<Int64(records.count)).map { $0 })
        #expect(records.count >= acknowledged, "lost acknowledged records: \(records.count) < \(acknowledged)")
        #expect(records.count <= appended.count)
        #expect(records.map(\.value) == Array(appended.prefix(records.count)))
        #expect(log.logEndOffset == Int64(records.count))
    }

    @Test(arguments: 0..<100)
    func randomCrashesKeepAnAcknowledgedPrefix(seed: Int) throws {
        var rng = SeededRandomNumberGenerator(seed: UInt64(seed))
        let fs = InMemoryFileSystem()
        var appended: [String] = []
        var acknowledged = 0
        var recoveryPoint: Int64 = 0
        var batchNumber = 0
        for _ in 0..<3 {  // three crash cycles on the same log
            let log = try Self.open(fs, recoveryPoint: recoveryPoint)
            try Self.expectConsistentPrefix(log, appended: appended, acknowledged: acknowledged)
            // What survived is now the truth; later appends continue from it.
            appended = Array(appended.prefix(Int(log.logEndOffset)))
            for _ in 0..<Int.random(in: 5...30, using: &rng) {
                let count = Int.random(in: 1...8, using: &rng)
                _ = try Self.appendBatch(log, number: batchNumber, count: count)
                appended += (0..<count).map { "b\(batchNumber)-\($0)" }
                batchNumber += 1
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    let durable = try log.flush(nowMs: 0)
                    acknowledged = Int(durable)
                    // A checkpoint written after the flush, as the log manager does.
                    if Bool.random(using: &rng) { recoveryPoint = durable }
                }
            }
            fs.crash(using: &rng)
        }
        let log = try Self.open(fs, recoveryPoint: recoveryPoint)
        try Self.expectConsistentPrefix(log, appended: appended, acknowledged: acknowledged)
    }

    @Test func garbageAfterTheLastBatchIsCut() throws {
        let fs = InMemoryFileSystem()
        let log = try Self.open(fs, config: LogConfig())
        for number in 0..<4 { _ = try Self.appendBatch(log, number: number, count: 3) }
        try log.flush(nowMs: 0)
        let path = Self.directory + "/00000000000000000000.log"
        var rng = SeededRandomNumberGenerator(seed: 7)
        fs.setBytes(fs.bytes(of: path)! + (0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }, of: path)
        let reopened = try Self.open(fs, config: LogConfig())
        try Self.expectConsistentPrefix(reopened, appended: Self.values(batches: 0..<4) { _ in 3 }, acknowledged: 12)
        #expect(reopened.logEndOffset == 12)
        #expect(fs.bytes(of: path)!.count == Int(try reopened.sizeInBytes))
    }

    @Test func aFlippedByteMidSegmentTruncatesFromThatBatch() throws {
        let fs = InMemoryFileSystem()
        let log = try Self.open(fs)
        for number in 0..<100 { _ = try Self.appendBatch(log, number: number, count: 2) }
        try log.flush(nowMs: 0)
        #expect(log.segmentCount > 3)
        let bases = log.segmentBaseOffsets
        // Flip a byte inside the first batch of the second segment: that batch and everything after it go.
        let path = Self.directory + "/" + LogSegment.fileName(bases[1], ".log")
        var bytes = fs.bytes(of: path)!
        bytes[70] ^= 0x40
        fs.setBytes(bytes, of: path)
        let reopened = try Self.open(fs)
        #expect(reopened.logEndOffset == bases[1])
        #expect(reopened.segmentBaseOffsets == [bases[0], bases[1]])
        try Self.expectConsistentPrefix(reopened, appended: Self.values(batches: 0..<100) { _ in 2 }, acknowledged: 0)
        // The log continues from there.
        _ = try Self.appendBatch(reopened, number: 99, count: 1)
        #expect(reopened.logEndOffset == bases[1] + 1)
    }

    @Test func truncatedAndMissingIndexesAfterACrashAreRebuilt() throws {
        let fs = InMemoryFileSystem()
        let log = try Self.open(fs)
        for number in 0..<30 { _ = try Self.appendBatch(log, number: number, count: 2) }
        try log.flush(nowMs: 0)
        let first = Self.directory + "/00000000000000000000"
        fs.setBytes(Array(fs.bytes(of: first + ".index")!.dropLast(5)), of: first + ".index")
        try fs.remove(first + ".timeindex")
        let reopened = try Self.open(fs, recoveryPoint: 0)
        try Self.expectConsistentPrefix(reopened, appended: Self.values(batches: 0..<30) { _ in 2 }, acknowledged: 60)
        #expect(try reopened.offset(forTimestamp: 1_001)?.offset == 1)
    }

    @Test func fsyncFailureLeavesTheRecoveryPointAndAcknowledgesNothing() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        let log = try Self.open(fs, config: LogConfig())
        for number in 0..<3 { _ = try Self.appendBatch(log, number: number, count: 2) }
        try log.flush(nowMs: 0)
        #expect(log.recoveryPoint == 6)
        for number in 3..<6 { _ = try Self.appendBatch(log, number: number, count: 2) }
        fs.injectNext(.syncFailure, matching: ".log")
        #expect(throws: StorageError.self) { try log.flush(nowMs: 0) }
        #expect(log.recoveryPoint == 6)
        // Power loss now: only what was acknowledged (6 records) is guaranteed.
        memory.crash(keepUnsynced: .none)
        let reopened = try Self.open(memory, config: LogConfig(), recoveryPoint: 6)
        try Self.expectConsistentPrefix(reopened, appended: Self.values(batches: 0..<6) { _ in 2 }, acknowledged: 6)
        #expect(reopened.logEndOffset == 6)
    }

    @Test func diskFullFailsTheAppendAndKeepsTheLogReadable() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        let log = try Self.open(fs)
        for number in 0..<5 { _ = try Self.appendBatch(log, number: number, count: 2) }
        fs.setDiskFull(true)
        #expect { try Self.appendBatch(log, number: 5, count: 2) } throws: { ($0 as? StorageError)?.code == .noSpace }
        #expect(log.logEndOffset == 10)
        try Self.expectConsistentPrefix(log, appended: Self.values(batches: 0..<5) { _ in 2 }, acknowledged: 10)
        fs.setDiskFull(false)
        let next = try Self.appendBatch(log, number: 5, count: 2)
        #expect(next.firstOffset == 10)
        try log.flush(nowMs: 0)
        memory.crash(keepUnsynced: .none)
        let reopened = try Self.open(memory)
        try Self.expectConsistentPrefix(reopened, appended: Self.values(batches: 0..<6) { _ in 2 }, acknowledged: 12)
    }

    @Test func shortWritesAndIndexFailuresNeverExposeAPartialBatch() throws {
        let memory = InMemoryFileSystem()
        let fs = FaultInjectingFileSystem(wrapping: memory)
        var config = LogConfig()
        config.indexIntervalBytes = 1  // every batch writes index entries
        let log = try Self.open(fs, config: config)
        for number in 0..<3 { _ = try Self.appendBatch(log, number: number, count: 2) }
        fs.injectNext(.shortWrite(bytes: 10), matching: ".log")
        #expect(throws: StorageError.self) { try Self.appendBatch(log, number: 3, count: 2) }
        #expect(log.logEndOffset == 6)
        // Index entries are buffered and written `OffsetIndex.pendingLimit` at a time: a failure to write them fails
        // the append that writes them, which leaves the log as it was. (A time-index entry is added only for a newer
        // max timestamp: the second round gives every batch one.)
        var number = 3
        for (suffix, newerTimestamps) in [(".index", false), (".timeindex", true)] {
            fs.injectNext(.diskFull, matching: suffix)
            var failures = 0
            for _ in 0...(2 * OffsetIndex.pendingLimit) {
                let end = log.logEndOffset
                let timestamp: Int64 = newerTimestamps ? 100_000 + 10 * Int64(number) : 1_000
                do {
                    _ = try log.append(
                        RecordSet(buffer: try makeBatch(count: 2, prefix: "b\(number)", timestamp: timestamp)),
                        leaderEpoch: 0, nowMs: 0)
                    number += 1
                } catch {
                    failures += 1
                    #expect(log.logEndOffset == end)
                    break
                }
            }
            #expect(failures == 1, "no append failed on \(suffix)")
        }
        #expect(fs.armedFaultCount == 0)
        try Self.expectConsistentPrefix(
            log, appended: Self.values(batches: 0..<number) { _ in 2 }, acknowledged: 2 * number)
        for _ in 0..<3 {
            _ = try Self.appendBatch(log, number: number, count: 2)
            number += 1
        }
        let appended = Self.values(batches: 0..<number) { _ in 2 }
        try Self.expectConsistentPrefix(log, appended: appended, acknowledged: 2 * number)
        #expect(try log.offset(forTimestamp: 1_001)?.offset == 1)
        try log.flush(nowMs: 0)
        memory.crash(keepUnsynced: .all)
        try Self.expectConsistentPrefix(try Self.open(memory, config: config), appended: appended, acknowledged: 2 * number)
    }

    /// Buffered index entries are written when the segment rolls and closes: a clean restart finds every entry in the
    /// index files (not only those written in full groups of `OffsetIndex.pendingLimit`).
    @Test func bufferedIndexEntriesReachTheFilesAtRollAndClose() throws {
        let memory = InMemoryFileSystem()
        var config = LogConfig()
        config.indexIntervalBytes = 1
        let log = try Self.open(memory, config: config)
        for number in 0..<10 { _ = try Self.appendBatch(log, number: number, count: 2) }
        try log.roll(nowMs: 0)
        for number in 10..<15 { _ = try Self.appendBatch(log, number: number, count: 2) }
        try log.close(nowMs: 0)
        let first = try #require(try memory.readWholeFile(Self.directory + "/00000000000000000000.index"))
        let second = try #require(try memory.readWholeFile(Self.directory + "/00000000000000000020.index"))
        // One entry per batch after the first of each segment.
        #expect(first.readableBytes == 9 * OffsetIndex.entrySize)
        #expect(second.readableBytes == 4 * OffsetIndex.entrySize)
    }

    @Test func oneFsyncCoversEveryWaitingAcknowledgement() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        // Several rounds, because the bug this guards against was a race: a waiter that read the recovery point just
        // before the flush finished, and registered just after it had released its waiters, started an fsync of its
        // own for nothing (2 or 3 fsyncs instead of 1, seen on a loaded machine).
        for round in 0..<20 {
            let memory = InMemoryFileSystem()
            let log = try Self.open(memory, config: LogConfig())
            let commit = GroupCommit(log: log, io: StorageIO(threadPool: pool), clock: { 0 })
            var lastOffsets: [Int64] = []
            for number in 0..<100 { lastOffsets.append(try Self.appendBatch(log, number: number, count: 1).lastOffset) }
            let before = memory.syncCount
            try await withThrowingTaskGroup(of: Void.self) { group in
                for offset in lastOffsets {
                    group.addTask { try await commit.waitUntilDurable(through: offset) }
                }
                try await group.waitForAll()
            }
            #expect(log.recoveryPoint == 100)
            // Every batch was appended before the first flush began, so that flush (one fsync of the active segment's
            // log file) covers every waiter, however the 100 of them interleave with it.
            let flushes = memory.syncCount - before
            #expect(flushes == 1, "round \(round): \(flushes) fsyncs for 100 waiters")
            if round == 0 {
                // Already-durable offsets return without a flush; never-appended ones are refused.
                try await commit.waitUntilDurable(through: 50)
                #expect(memory.syncCount - before == 1)
                await #expect(throws: StorageError.self) { try await commit.waitUntilDurable(through: 1_000) }
            }
        }
        try await pool.shutdownGracefully()
    }
}
