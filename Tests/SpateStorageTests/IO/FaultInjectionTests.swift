import NIOCore
import SpateStorage
import Testing

/// ``FaultInjectingFileSystem``.
@Suite struct FaultInjectionTests {
    private func makeFileSystem() throws -> (FaultInjectingFileSystem, InMemoryFileSystem) {
        let memory = InMemoryFileSystem()
        try memory.createDirectory("/d")
        return (FaultInjectingFileSystem(wrapping: memory), memory)
    }

    @Test func diskFullWritesNothing() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("abc", at: 0)
        fs.injectNext(.diskFull)
        expectStorageError(.noSpace) { try file.write("def", at: 3) }
        #expect(memory.bytes(of: "/d/f") == Array("abc".utf8))
        #expect(fs.armedFaultCount == 0)
        try file.write("def", at: 3)  // One-shot: the next write works.
        #expect(try file.readAll() == "abcdef")
        #expect(fs.counts.writes == 3)
        #expect(fs.counts.bytesWritten == 6)
        #expect(fs.counts.injectedFaults == 1)
    }

    @Test func faultsMatchThePathSuffix() throws {
        let (fs, _) = try self.makeFileSystem()
        let log = try fs.open("/d/0.log", create: true)
        let index = try fs.open("/d/0.index", create: true)
        fs.injectNext(.diskFull, matching: ".index")
        try log.write("log", at: 0)
        #expect(fs.armedFaultCount == 1)
        expectStorageError(.noSpace) { try index.write("index", at: 0) }
        try index.write("index", at: 0)
        #expect(fs.armedFaultCount == 0)
    }

    @Test func armedFaultsFireInOrder() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        fs.injectNext(.shortWrite(bytes: 2))
        fs.injectNext(.diskFull)
        fs.injectNext(.syncFailure)
        expectStorageError(.io) { try file.write("abcd", at: 0) }
        expectStorageError(.noSpace) { try file.write("abcd", at: 0) }
        try file.write("abcd", at: 0)
        expectStorageError(.io) { try file.sync() }
        try file.sync()
        #expect(memory.durableBytes(of: "/d/f") == Array("abcd".utf8))
        fs.injectNext(.readFailure)
        fs.clearFaults()
        #expect(try file.readAll() == "abcd")
    }

    @Test func shortWriteLeavesAPrefix() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("head|", at: 0)
        fs.injectNext(.shortWrite(bytes: 3))
        expectStorageError(.io) { try file.write("torn batch", at: 5) }
        #expect(memory.bytes(of: "/d/f") == Array("head|tor".utf8))
        #expect(fs.counts.bytesWritten == 8)
        // A short write longer than the write writes it all, and still fails.
        fs.injectNext(.shortWrite(bytes: 100))
        expectStorageError(.io) { try file.write("XY", at: 0) }
        #expect(try file.readAll() == "XYad|tor")
    }

    @Test func shortWriteOnRealFiles() throws {
        try withFileSystem(.posix) { posix, base in
            let fs = FaultInjectingFileSystem(wrapping: posix)
            let file = try fs.open(base + "/f", create: true)
            defer { try? file.close() }
            #expect(file.fileDescriptor != nil)
            fs.injectNext(.shortWrite(bytes: 4), matching: "/f")
            expectStorageError(.io) { try file.write("0123456789", at: 0) }
            #expect(try file.size() == 4)
            #expect(try posix.contents(of: base + "/f") == "0123")
        }
    }

    @Test func syncFailureSyncsNothing() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("data", at: 0)
        fs.injectNext(.syncFailure, matching: "f")
        expectStorageError(.io) { try file.sync() }
        #expect(memory.durableBytes(of: "/d/f") == [])
        #expect(memory.syncCount == 0)
        try file.sync()
        #expect(memory.durableBytes(of: "/d/f") == Array("data".utf8))
        #expect(fs.counts.syncs == 2)
        #expect(memory.syncCount == 1)
    }

    @Test func readFailure() throws {
        let (fs, _) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("data", at: 0)
        fs.injectNext(.readFailure)
        expectStorageError(.io) { _ = try file.read(at: 0, length: 4) }
        #expect(try file.readAll() == "data")
        #expect(fs.counts.reads == 2)
    }

    @Test func truncateOpenRenameAndDirectorySyncFailures() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("data", at: 0)
        fs.injectNext(.truncateFailure)
        expectStorageError(.io) { try file.truncate(to: 1) }
        #expect(try file.size() == 4)
        #expect(fs.counts.truncates == 1)

        fs.injectNext(.openFailure, matching: "/g")
        expectStorageError(.io) { _ = try fs.open("/d/g", create: true) }
        #expect(!fs.fileExists("/d/g"))
        _ = try fs.open("/d/g", create: true)
        #expect(fs.counts.opens == 3)

        // A failed rename or directory sync fails writeFileAtomically; the old contents stay.
        try fs.writeFileAtomically("/d/checkpoint", contents: ByteBuffer(string: "old"))
        fs.injectNext(.renameFailure, matching: "checkpoint")
        #expect(throws: StorageError.self) {
            try fs.writeFileAtomically("/d/checkpoint", contents: ByteBuffer(string: "new"))
        }
        #expect(try fs.contents(of: "/d/checkpoint") == "old")
        fs.injectNext(.directorySyncFailure, matching: "/d")
        #expect(throws: StorageError.self) {
            try fs.writeFileAtomically("/d/checkpoint", contents: ByteBuffer(string: "new"))
        }
        #expect(memory.directorySyncCount == 1)
        #expect(fs.counts.directorySyncs == 2)
        #expect(fs.counts.renames == 3)
        #expect(fs.armedFaultCount == 0)
    }

    @Test func persistentDiskFullFailsOnlyWritesThatGrowAFile() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("0123456789", at: 0)
        fs.setDiskFull(true)
        expectStorageError(.noSpace) { try file.write("x", at: 10) }
        expectStorageError(.noSpace) { try file.write("xyz", at: 8) }  // Straddles the end.
        expectStorageError(.noSpace) { try file.write("again", at: 10) }
        try file.write("AB", at: 2)  // In place: fine.
        try file.truncate(to: 5)  // Shrinking: fine.
        #expect(memory.bytes(of: "/d/f") == Array("01AB4".utf8))
        fs.setDiskFull(false)
        try file.write("567", at: 5)
        #expect(try file.readAll() == "01AB4567")
        #expect(fs.counts.injectedFaults == 3)
    }

    @Test func countsCanBeReset() throws {
        let (fs, _) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        for index in 0..<5 { try file.write("x", at: Int64(index)) }
        try file.sync()
        #expect(fs.counts.writes == 5)
        #expect(fs.counts.syncs == 1)
        fs.resetCounts()
        #expect(fs.counts == FaultInjectingFileSystem.Counts())
    }

    @Test func filesOfACrashedInnerFileSystemAreClosed() throws {
        let (fs, memory) = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        memory.crash(keepUnsynced: .all)
        expectStorageError(.closed) { try file.write("x", at: 0) }
    }
}
