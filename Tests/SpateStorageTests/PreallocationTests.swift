import Glibc
import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// `preallocate`: a new segment's log file reserves `segment.bytes` of disk without growing, so that its size (and
/// therefore recovery) still ends at the last whole batch; the reservation is released when the segment rolls or the
/// log closes.
@Suite struct PreallocationTests {
    static let segmentBytes: Int64 = 1 << 20

    func open(_ directory: String, clean: Bool) throws -> PartitionLog {
        var config = LogConfig()
        config.segmentBytes = Self.segmentBytes
        config.preallocate = true
        return try PartitionLog.open(
            directory: directory + "/orders-0", topicPartition: TopicPartition(topic: "orders", partition: 0),
            config: config, fileSystem: PosixFileSystem(), compressor: nil, recoveryPoint: 0, logStartOffset: 0,
            hadCleanShutdown: clean, nowMs: 0, logger: testLogger)
    }

    /// The file's size and the disk space allocated to it (`st_blocks` is in 512-byte units).
    func sizeAndAllocated(_ path: String) -> (size: Int64, allocated: Int64) {
        var info = stat()
        #expect(stat(path, &info) == 0)
        return (Int64(info.st_size), Int64(info.st_blocks) * 512)
    }

    func logPath(_ directory: TemporaryDirectory, _ baseOffset: Int64) -> String {
        directory.path + "/orders-0/" + LogSegment.fileName(baseOffset, ".log")
    }

    /// Whether the file system under the temporary directory reserves blocks with fallocate (ext4, xfs, tmpfs do).
    func fileSystemPreallocates(_ directory: TemporaryDirectory) throws -> Bool {
        let file = try PosixFileSystem().open(directory.path + "/probe", create: true)
        defer { try? file.close() }
        try file.preallocate(upTo: 1 << 20)
        return self.sizeAndAllocated(directory.path + "/probe") == (0, 1 << 20)
    }

    @Test func theReservationNeitherGrowsTheFileNorOutlivesTheSegment() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try #require(try self.fileSystemPreallocates(directory), "fallocate(FALLOC_FL_KEEP_SIZE) is not supported here")
        let log = try self.open(directory.path, clean: false)
        let batch = try makeBatch(count: 50)
        _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0)
        var first = self.sizeAndAllocated(self.logPath(directory, 0))
        #expect(first.size == Int64(batch.readableBytes))
        #expect(first.allocated >= Self.segmentBytes)  // reserved, though not written

        // Fill the segment until it rolls: the rolled segment keeps only the blocks its data needs.
        while log.segmentCount == 1 { _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0) }
        first = self.sizeAndAllocated(self.logPath(directory, 0))
        #expect(first.size < Self.segmentBytes)
        #expect(first.allocated < first.size + 64 * 1024)
        let active = try #require(log.segmentBaseOffsets.last)
        #expect(self.sizeAndAllocated(self.logPath(directory, active)).allocated >= Self.segmentBytes)

        // Closing releases the active segment's reservation too.
        try log.close(nowMs: 0)
        let closed = self.sizeAndAllocated(self.logPath(directory, active))
        #expect(closed.size == Int64(batch.readableBytes))
        #expect(closed.allocated < closed.size + 64 * 1024)
    }

    /// Releasing the reservation is best effort: a failing `ftruncate` at the roll neither fails the append that rolls
    /// nor loses anything.
    @Test func aFailedReleaseDoesNotFailTheRoll() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let fs = FaultInjectingFileSystem(wrapping: PosixFileSystem())
        var config = LogConfig()
        config.segmentBytes = 4096
        config.preallocate = true
        let log = try PartitionLog.open(
            directory: directory.path + "/orders-0", topicPartition: TopicPartition(topic: "orders", partition: 0),
            config: config, fileSystem: fs, compressor: nil, recoveryPoint: 0, logStartOffset: 0,
            hadCleanShutdown: false, nowMs: 0, logger: testLogger)
        let batch = try makeBatch(count: 20)
        _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0)
        fs.injectNext(.truncateFailure, matching: "00000000000000000000.log")
        var appended = 20
        while log.segmentCount == 1 {
            _ = try log.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0)
            appended += 20
        }
        #expect(fs.armedFaultCount == 0)  // the release at the roll met the fault
        #expect(log.logEndOffset == Int64(appended))
        #expect(try readAll(log).count == appended)
        try log.close(nowMs: 0)
    }

    /// After a crash (the log never closed) the reserved blocks are still there, past the end: recovery stops at the
    /// file's size, which is the last batch written, and appends go on from there.
    @Test func recoveryAfterACrashFindsTheRealEnd() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let crashed = try self.open(directory.path, clean: false)
        for round in 0..<3 {
            let batch = try makeBatch(count: 4, prefix: "a\(round)")
            _ = try crashed.append(RecordSet(buffer: batch), leaderEpoch: 0, nowMs: 0)
        }
        let (written, allocated) = self.sizeAndAllocated(self.logPath(directory, 0))
        if try self.fileSystemPreallocates(directory) { #expect(allocated >= Self.segmentBytes) }
        // No close: as after kill -9, the reservation stays.
        let log = try self.open(directory.path, clean: false)
        #expect(log.logEndOffset == 12)
        #expect(self.sizeAndAllocated(self.logPath(directory, 0)).size == written)
        _ = try log.append(RecordSet(buffer: try makeBatch(count: 2, prefix: "b")), leaderEpoch: 0, nowMs: 0)
        #expect(try readAll(log).map(\.value) == ["a0-0", "a0-1", "a0-2", "a0-3", "a1-0", "a1-1", "a1-2", "a1-3",
            "a2-0", "a2-1", "a2-2", "a2-3", "b-0", "b-1"])
        try log.close(nowMs: 0)
        _ = crashed  // kept open until here, like a process that died holding it
        let reopened = try self.open(directory.path, clean: true)
        #expect(reopened.logEndOffset == 14)
        #expect(try readAll(reopened).count == 14)
        try reopened.close(nowMs: 0)
    }
}
