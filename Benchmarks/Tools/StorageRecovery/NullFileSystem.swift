import NIOCore
import SpateStorage
import Synchronization

/// Files that discard what is written but keep their size, and a directory tree that holds nothing: for timing
/// Spate's own work per append without the kernel's page-cache work (STORAGE_RECOVERY_ONLY=append-null). Reads
/// return nothing. Writes go to `/dev/null` through ``PosixFileSystem``'s files, so that the gather write and its
/// system call are part of what is timed.
struct NullFileSystem: StorageFileSystem {
    func open(_ path: String, create: Bool) throws(StorageError) -> any SegmentFile {
        NullSegmentFile(path: path, devNull: try PosixFileSystem().open("/dev/null", create: false))
    }
    func fileExists(_ path: String) -> Bool { false }
    func contentsOfDirectory(_ path: String) throws(StorageError) -> [String] { [] }
    func createDirectory(_ path: String) throws(StorageError) {}
    func remove(_ path: String) throws(StorageError) {}
    func rename(_ from: String, to: String) throws(StorageError) {}
    func syncDirectory(_ path: String) throws(StorageError) {}
}

final class NullSegmentFile: SegmentFile {
    let path: String
    private let sizeBox = Mutex<Int64>(0)
    private let devNull: any SegmentFile

    init(path: String, devNull: any SegmentFile) {
        self.path = path
        self.devNull = devNull
    }

    func size() throws(StorageError) -> Int64 { self.sizeBox.withLock { $0 } }
    func write(_ bytes: ByteBuffer, at offset: Int64) throws(StorageError) {
        try self.devNull.write(bytes, at: offset)
        self.sizeBox.withLock { $0 = max($0, offset + Int64(bytes.readableBytes)) }
    }
    func write(gathering parts: [ByteBuffer], at offset: Int64) throws(StorageError) {
        try self.devNull.write(gathering: parts, at: offset)
        var end = offset
        for part in parts { end += Int64(part.readableBytes) }
        self.sizeBox.withLock { $0 = max($0, end) }
    }
    func read(at offset: Int64, length: Int) throws(StorageError) -> ByteBuffer { ByteBuffer() }
    func sync() throws(StorageError) {}
    func truncate(to size: Int64) throws(StorageError) { self.sizeBox.withLock { $0 = size } }
    func close() throws(StorageError) { try self.devNull.close() }
    var fileDescriptor: CInt? { nil }
}
