#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import SpateWire

/// A response frame to send: one buffer, or (Fetch on plaintext connections) buffers and ranges of segment files that
/// go out with `sendfile` (a NIO `FileRegion`). The first part starts with the frame's size prefix, which counts the
/// file bytes.
enum ResponseFrame: Sendable {
    case buffer(ByteBuffer)
    case parts([ResponsePart])

    /// The whole frame in one buffer (reads the file ranges): for TLS connections and tests.
    func materialized() throws -> ByteBuffer {
        switch self {
        case .buffer(let buffer):
            return buffer
        case .parts(let parts):
            var frame = ByteBuffer()
            for part in parts {
                switch part {
                case .bytes(var bytes): frame.writeBuffer(&bytes)
                case .file(let range):
                    var bytes = try range.readBytes()
                    frame.writeBuffer(&bytes)
                }
            }
            return frame
        }
    }
}

enum ResponsePart: Sendable {
    case bytes(ByteBuffer)
    case file(FileRange)
}

/// A byte range of a segment file, held through its own duplicate of the file's descriptor: the range stays readable
/// even if the segment is closed and deleted meanwhile (the descriptor keeps the inode alive). The descriptor is
/// closed when the range is released, or handed to a `NIOFileHandle` for one send.
final class FileRange: Sendable {
    let position: Int64
    let length: Int
    private let descriptor: NIOLockedValueBox<CInt?>

    /// Duplicates `descriptor` (which the caller keeps).
    init(duplicating descriptor: CInt, position: Int64, length: Int) throws {
        let duplicate = dup(descriptor)
        guard duplicate >= 0 else { throw IOError(errnoCode: errno, reason: "dup") }
        self.descriptor = NIOLockedValueBox(duplicate)
        self.position = position
        self.length = length
    }

    deinit {
        if let descriptor = self.descriptor.withLockedValue({ $0 }) { _ = close(descriptor) }
    }

    /// Reads the range with `pread`.
    func readBytes() throws -> ByteBuffer {
        try self.descriptor.withLockedValue { descriptor -> ByteBuffer in
            guard let descriptor else { throw IOError(errnoCode: EBADF, reason: "the file range was already sent") }
            var buffer = ByteBufferAllocator().buffer(capacity: self.length)
            var done = 0
            while done < self.length {
                let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: self.length - done) { pointer in
                    let result = pread(
                        descriptor, pointer.baseAddress, self.length - done, off_t(self.position) + off_t(done))
                    if result < 0 {
                        if errno == EINTR { return 0 }
                        throw IOError(errnoCode: errno, reason: "pread")
                    }
                    if result == 0 { throw IOError(errnoCode: EIO, reason: "the file ended inside a fetch range") }
                    return result
                }
                done += count
            }
            return buffer
        }
    }

    /// Hands the descriptor over to a `NIOFileHandle` for a `FileRegion` (once); the caller must close the handle when
    /// the write has completed.
    func takeFileRegion() -> (handle: NIOFileHandle, region: FileRegion)? {
        guard let descriptor = self.descriptor.withLockedValue({ value -> CInt? in
            defer { value = nil }
            return value
        }) else { return nil }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        let start = Int(self.position)
        return (handle, FileRegion(fileHandle: handle, readerIndex: start, endIndex: start + self.length))
    }
}

extension FetchResponse {
    /// Encodes a response frame whose records fields for `files` (by topic and partition, in the response's order)
    /// are ranges of segment files: the frame is cut around each of those fields, whose length prefix is written here
    /// and whose bytes are sent from the file (``RecordsFieldCutter``: the response is encoded twice, with those
    /// fields empty and null).
    func encodeFrame(
        files: [[FileRange?]], version: Int16, correlationID: Int32
    ) throws -> ResponseFrame {
        var empty = self
        var null = self
        var ranges: [FileRange] = []
        for (topicIndex, topicFiles) in files.enumerated() {
            for (partitionIndex, file) in topicFiles.enumerated() {
                guard let file else { continue }
                empty.responses[topicIndex].partitions[partitionIndex].records = RecordSet(buffer: ByteBuffer())
                null.responses[topicIndex].partitions[partitionIndex].records = nil
                ranges.append(file)
            }
        }
        var emptyFrame = ByteBuffer()
        try empty.encodeFrame(into: &emptyFrame, version: version, correlationID: correlationID)
        guard !ranges.isEmpty else { return .buffer(emptyFrame) }
        var nullFrame = ByteBuffer()
        try null.encodeFrame(into: &nullFrame, version: version, correlationID: correlationID)
        guard
            let chunks = RecordsFieldCutter.cut(
                emptyFrame: emptyFrame, nullFrame: nullFrame, lengths: ranges.map(\.length), compact: version >= 12)
        else {
            throw ConnectionError(
                description: "could not cut a Fetch v\(version) response around its records (or it exceeds 2 GiB)")
        }
        var parts: [ResponsePart] = []
        parts.reserveCapacity(chunks.count + ranges.count)
        for (chunk, range) in zip(chunks, ranges) {
            parts.append(.bytes(chunk))
            parts.append(.file(range))
        }
        parts.append(.bytes(chunks.last!))
        return .parts(parts)
    }
}
