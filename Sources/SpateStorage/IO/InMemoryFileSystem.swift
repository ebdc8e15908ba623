import NIOConcurrencyHelpers
import NIOCore

/// An in-memory ``StorageFileSystem`` for tests, with a crash model.
///
/// Paths are plain strings: components are split on `/`, empty and `.` components are ignored and `..` goes up one
/// level, so `a/b`, `/a/b` and `./a//b/` all name the same file. The root always exists; other directories must be
/// created (``createDirectory(_:)`` creates intermediate ones) before files can be created in them.
///
/// Files and directories are objects (inodes) that directory entries point to, as on a POSIX file system: an open
/// file keeps working after its entry is renamed or removed.
///
/// ## Crash model
///
/// Every file has its *current* bytes and its *durable* bytes, as of its last ``SegmentFile/sync()``. Every directory
/// entry change (a creation, a removal, a rename) is an atomic operation that stays pending until a
/// ``syncDirectory(_:)`` of a directory it touches makes it durable, together with every earlier pending operation on
/// the same entries. A rename touches both directories, and syncing either makes the whole rename durable (as a
/// journaling file system does). Creating a directory is a change in its parent: files in a directory whose own entry
/// was never synced vanish with it.
///
/// ``crash(using:)`` simulates a power loss:
/// - every open file becomes invalid: later calls, ``SegmentFile/close()`` included, throw
///   ``StorageError/Code/closed``;
/// - each pending directory operation is kept or lost at random, but never kept when an earlier pending operation on
///   one of its entries was lost. A rename therefore leaves the file under its old or its new name, never both and
///   never neither (unless the file's own unsynced creation was lost too);
/// - each file reachable from the root afterwards gets its durable bytes, plus a random-length prefix (from none to
///   all) of the bytes written past its durable length since its last sync. For the bytes within the durable
///   length that were overwritten since the last sync, the crash keeps, per file and at random, either all the old
///   (durable) bytes or all the new ones; an unsynced truncation below the durable length is kept or lost at random.
///
/// ``crash(keepUnsynced:)`` is the deterministic variant: `.none` keeps exactly the durable state (no pending directory
/// operation, every file's durable bytes), `.all` keeps exactly the current state.
///
/// Every method takes one lock, so the file system and its files may be used from any thread.
public final class InMemoryFileSystem: StorageFileSystem, @unchecked Sendable {
    /// What a deterministic crash keeps of the changes made since the last syncs.
    public enum KeepUnsynced: Sendable, Hashable {
        /// Nothing: every file gets its durable bytes and every directory its durable entries.
        case none
        /// Everything: the crash only invalidates the open files.
        case all
    }

    private let lock = NIOLock()
    // Everything below is guarded by `lock`.
    private let root = MemoryDirectory()
    private var pending: [DirectoryOperation] = []
    /// Bumped by every crash; files opened in an earlier generation are invalid.
    private(set) var generation = 0
    private var fileSyncs = 0
    private var directorySyncs = 0

    /// Creates an empty file system (only the root directory exists).
    public init() {}

    // MARK: StorageFileSystem

    public func open(_ path: String, create: Bool) throws(StorageError) -> any SegmentFile {
        try self.locked { () throws(StorageError) -> any SegmentFile in
            let (directory, name) = try self.parentAndName(path, operation: "open")
            switch directory.entries[name] {
            case .file(let file):
                return InMemorySegmentFile(path: path, file: file, fileSystem: self, generation: self.generation)
            case .directory:
                throw StorageError(.io, "open \(path): is a directory")
            case nil:
                guard create else { throw StorageError(.notFound, "open \(path): no such file") }
                let file = MemoryFile()
                self.change([Edit(directory: directory, name: name, after: .file(file))])
                return InMemorySegmentFile(path: path, file: file, fileSystem: self, generation: self.generation)
            }
        }
    }

    public func fileExists(_ path: String) -> Bool {
        self.lock.withLock { self.node(at: path) != nil }
    }

    public func contentsOfDirectory(_ path: String) throws(StorageError) -> [String] {
        try self.locked { () throws(StorageError) -> [String] in
            try self.directory(at: path, operation: "list").entries.keys.sorted()
        }
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        try self.locked { () throws(StorageError) in
            var directory = self.root
            for name in components(of: path) {
                switch directory.entries[name] {
                case .directory(let child):
                    directory = child
                case .file:
                    throw StorageError(.io, "mkdir \(path): \(name) is a file")
                case nil:
                    let child = MemoryDirectory()
                    self.change([Edit(directory: directory, name: name, after: .directory(child))])
                    directory = child
                }
            }
        }
    }

    public func remove(_ path: String) throws(StorageError) {
        try self.locked { () throws(StorageError) in
            let parts = components(of: path)
            guard let name = parts.last else { throw StorageError(.invalidArgument, "cannot remove the root") }
            guard case .directory(let directory)? = self.node(at: parts.dropLast()),
                directory.entries[name] != nil
            else { return }  // Like `PosixFileSystem`: removing what does not exist is not an error.
            self.removeEntry(name, in: directory)
        }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        try self.locked { () throws(StorageError) in
            let (fromDirectory, fromName) = try self.parentAndName(from, operation: "rename")
            guard let moved = fromDirectory.entries[fromName] else {
                throw StorageError(.notFound, "rename \(from): no such file or directory")
            }
            let toParts = components(of: to)
            guard let toName = toParts.last else { throw StorageError(.invalidArgument, "rename \(from) to the root") }
            // Walk to the target's parent, refusing to move a directory into itself.
            var toDirectory = self.root
            for name in toParts.dropLast() {
                guard let next = toDirectory.entries[name] else {
                    throw StorageError(.notFound, "rename \(from) to \(to): no such directory")
                }
                guard case .directory(let child) = next else {
                    throw StorageError(.io, "rename \(from) to \(to): \(name) is a file")
                }
                if case .directory(let movedDirectory) = moved, movedDirectory === child {
                    throw StorageError(.invalidArgument, "rename \(from) into itself (\(to))")
                }
                toDirectory = child
            }
            if fromDirectory === toDirectory && fromName == toName { return }
            switch (moved, toDirectory.entries[toName]) {
            case (_, nil), (.file, .file?):
                break
            case (.directory(let movedDirectory), .directory(let replaced)?):
                if movedDirectory === replaced { throw StorageError(.invalidArgument, "rename \(from) into itself") }
                guard replaced.entries.isEmpty else {
                    throw StorageError(.io, "rename \(from) to \(to): directory not empty")
                }
            case (.file, .directory?):
                throw StorageError(.io, "rename \(from) to \(to): is a directory")
            case (.directory, .file?):
                throw StorageError(.io, "rename \(from) to \(to): not a directory")
            }
            self.change([
                Edit(directory: fromDirectory, name: fromName, after: nil),
                Edit(directory: toDirectory, name: toName, after: moved),
            ])
        }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        try self.locked { () throws(StorageError) in
            let directory = try self.directory(at: path, operation: "fsync directory")
            self.directorySyncs += 1
            // The operations touching this directory, and (transitively) every earlier one on the same entries.
            var keys = Set<EntryKey>()
            var selected = [Bool](repeating: false, count: self.pending.count)
            for index in self.pending.indices.reversed() {
                let operation = self.pending[index]
                if operation.edits.contains(where: { $0.directory === directory })
                    || operation.keys.contains(where: keys.contains)
                {
                    selected[index] = true
                    keys.formUnion(operation.keys)
                }
            }
            var remaining: [DirectoryOperation] = []
            for (index, operation) in self.pending.enumerated() {
                if selected[index] { operation.makeDurable() } else { remaining.append(operation) }
            }
            self.pending = remaining
        }
    }

    // MARK: Crashes

    /// Simulates a power loss, keeping a random part of what was not synced (see the type's documentation).
    public func crash(using generator: inout some RandomNumberGenerator) {
        self.lock.withLock { self.performCrash(.random, using: &generator) }
    }

    /// Simulates a power loss that keeps none or all of what was not synced.
    public func crash(keepUnsynced: KeepUnsynced) {
        var unused = SystemRandomNumberGenerator()
        self.lock.withLock {
            self.performCrash(keepUnsynced == .none ? .none : .all, using: &unused)
        }
    }

    private enum CrashMode { case none, all, random }

    private func performCrash(_ mode: CrashMode, using generator: inout some RandomNumberGenerator) {
        self.generation += 1
        // Directory operations: keep a random subset that is closed under "an earlier operation on the same entry".
        var lostKeys = Set<EntryKey>()
        for operation in self.pending {
            let keep: Bool
            if operation.keys.contains(where: lostKeys.contains) {
                keep = false
            } else {
                switch mode {
                case .none: keep = false
                case .all: keep = true
                case .random: keep = Bool.random(using: &generator)
                }
            }
            if keep { operation.makeDurable() } else { lostKeys.formUnion(operation.keys) }
        }
        self.pending = []
        // Rebuild the tree from the durable entries, and give every reachable file its post-crash bytes.
        var visited = Set<ObjectIdentifier>()
        var stack = [self.root]
        while let directory = stack.popLast() {
            guard visited.insert(ObjectIdentifier(directory)).inserted else { continue }
            directory.entries = directory.durableEntries
            for node in directory.entries.values {
                switch node {
                case .directory(let child):
                    stack.append(child)
                case .file(let file):
                    guard visited.insert(ObjectIdentifier(file)).inserted else { continue }
                    let survived: [UInt8]
                    switch mode {
                    case .none: survived = file.durable
                    case .all: survived = file.current
                    case .random: survived = Self.survivingBytes(of: file, using: &generator)
                    }
                    file.current = survived
                    file.durable = survived
                }
            }
        }
    }

    /// A file's bytes after a random crash: see the type's documentation.
    private static func survivingBytes(
        of file: MemoryFile,
        using generator: inout some RandomNumberGenerator
    )
        -> [UInt8]
    {
        let durable = file.durable
        let current = file.current
        if durable == current { return durable }
        let common = min(durable.count, current.count)
        var result = Bool.random(using: &generator) ? Array(durable[..<common]) : Array(current[..<common])
        if current.count > durable.count {
            let appended = Int.random(in: 0...(current.count - durable.count), using: &generator)
            result += current[durable.count..<(durable.count + appended)]
        } else if durable.count > current.count && Bool.random(using: &generator) {
            result += durable[current.count...]  // The truncation is lost.
        }
        return result
    }

    // MARK: Test helpers

    /// A file's current bytes, or nil if it does not exist (or is a directory).
    public func bytes(of path: String) -> [UInt8]? {
        self.lock.withLock {
            guard case .file(let file)? = self.node(at: path) else { return nil }
            return file.current
        }
    }

    /// A file's durable bytes (as of its last sync), or nil if it does not exist (or is a directory).
    public func durableBytes(of path: String) -> [UInt8]? {
        self.lock.withLock {
            guard case .file(let file)? = self.node(at: path) else { return nil }
            return file.durable
        }
    }

    /// Replaces a file's bytes, durably (as if written and synced, by something else): for corrupting files.
    ///
    /// A missing file is created, with a durable entry; its directory must exist.
    public func setBytes(_ bytes: [UInt8], of path: String) {
        self.lock.withLock {
            let parts = components(of: path)
            guard let name = parts.last, case .directory(let directory)? = self.node(at: parts.dropLast()) else {
                preconditionFailure("setBytes(of: \(path)): no such directory")
            }
            let file: MemoryFile
            switch directory.entries[name] {
            case .file(let existing)?:
                file = existing
            case .directory?:
                preconditionFailure("setBytes(of: \(path)): is a directory")
            case nil:
                file = MemoryFile()
                directory.entries[name] = .file(file)
                directory.durableEntries[name] = .file(file)
            }
            file.current = bytes
            file.durable = bytes
        }
    }

    /// How many times files were synced (``SegmentFile/sync()`` calls on open files).
    public var syncCount: Int { self.lock.withLock { self.fileSyncs } }

    /// How many times directories were synced (``syncDirectory(_:)`` calls that succeeded).
    public var directorySyncCount: Int { self.lock.withLock { self.directorySyncs } }

    /// How many directory operations (creations, removals, renames) are not durable yet.
    public var pendingDirectoryOperationCount: Int { self.lock.withLock { self.pending.count } }

    // MARK: Internals

    /// Runs `body` under the lock, with a typed error.
    func locked<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        self.lock.lock()
        defer { self.lock.unlock() }
        return try body()
    }

    /// Counts a file sync; called under the lock.
    func countFileSync() { self.fileSyncs += 1 }

    private func node(at path: String) -> MemoryNode? {
        self.node(at: components(of: path)[...])
    }

    private func node(at parts: ArraySlice<String>) -> MemoryNode? {
        var node = MemoryNode.directory(self.root)
        for name in parts {
            guard case .directory(let directory) = node, let next = directory.entries[name] else { return nil }
            node = next
        }
        return node
    }

    private func directory(at path: String, operation: String) throws(StorageError) -> MemoryDirectory {
        switch self.node(at: path) {
        case .directory(let directory)?: return directory
        case .file?: throw StorageError(.io, "\(operation) \(path): not a directory")
        case nil: throw StorageError(.notFound, "\(operation) \(path): no such directory")
        }
    }

    private func parentAndName(_ path: String, operation: String) throws(StorageError) -> (MemoryDirectory, String) {
        let parts = components(of: path)
        guard let name = parts.last else { throw StorageError(.io, "\(operation) \(path): is a directory") }
        switch self.node(at: parts.dropLast()) {
        case .directory(let directory)?: return (directory, name)
        case .file?: throw StorageError(.io, "\(operation) \(path): not a directory")
        case nil: throw StorageError(.notFound, "\(operation) \(path): no such directory")
        }
    }

    /// Applies an atomic directory operation to the current tree and records it as pending.
    private func change(_ edits: [Edit]) {
        for edit in edits { edit.directory.entries[edit.name] = edit.after }
        self.pending.append(DirectoryOperation(edits: edits))
    }

    /// Removes an entry, and first everything in it if it is a directory, one operation per entry.
    private func removeEntry(_ name: String, in directory: MemoryDirectory) {
        if case .directory(let child)? = directory.entries[name] {
            for childName in child.entries.keys.sorted() { self.removeEntry(childName, in: child) }
        }
        self.change([Edit(directory: directory, name: name, after: nil)])
    }
}

/// The components of a path: no empty or `.` components, `..` resolved (it stops at the root).
private func components(of path: String) -> [String] {
    var parts: [String] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        switch part {
        case ".": continue
        case "..": _ = parts.popLast()
        default: parts.append(String(part))
        }
    }
    return parts
}

/// A file's bytes (an inode).
private final class MemoryFile {
    var current: [UInt8] = []
    var durable: [UInt8] = []
}

/// A directory's entries (an inode).
private final class MemoryDirectory {
    var entries: [String: MemoryNode] = [:]
    var durableEntries: [String: MemoryNode] = [:]
}

private enum MemoryNode {
    case file(MemoryFile)
    case directory(MemoryDirectory)
}

/// One entry of one directory.
private struct EntryKey: Hashable {
    let directory: ObjectIdentifier
    let name: String
}

/// One entry's change: it points to `after` (nil: removed).
private struct Edit {
    let directory: MemoryDirectory
    let name: String
    let after: MemoryNode?
}

/// An atomic directory operation (a creation, a removal or a rename) that is not durable yet.
private struct DirectoryOperation {
    let edits: [Edit]

    var keys: [EntryKey] { self.edits.map { EntryKey(directory: ObjectIdentifier($0.directory), name: $0.name) } }

    func makeDurable() {
        for edit in self.edits { edit.directory.durableEntries[edit.name] = edit.after }
    }
}

/// An open ``InMemoryFileSystem`` file.
private final class InMemorySegmentFile: SegmentFile, @unchecked Sendable {
    let path: String
    private let file: MemoryFile
    private let fileSystem: InMemoryFileSystem
    private let generation: Int
    /// Guarded by the file system's lock.
    private var isClosed = false

    init(path: String, file: MemoryFile, fileSystem: InMemoryFileSystem, generation: Int) {
        self.path = path
        self.file = file
        self.fileSystem = fileSystem
        self.generation = generation
    }

    var fileDescriptor: CInt? { nil }

    /// Runs `body` under the file system's lock if the file is still open.
    private func withFile<T>(_ body: (MemoryFile) throws(StorageError) -> T) throws(StorageError) -> T {
        try self.fileSystem.locked { () throws(StorageError) -> T in
            guard !self.isClosed else { throw StorageError(.closed, "\(self.path) is closed") }
            guard self.generation == self.fileSystem.generation else {
                throw StorageError(.closed, "\(self.path) was open during a crash")
            }
            return try body(self.file)
        }
    }

    func size() throws(StorageError) -> Int64 {
        try self.withFile { file in Int64(file.current.count) }
    }

    func write(_ bytes: ByteBuffer, at offset: Int64) throws(StorageError) {
        guard offset >= 0 else { throw StorageError(.invalidArgument, "pwrite \(self.path) at \(offset)") }
        try self.withFile { file in
            let start = Int(offset)
            let end = start + bytes.readableBytes
            if file.current.count < end {
                file.current.append(contentsOf: repeatElement(0, count: end - file.current.count))
            }
            file.current.replaceSubrange(start..<end, with: bytes.readableBytesView)
        }
    }

    func read(at offset: Int64, length: Int) throws(StorageError) -> ByteBuffer {
        guard offset >= 0, length >= 0 else {
            throw StorageError(.invalidArgument, "pread \(self.path): \(length) bytes at \(offset)")
        }
        return try self.withFile { file in
            let start = min(Int(offset), file.current.count)
            let end = min(file.current.count, start + length)
            return ByteBuffer(bytes: file.current[start..<end])
        }
    }

    func sync() throws(StorageError) {
        try self.withFile { file in
            file.durable = file.current
            self.fileSystem.countFileSync()
        }
    }

    func truncate(to size: Int64) throws(StorageError) {
        guard size >= 0 else { throw StorageError(.invalidArgument, "ftruncate \(self.path) to \(size)") }
        try self.withFile { file in
            let size = Int(size)
            if size < file.current.count {
                file.current.removeLast(file.current.count - size)
            } else {
                file.current.append(contentsOf: repeatElement(0, count: size - file.current.count))
            }
        }
    }

    func close() throws(StorageError) {
        try self.fileSystem.locked { () throws(StorageError) in
            guard !self.isClosed else { return }
            self.isClosed = true
            guard self.generation == self.fileSystem.generation else {
                throw StorageError(.closed, "\(self.path) was open during a crash")
            }
        }
    }
}
