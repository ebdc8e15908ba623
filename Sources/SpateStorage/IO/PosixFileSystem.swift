#if canImport(Glibc)
import Glibc

private let systemRename = Glibc.rename
#elseif canImport(Darwin)
import Darwin

private let systemRename = Darwin.rename
#endif
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
        // Collect the parts' memory (without copying) and write it with pwritev, resuming after short writes.
        var pointers: [UnsafeRawBufferPointer] = []
        pointers.reserveCapacity(parts.count)
        func withAll(_ index: Int, _ body: () throws -> Void) throws {
            if index == parts.count { return try body() }
            try parts[index].withUnsafeReadableBytes { pointer in
                pointers.append(pointer)
                try withAll(index + 1, body)
            }
        }
        do {
            // The closure runs innermost, once every part's memory is pinned and in `pointers`.
            try withAll(0) { try Self.writeVectors(pointers, fd: fd, offset: offset, path: self.path) }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.io, "pwritev \(self.path): \(error)")
        }
    }

    /// The pwritev loop for ``write(gathering:at:)``, over parts whose memory the caller keeps pinned.
    private static func writeVectors(
        _ pointers: [UnsafeRawBufferPointer], fd: SystemPackage.FileDescriptor, offset: Int64, path: String
    ) throws(StorageError) {
        var written = 0
        let total = pointers.reduce(0) { $0 + $1.count }
        var first = 0
        var skip = 0
        while written < total {
            var vectors: [iovec] = []
            var index = first
            while index < pointers.count && vectors.count < 512 {
                let part = pointers[index]
                let start = index == first ? skip : 0
                if part.count > start {
                    vectors.append(
                        iovec(
                            iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress! + start),
                            iov_len: part.count - start))
                }
                index += 1
            }
            let count = vectors.withUnsafeBufferPointer { iov in
                pwritev(fd.rawValue, iov.baseAddress, Int32(iov.count), off_t(offset + Int64(written)))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw storageError(Errno(rawValue: errno), "pwritev \(path)")
            }
            written += count
            // Advance (first, skip) past the bytes just written.
            var remaining = count
            while remaining > 0 {
                let available = pointers[first].count - skip
                if remaining >= available {
                    remaining -= available
                    first += 1
                    skip = 0
                } else {
                    skip += remaining
                    remaining = 0
                }
            }
            while first < pointers.count && pointers[first].count == skip {
                first += 1
                skip = 0
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

    func close() throws(StorageError) {
        guard let fd = self.descriptor.withLockedValue({ value in defer { value = nil }; return value }) else { return }
        do { try fd.close() } catch { throw StorageError(.io, "close \(self.path): \(error)") }
    }
}
