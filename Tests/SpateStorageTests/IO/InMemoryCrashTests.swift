import NIOCore
import SpateStorage
import Testing

/// ``InMemoryFileSystem``'s crash model.
@Suite struct InMemoryCrashTests {
    /// A file system with a durable directory `/d` (entry synced in the root).
    private func makeFileSystem() throws -> InMemoryFileSystem {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        try fs.syncDirectory("/")
        return fs
    }

    /// `/d/f` with durable contents `synced` and entry, plus `unsynced` appended but not synced.
    private func makeFile(in fs: InMemoryFileSystem, synced: String, unsynced: String) throws {
        let file = try fs.open("/d/f", create: true)
        try file.write(synced, at: 0)
        try file.sync()
        try fs.syncDirectory("/d")
        try file.write(unsynced, at: Int64(synced.utf8.count))
        try file.close()
    }

    @Test func syncedDataAlwaysSurvivesAndUnsyncedAppendsSurviveAsAPrefix() throws {
        let synced = "synced-bytes|"
        let unsynced = "0123456789abcdefghij"
        var seenLengths = Set<Int>()
        for seed in 0..<200 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try self.makeFile(in: fs, synced: synced, unsynced: unsynced)
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            let survived = try #require(fs.bytes(of: "/d/f"))
            let full = Array((synced + unsynced).utf8)
            #expect(survived.count >= synced.utf8.count)
            #expect(Array(full.prefix(survived.count)) == survived)
            #expect(fs.durableBytes(of: "/d/f") == survived)  // What survived a crash is durable.
            seenLengths.insert(survived.count - synced.utf8.count)
        }
        // Nothing, everything and partial prefixes all happen.
        #expect(seenLengths.contains(0))
        #expect(seenLengths.contains(unsynced.utf8.count))
        #expect(seenLengths.count > 5)
    }

    @Test func deterministicCrashesKeepNothingOrEverything() throws {
        let none = try self.makeFileSystem()
        try self.makeFile(in: none, synced: "durable", unsynced: "+volatile")
        none.crash(keepUnsynced: .none)
        #expect(none.bytes(of: "/d/f") == Array("durable".utf8))

        let all = try self.makeFileSystem()
        try self.makeFile(in: all, synced: "durable", unsynced: "+volatile")
        all.crash(keepUnsynced: .all)
        #expect(all.bytes(of: "/d/f") == Array("durable+volatile".utf8))
    }

    @Test func openFilesAreInvalidAfterACrash() throws {
        let fs = try self.makeFileSystem()
        let file = try fs.open("/d/f", create: true)
        try file.write("x", at: 0)
        try file.sync()
        try fs.syncDirectory("/d")
        fs.crash(keepUnsynced: .all)
        expectStorageError(.closed) { _ = try file.size() }
        expectStorageError(.closed) { try file.write("y", at: 1) }
        expectStorageError(.closed) { _ = try file.read(at: 0, length: 1) }
        expectStorageError(.closed) { try file.sync() }
        expectStorageError(.closed) { try file.truncate(to: 0) }
        expectStorageError(.closed) { try file.close() }
        // Reopening works.
        let reopened = try fs.open("/d/f", create: false)
        #expect(try reopened.readAll() == "x")
        try reopened.close()
    }

    @Test func anUnsyncedFileCreationMayVanish() throws {
        var outcomes = Set<Bool>()
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try fs.makeFile("/d/new", "synced data, unsynced entry")
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            let exists = fs.fileExists("/d/new")
            outcomes.insert(exists)
            if exists { #expect(try fs.contents(of: "/d/new") == "synced data, unsynced entry") }
        }
        #expect(outcomes == [true, false])

        let none = try self.makeFileSystem()
        try none.makeFile("/d/new", "x")
        none.crash(keepUnsynced: .none)
        #expect(!none.fileExists("/d/new"))
        #expect(try none.contentsOfDirectory("/d") == [])
    }

    @Test func aSyncedDirectoryEntryNeverVanishes() throws {
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            let file = try fs.open("/d/f", create: true)
            try fs.syncDirectory("/d")
            try file.write("never synced", at: 0)
            try fs.makeFile("/d/other", "unsynced entry")  // Pending, may be lost: must not take /d/f with it.
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            #expect(fs.fileExists("/d/f"))
            let survived = try #require(fs.bytes(of: "/d/f"))
            #expect(Array("never synced".utf8.prefix(survived.count)) == survived)
        }
    }

    @Test func filesInADirectoryWhoseOwnEntryIsUnsyncedVanishWithIt() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/topic-0")
        try fs.makeFile("/topic-0/0.log", "data")
        try fs.syncDirectory("/topic-0")  // The file's entry is durable, the directory's is not.
        #expect(fs.pendingDirectoryOperationCount == 1)
        fs.crash(keepUnsynced: .none)
        #expect(!fs.fileExists("/topic-0"))

        let synced = InMemoryFileSystem()
        try synced.createDirectory("/topic-0")
        try synced.makeFile("/topic-0/0.log", "data")
        try synced.syncDirectory("/topic-0")
        try synced.syncDirectory("/")
        #expect(synced.pendingDirectoryOperationCount == 0)
        synced.crash(keepUnsynced: .none)
        #expect(try synced.contents(of: "/topic-0/0.log") == "data")
    }

    @Test func anUnsyncedRenameKeepsExactlyOneName() throws {
        var outcomes = Set<String>()
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try fs.makeFile("/d/a", "contents")
            try fs.makeFile("/d/b", "replaced")
            try fs.syncDirectory("/d")
            try fs.rename("/d/a", to: "/d/b")
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            let a = try fs.contents(of: "/d/a")
            let b = try fs.contents(of: "/d/b")
            // Either the rename happened (a gone, b replaced) or it did not (both as before).
            let renamed = a == nil && b == "contents"
            let notRenamed = a == "contents" && b == "replaced"
            #expect(renamed || notRenamed, "a: \(a ?? "nil"), b: \(b ?? "nil")")
            outcomes.insert(renamed ? "renamed" : "not renamed")
        }
        #expect(outcomes == ["renamed", "not renamed"])
    }

    @Test func aRenameAcrossDirectoriesIsAtomicAndDurableOnceEitherDirectoryIsSynced() throws {
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try fs.createDirectory("/e")
            try fs.syncDirectory("/")
            try fs.makeFile("/d/f", "moving")
            try fs.syncDirectory("/d")
            try fs.rename("/d/f", to: "/e/g")
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            #expect(fs.fileExists("/d/f") != fs.fileExists("/e/g"))
        }
        let fs = try self.makeFileSystem()
        try fs.createDirectory("/e")
        try fs.syncDirectory("/")
        try fs.makeFile("/d/f", "moving")
        try fs.syncDirectory("/d")
        try fs.rename("/d/f", to: "/e/g")
        try fs.syncDirectory("/e")
        fs.crash(keepUnsynced: .none)
        #expect(!fs.fileExists("/d/f"))
        #expect(try fs.contents(of: "/e/g") == "moving")
    }

    @Test func syncingADirectoryMakesEarlierOperationsOnTheSameEntriesDurable() throws {
        // The temporary file is created in /e (never synced) and renamed into /d: syncing /d makes its creation
        // durable too, and the rename leaves nothing behind in /e.
        let fs = try self.makeFileSystem()
        try fs.createDirectory("/e")
        try fs.syncDirectory("/")
        try fs.makeFile("/e/tmp", "data")
        try fs.rename("/e/tmp", to: "/d/final")
        try fs.syncDirectory("/d")
        #expect(fs.pendingDirectoryOperationCount == 0)
        fs.crash(keepUnsynced: .none)
        #expect(try fs.contents(of: "/d/final") == "data")
        #expect(try fs.contentsOfDirectory("/e") == [])
    }

    @Test func anUnsyncedRemovalMayBeLost() throws {
        var outcomes = Set<Bool>()
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try fs.createDirectory("/d/sub")
            try fs.makeFile("/d/sub/f", "data")
            try fs.syncDirectory("/d/sub")
            try fs.syncDirectory("/d")
            try fs.remove("/d/sub")
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            outcomes.insert(fs.fileExists("/d/sub"))
            if fs.fileExists("/d/sub/f") { #expect(try fs.contents(of: "/d/sub/f") == "data") }
        }
        #expect(outcomes == [true, false])

        let none = try self.makeFileSystem()
        try none.makeFile("/d/f", "data")
        try none.syncDirectory("/d")
        try none.remove("/d/f")
        none.crash(keepUnsynced: .none)
        #expect(try none.contents(of: "/d/f") == "data")

        let all = try self.makeFileSystem()
        try all.makeFile("/d/f", "data")
        try all.syncDirectory("/d")
        try all.remove("/d/f")
        all.crash(keepUnsynced: .all)
        #expect(!all.fileExists("/d/f"))
    }

    @Test func unsyncedOverwritesKeepAllOldOrAllNewBytes() throws {
        var outcomes = Set<String>()
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try self.makeFile(in: fs, synced: "aaaa", unsynced: "")
            let file = try fs.open("/d/f", create: false)
            try file.write("bb", at: 1)
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            let survived = try #require(try fs.contents(of: "/d/f"))
            #expect(survived == "aaaa" || survived == "abba")
            outcomes.insert(survived)
        }
        #expect(outcomes == ["aaaa", "abba"])
    }

    @Test func anUnsyncedTruncationIsKeptOrLost() throws {
        var outcomes = Set<String>()
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try self.makeFile(in: fs, synced: "0123456789", unsynced: "")
            let file = try fs.open("/d/f", create: false)
            try file.truncate(to: 4)
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            let survived = try #require(try fs.contents(of: "/d/f"))
            #expect(survived == "0123456789" || survived == "0123")
            outcomes.insert(survived)
        }
        #expect(outcomes == ["0123456789", "0123"])
    }

    @Test func writeFileAtomicallySurvivesAnyCrashWhole() throws {
        for seed in 0..<50 as Range<UInt64> {
            let fs = try self.makeFileSystem()
            try fs.writeFileAtomically("/d/checkpoint", contents: ByteBuffer(string: "version 1"))
            var generator = SeededRandomNumberGenerator(seed: seed)
            fs.crash(using: &generator)
            #expect(try fs.contents(of: "/d/checkpoint") == "version 1")
            #expect(try fs.contentsOfDirectory("/d") == ["checkpoint"])
        }
    }

    @Test func syncCountCountsFileSyncs() throws {
        let fs = try self.makeFileSystem()
        #expect(fs.syncCount == 0)
        let file = try fs.open("/d/f", create: true)
        try file.write("x", at: 0)
        try file.sync()
        try file.sync()
        try fs.syncDirectory("/d")
        #expect(fs.syncCount == 2)
        #expect(fs.directorySyncCount == 2)  // Including the one in `makeFileSystem`.
        try file.close()
    }

    @Test func setBytesCorruptsFilesDurably() throws {
        let fs = try self.makeFileSystem()
        try self.makeFile(in: fs, synced: "good data", unsynced: "")
        var bytes = try #require(fs.bytes(of: "/d/f"))
        bytes[0] ^= 0xFF
        fs.setBytes(bytes, of: "/d/f")
        fs.crash(keepUnsynced: .none)
        #expect(fs.bytes(of: "/d/f") == bytes)
        fs.setBytes([1, 2, 3], of: "/d/created")
        fs.crash(keepUnsynced: .none)
        #expect(fs.bytes(of: "/d/created") == [1, 2, 3])
        #expect(fs.bytes(of: "/d/missing") == nil)
        #expect(fs.bytes(of: "/d") == nil)
    }
}
