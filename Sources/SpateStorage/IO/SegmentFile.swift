public import NIOCore

/// One file of a segment (its log, offset index or time index), or a small metadata file.
///
/// Every method is synchronous and may block: call them only from the storage thread pool (``StorageIO``), never from
/// an event loop or the cooperative pool. Implementations: ``PosixFileSystem``'s files for real disks,
/// ``InMemoryFileSystem``'s for tests (with a crash model), and ``FaultInjectingFileSystem``'s wrappers.
public protocol SegmentFile: AnyObject, Sendable {
    /// The file's path.
    var path: String { get }
    /// The file's current size in bytes.
    func size() throws(StorageError) -> Int64
    /// Writes all of `bytes` at `offset`. A failure may leave a prefix written.
    func write(_ bytes: ByteBuffer, at offset: Int64) throws(StorageError)
    /// Writes `parts` one after another from `offset` (a gather write, so pieces need not be copied together).
    /// A failure may leave a prefix written.
    func write(gathering parts: [ByteBuffer], at offset: Int64) throws(StorageError)
    /// Reads up to `length` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: Int64, length: Int) throws(StorageError) -> ByteBuffer
    /// Makes everything written so far durable (fsync).
    func sync() throws(StorageError)
    /// Cuts the file to `size` bytes. On a file with blocks preallocated past its end, cutting it to its own size
    /// releases them.
    func truncate(to size: Int64) throws(StorageError)
    /// Reserves disk blocks up to `size` bytes without changing the file's size (``size()`` and reads still end at
    /// the bytes written), so that writes up to there need not allocate (`file.preallocate`). Files that cannot
    /// preallocate do nothing.
    /// - Throws: ``StorageError`` (`.noSpace` when the disk cannot hold the reservation).
    func preallocate(upTo size: Int64) throws(StorageError)
    /// Closes the file; later calls fail with ``StorageError/Code/closed``.
    func close() throws(StorageError)
    /// The file's descriptor, for zero-copy sends (`sendfile`), if the file is a real one.
    var fileDescriptor: CInt? { get }
}

extension SegmentFile {
    /// Does nothing: only ``PosixFileSystem``'s files preallocate.
    public func preallocate(upTo size: Int64) throws(StorageError) {}

    /// Writes the parts one by one; ``PosixFileSystem``'s files use one `pwritev` instead.
    public func write(gathering parts: [ByteBuffer], at offset: Int64) throws(StorageError) {
        var position = offset
        for part in parts {
            try self.write(part, at: position)
            position += Int64(part.readableBytes)
        }
    }
}

/// The directory operations storage needs, so that tests can swap the disk for memory or inject faults.
public protocol StorageFileSystem: Sendable {
    /// Opens a file for reading and writing, creating it if `create` is set.
    func open(_ path: String, create: Bool) throws(StorageError) -> any SegmentFile
    func fileExists(_ path: String) -> Bool
    /// The names (not paths) in a directory.
    func contentsOfDirectory(_ path: String) throws(StorageError) -> [String]
    func createDirectory(_ path: String) throws(StorageError)
    /// Removes a file, or a directory and everything in it.
    func remove(_ path: String) throws(StorageError)
    /// Renames atomically, replacing `to` if it exists.
    func rename(_ from: String, to: String) throws(StorageError)
    /// Makes the directory's entries (creations, renames, removals) durable.
    func syncDirectory(_ path: String) throws(StorageError)
}

extension StorageFileSystem {
    /// Reads a whole small file, or nil if it does not exist.
    public func readWholeFile(_ path: String) throws(StorageError) -> ByteBuffer? {
        guard self.fileExists(path) else { return nil }
        let file = try self.open(path, create: false)
        defer { try? file.close() }
        return try file.read(at: 0, length: Int(try file.size()))
    }

    /// Replaces a small file atomically and durably: write a temporary file, fsync it, rename it over the old one,
    /// fsync the directory.
    public func writeFileAtomically(_ path: String, contents: ByteBuffer) throws(StorageError) {
        let temporary = path + ".tmp"
        let file = try self.open(temporary, create: true)
        do {
            try file.truncate(to: 0)
            try file.write(contents, at: 0)
            try file.sync()
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        try self.rename(temporary, to: path)
        try self.syncDirectory(parentDirectory(of: path))
    }
}

extension StorageFileSystem {
    /// Creates `path` and any missing parents, fsyncing each new directory's parent so that the whole chain survives
    /// a power loss (a directory entry is durable only once its parent directory is synced).
    public func createDirectoryDurably(_ path: String) throws(StorageError) {
        guard !self.fileExists(path) else { return }
        let parent = parentDirectory(of: path)
        if parent != path && parent != "." && parent != "/" { try self.createDirectoryDurably(parent) }
        try self.createDirectory(path)
        try self.syncDirectory(parent)
    }
}

/// The directory part of a path (`a/b/c` → `a/b`; `c` → `.`).
func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// `directory/name`.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
