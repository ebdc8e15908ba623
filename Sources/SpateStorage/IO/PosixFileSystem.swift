#if canImport(Glibc)
import Glibc

private let systemRename = Glibc.rename
#elseif canImport(Darwin)
import Darwin

private let systemRename = Darwin.rename
#endif
import CSpateFileIO
import NIOCore
import NIOConcurrencyHelpers
import SystemPackage

/// Real files: `pread`/`pwrite`/`fsync` through SystemPackage. Blocking; run it on the storage thread pool.
public struct PosixFileSystem: StorageFileSystem {
    public init() {}

    public func open(_ path: String, create: Bool) throws(StorageError) -> any SegmentFile {
        do {
            let fd = try SystemPackage.FileDescriptor.open(
                FilePath(path), .readWrite, options: create ? [.create, .closeOnExec] : [.closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead], retryOnInterrupt: true)
            return PosixSegmentFile(path: path, descriptor: fd)
        } catch let errno as Errno {
            throw storageError(errno, "open \(path)")
        } catch {
            throw StorageError(.io, "open \(path): \(error)")
        }
    }

    public func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    public func contentsOfDirectory(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw storageError(Errno(rawValue: errno), "opendir \(path)") }
        defer { closedir(directory) }
        var names: [String] = []
        // The name is read where it lies. Copying the entry (`entry.pointee`) reads a whole `struct dirent`, but
        // glibc sizes the last entry of its buffer to its name (`d_reclen`), so the copy could read past the buffer's
        // end and fault when that is a page boundary (seen as a crash in the crash-test's verify).
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(directory) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o755) != 0 && errno != EEXIST {
                throw storageError(Errno(rawValue: errno), "mkdir \(built)")
            }
        }
    }

    public func remove(_ path: String) throws(StorageError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw storageError(Errno(rawValue: errno), "stat \(path)")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try self.contentsOfDirectory(path) {
                try self.remove(joinPath(path, name))
            }
            if rmdir(path) != 0 { throw storageError(Errno(rawValue: errno), "rmdir \(path)") }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw storageError(Errno(rawValue: errno), "unlink \(path)")
        }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        if systemRename(from, to) != 0 { throw storageError(Errno(rawValue: errno), "rename \(from) to \(to)") }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw storageError(Errno(rawValue: errno), "open directory \(path)") }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw storageError(Errno(rawValue: errno), "fsync directory \(path)") }
    }
}

func storageError(_ errno: Errno, _ what: String) -> StorageError {
    switch errno {
    case .noSpace: StorageError(.noSpace, "\(what): \(errno)", errno: errno.rawValue)
    case .noSuchFileOrDirectory: StorageError(.notFound, "\(what): \(errno)", errno: errno.rawValue)
    default: StorageError(.io, "\(what): \(errno)", errno: errno.rawValue)
    }
}

/// A file on disk.
final class PosixSegmentFile: SegmentFile {
    let path: String
    private let descriptor: NIOLockedValueBox<SystemPackage.FileDescriptor?>

    init(path: String, descriptor: SystemPackage.FileDescriptor) {
        self.path = path
        self.descriptor = NIOLockedValueBox(descriptor)
    }

    deinit {
        if let fd = self.descriptor.withLockedValue({ $0 }) { try? fd.close() }
    }

    private func fd() throws(StorageError) -> SystemPackage.FileDescriptor {
        guard let fd = self.descriptor.withLockedValue({ $0 }) else { throw StorageError(.closed, "\(self.path) is closed") }
        return fd
    }

    var fileDescriptor: CInt? { self.descriptor.withLockedValue { $0?.rawValue } }

    func size() throws(StorageError) -> Int64 {
        let fd = try self.fd()
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { throw storageError(Errno(rawValue: errno), "fstat \(self.path)") }
        return Int64(info.st_size)
    }

    func write(_ bytes: ByteBuffer, at offset: Int64) throws(StorageError) {
        let fd = try self.fd()
        do {
            try bytes.withUnsafeReadableBytes { pointer in
                var written = 0
                while written < pointer.count {
                    written += try fd.write(
                        toAbsoluteOffset: offset + Int64(written), UnsafeRawBufferPointer(rebasing: pointer[written...]),
                        retryOnInterrupt: true)
                }
            }
        } catch let errno as Errno {
            throw storageError(errno, "pwrite \(self.path)")
        } catch {
            throw StorageError(.io, "pwrite \(self.path): \(error)")
        }
    }

    func write(gathering parts: [ByteBuffer], at offset: Int64) throws(StorageError) {
        let fd = try self.fd()
        // One iovec per non-empty part, in stack memory for the usual few parts: no array is allocated per write.
        // The pointers are used after `withUnsafeReadableBytesWithStorageManagement` returns, as NIO's own vector
        // writes do; that is sound because `parts` holds every part's storage, unmodified, until this call returns.
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(parts.count, 1)) {
            vectors throws(StorageError) in
            var count = 0
            for part in parts where part.readableBytes > 0 {
                part.withUnsafeReadableBytesWithStorageManagement { pointer, _ in
                    vectors[count] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: pointer.baseAddress!), iov_len: pointer.count)
                }
                count += 1
            }
            try withExtendedLifetime(parts) { () throws(StorageError) in
                try Self.writeVectors(
                    UnsafeMutableBufferPointer(rebasing: vectors[..<count]), fd: fd.rawValue, offset: offset,
                    path: self.path)
            }
        }
    }

    /// The pwritev loop for ``write(gathering:at:)``: writes every vector, resuming after short writes (advancing
    /// through `vectors` in place) and at most `IOV_MAX` (1,024) vectors per call.
    private static func writeVectors(
        _ vectors: UnsafeMutableBufferPointer<iovec>, fd: CInt, offset: Int64, path: String
    ) throws(StorageError) {
        var first = 0
        var position = offset
        while first < vectors.count {
            let batch = min(vectors.count - first, 1024)
            let written = pwritev(fd, vectors.baseAddress! + first, CInt(batch), off_t(position))
            if written < 0 {
                if errno == EINTR { continue }
                throw storageError(Errno(rawValue: errno), "pwritev \(path)")
            }
            position += Int64(written)
            // Skip the vectors written in full, and start the next call inside a partly written one.
            var remaining = written
            while first < vectors.count && remaining >= vectors[first].iov_len {
                remaining -= vectors[first].iov_len
                first += 1
            }
            if remaining > 0 {
                vectors[first].iov_base += remaining
                vectors[first].iov_len -= remaining
            }
        }
    }

    func read(at offset: Int64, length: Int) throws(StorageError) -> ByteBuffer {
        let fd = try self.fd()
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        do {
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
                var total = 0
                while total < length {
                    let count = try fd.read(
                        fromAbsoluteOffset: offset + Int64(total),
                        into: UnsafeMutableRawBufferPointer(rebasing: pointer[total..<length]), retryOnInterrupt: true)
                    if count == 0 { break }
                    total += count
                }
                return total
            }
        } catch let errno as Errno {
            throw storageError(errno, "pread \(self.path)")
        } catch {
            throw StorageError(.io, "pread \(self.path): \(error)")
        }
        return buffer
    }

    func sync() throws(StorageError) {
        let fd = try self.fd()
        if fsync(fd.rawValue) != 0 { throw storageError(Errno(rawValue: errno), "fsync \(self.path)") }
    }

    func truncate(to size: Int64) throws(StorageError) {
        let fd = try self.fd()
        do {
            try fd.resize(to: size, retryOnInterrupt: true)
        } catch let errno as Errno {
            throw storageError(errno, "ftruncate \(self.path)")
        } catch {
            throw StorageError(.io, "ftruncate \(self.path): \(error)")
        }
    }

    func preallocate(upTo size: Int64) throws(StorageError) {
        let fd = try self.fd()
        let result = spate_preallocate_keep_size(fd.rawValue, 0, size)
        // A file system without fallocate (or another platform) just writes as before.
        guard result != 0, result != EOPNOTSUPP else { return }
        throw storageError(Errno(rawValue: result), "fallocate \(self.path)")
    }

    func close() throws(StorageError) {
        guard let fd = self.descriptor.withLockedValue({ value in defer { value = nil }; return value }) else { return }
        do { try fd.close() } catch { throw StorageError(.io, "close \(self.path): \(error)") }
    }
}
