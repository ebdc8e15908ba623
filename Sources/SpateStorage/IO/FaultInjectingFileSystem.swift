import NIOConcurrencyHelpers
import NIOCore

/// A ``StorageFileSystem`` that wraps another and fails chosen operations, for tests of error handling.
///
/// Arm one-shot faults with ``injectNext(_:matching:)``: each fires on the next operation of its kind (see ``Fault``)
/// whose path ends with the given suffix, and is then used up; armed faults fire in the order they were armed.
/// ``setDiskFull(_:)`` fails every write that would grow a file until it is turned off. ``counts`` counts the
/// operations made through the wrapper, failed ones included, for assertions (e.g. on group commit).
///
/// Files opened through the wrapper wrap the inner file system's files; their ``SegmentFile/fileDescriptor`` is the
/// inner one's.
public final class FaultInjectingFileSystem: StorageFileSystem {
    /// A fault to inject into one operation.
    public enum Fault: Sendable, Hashable {
        /// A write throws ``StorageError/Code/noSpace`` after writing nothing.
        case diskFull
        /// A write writes only its first `bytes` bytes (at most all of them), then throws ``StorageError/Code/io``.
        case shortWrite(bytes: Int)
        /// A file sync throws ``StorageError/Code/io`` (and syncs nothing).
        case syncFailure
        /// A read throws ``StorageError/Code/io``.
        case readFailure
        /// A truncation throws ``StorageError/Code/io`` (and truncates nothing).
        case truncateFailure
        /// An open throws ``StorageError/Code/io`` (and creates nothing); the path is the opened file's.
        case openFailure
        /// A rename throws ``StorageError/Code/io`` (and renames nothing); the path is the rename's source or target.
        case renameFailure
        /// A directory sync throws ``StorageError/Code/io``; the path is the directory's.
        case directorySyncFailure
    }

    /// Operation counts, failed operations included.
    public struct Counts: Sendable, Hashable {
        /// Files opened (or attempted).
        public var opens = 0
        /// Calls to ``SegmentFile/write(_:at:)``.
        public var writes = 0
        /// Bytes actually passed to the inner files' writes (short writes count their prefix).
        public var bytesWritten = 0
        /// Calls to ``SegmentFile/read(at:length:)``.
        public var reads = 0
        /// Calls to ``SegmentFile/sync()``.
        public var syncs = 0
        /// Calls to ``SegmentFile/truncate(to:)``.
        public var truncates = 0
        /// Calls to ``StorageFileSystem/rename(_:to:)``.
        public var renames = 0
        /// Calls to ``StorageFileSystem/syncDirectory(_:)``.
        public var directorySyncs = 0
        /// Faults that fired (one-shot or disk full).
        public var injectedFaults = 0

        /// All zero.
        public init() {}
    }

    private struct State {
        var armed: [(fault: Fault, pathSuffix: String?)] = []
        var diskFull = false
        var counts = Counts()
    }

    /// The wrapped file system.
    public let inner: any StorageFileSystem
    private let state = NIOLockedValueBox(State())

    /// Wraps `inner`; no fault is armed.
    public init(wrapping inner: any StorageFileSystem) {
        self.inner = inner
    }

    // MARK: Arming faults

    /// Arms `fault` for the next operation of its kind on a path ending with `pathSuffix` (any path if nil).
    public func injectNext(_ fault: Fault, matching pathSuffix: String? = nil) {
        self.state.withLockedValue { $0.armed.append((fault, pathSuffix)) }
    }

    /// Turns the persistent disk-full mode on or off: when on, every write that would grow a file throws
    /// ``StorageError/Code/noSpace`` after writing nothing.
    public func setDiskFull(_ full: Bool) {
        self.state.withLockedValue { $0.diskFull = full }
    }

    /// Disarms every armed fault.
    public func clearFaults() {
        self.state.withLockedValue { $0.armed.removeAll() }
    }

    /// How many armed faults have not fired yet.
    public var armedFaultCount: Int { self.state.withLockedValue { $0.armed.count } }

    /// The operation counts so far.
    public var counts: Counts { self.state.withLockedValue { $0.counts } }

    /// Resets the operation counts to zero.
    public func resetCounts() {
        self.state.withLockedValue { $0.counts = Counts() }
    }

    // MARK: StorageFileSystem

    public func open(_ path: String, create: Bool) throws(StorageError) -> any SegmentFile {
        let fault = self.take([path]) { counts in
            counts.opens += 1
        } matching: {
            $0 == .openFailure
        }
        if fault != nil { throw StorageError(.io, "open \(path): injected failure") }
        return FaultInjectingSegmentFile(inner: try self.inner.open(path, create: create), fileSystem: self)
    }

    public func fileExists(_ path: String) -> Bool {
        self.inner.fileExists(path)
    }

    public func contentsOfDirectory(_ path: String) throws(StorageError) -> [String] {
        try self.inner.contentsOfDirectory(path)
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        try self.inner.createDirectory(path)
    }

    public func remove(_ path: String) throws(StorageError) {
        try self.inner.remove(path)
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        let fault = self.take([from, to]) { counts in
            counts.renames += 1
        } matching: {
            $0 == .renameFailure
        }
        if fault != nil { throw StorageError(.io, "rename \(from) to \(to): injected failure") }
        try self.inner.rename(from, to: to)
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fault = self.take([path]) { counts in
            counts.directorySyncs += 1
        } matching: {
            $0 == .directorySyncFailure
        }
        if fault != nil { throw StorageError(.io, "fsync directory \(path): injected failure") }
        try self.inner.syncDirectory(path)
    }

    // MARK: Internals

    /// Counts an operation and takes the first armed fault that `matches` and whose suffix matches one of `paths`.
    func take(
        _ paths: [String],
        count: (inout Counts) -> Void,
        matching matches: (Fault) -> Bool
    ) -> Fault? {
        self.state.withLockedValue { state in
            count(&state.counts)
            let index = state.armed.firstIndex { armed in
                matches(armed.fault) && paths.contains { path in armed.pathSuffix.map(path.hasSuffix) ?? true }
            }
            guard let index else { return nil }
            state.counts.injectedFaults += 1
            return state.armed.remove(at: index).fault
        }
    }

    /// Whether the persistent disk-full mode is on; counts a fault if it is.
    func diskFullFires() -> Bool {
        self.state.withLockedValue { state in
            if state.diskFull { state.counts.injectedFaults += 1 }
            return state.diskFull
        }
    }

    func countBytesWritten(_ count: Int) {
        self.state.withLockedValue { $0.counts.bytesWritten += count }
    }
}

/// A file of a ``FaultInjectingFileSystem``.
private final class FaultInjectingSegmentFile: SegmentFile {
    let inner: any SegmentFile
    let fileSystem: FaultInjectingFileSystem

    init(inner: any SegmentFile, fileSystem: FaultInjectingFileSystem) {
        self.inner = inner
        self.fileSystem = fileSystem
    }

    var path: String { self.inner.path }
    var fileDescriptor: CInt? { self.inner.fileDescriptor }

    func size() throws(StorageError) -> Int64 {
        try self.inner.size()
    }

    func write(_ bytes: ByteBuffer, at offset: Int64) throws(StorageError) {
        let fault = self.fileSystem.take([self.path]) { counts in
            counts.writes += 1
        } matching: { fault in
            switch fault {
            case .diskFull, .shortWrite: true
            default: false
            }
        }
        switch fault {
        case .diskFull?:
            throw StorageError(.noSpace, "pwrite \(self.path): injected disk full")
        case .shortWrite(let count)?:
            let prefix = bytes.getSlice(at: bytes.readerIndex, length: max(0, min(count, bytes.readableBytes)))!
            try self.inner.write(prefix, at: offset)
            self.fileSystem.countBytesWritten(prefix.readableBytes)
            throw StorageError(
                .io,
                "pwrite \(self.path): injected short write (\(prefix.readableBytes) of \(bytes.readableBytes))"
            )
        default:
            break
        }
        if bytes.readableBytes > 0, offset + Int64(bytes.readableBytes) > (try self.inner.size()),
            self.fileSystem.diskFullFires()
        {
            throw StorageError(.noSpace, "pwrite \(self.path): disk full (injected)")
        }
        try self.inner.write(bytes, at: offset)
        self.fileSystem.countBytesWritten(bytes.readableBytes)
    }

    func read(at offset: Int64, length: Int) throws(StorageError) -> ByteBuffer {
        let fault = self.fileSystem.take([self.path]) { counts in
            counts.reads += 1
        } matching: {
            $0 == .readFailure
        }
        if fault != nil { throw StorageError(.io, "pread \(self.path): injected failure") }
        return try self.inner.read(at: offset, length: length)
    }

    func sync() throws(StorageError) {
        let fault = self.fileSystem.take([self.path]) { counts in
            counts.syncs += 1
        } matching: {
            $0 == .syncFailure
        }
        if fault != nil { throw StorageError(.io, "fsync \(self.path): injected failure") }
        try self.inner.sync()
    }

    func truncate(to size: Int64) throws(StorageError) {
        let fault = self.fileSystem.take([self.path]) { counts in
            counts.truncates += 1
        } matching: {
            $0 == .truncateFailure
        }
        if fault != nil { throw StorageError(.io, "ftruncate \(self.path): injected failure") }
        try self.inner.truncate(to: size)
    }

    func preallocate(upTo size: Int64) throws(StorageError) {
        try self.inner.preallocate(upTo: size)
    }

    func close() throws(StorageError) {
        try self.inner.close()
    }
}
