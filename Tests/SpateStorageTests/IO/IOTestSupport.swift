import NIOCore
import SpateStorage
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deterministic random number generator (SplitMix64), for reproducible random crashes.
struct SeededRandomNumberGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The file systems the conformance tests run against.
enum FileSystemKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case posix, memory
    var testDescription: String { self.rawValue }
}

/// Runs `body` with a file system of `kind` and an empty directory in it: a fresh temporary directory under `/tmp`
/// (removed afterwards) for POSIX, `/data` for memory.
func withFileSystem(
    _ kind: FileSystemKind,
    _ body: (any StorageFileSystem, String) throws -> Void
) throws {
    switch kind {
    case .posix:
        let directory = try makeTemporaryDirectory()
        defer { try? PosixFileSystem().remove(directory) }
        try body(PosixFileSystem(), directory)
    case .memory:
        let fileSystem = InMemoryFileSystem()
        try fileSystem.createDirectory("/data")
        try body(fileSystem, "/data")
    }
}

/// Creates a directory with a random name under `/tmp` (`mkdtemp`).
func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/spate-io-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let result = mkdtemp(buffer.baseAddress!) else { return nil }
        return String(cString: result)
    }
    guard let path else { throw StorageError(.io, "mkdtemp failed: errno \(errno)") }
    return path
}

/// Expects `body` to throw a ``StorageError`` with `code`.
func expectStorageError(
    _ code: StorageError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a \(code) error, got none", sourceLocation: sourceLocation)
    } catch let error as StorageError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a \(code) StorageError, got \(error)", sourceLocation: sourceLocation)
    }
}

extension SegmentFile {
    /// Writes a string's UTF-8 bytes.
    func write(_ string: String, at offset: Int64) throws(StorageError) {
        try self.write(ByteBuffer(string: string), at: offset)
    }

    /// Reads bytes as a string.
    func readString(at offset: Int64, length: Int) throws(StorageError) -> String {
        String(buffer: try self.read(at: offset, length: length))
    }

    /// Reads the whole file as a string.
    func readAll() throws(StorageError) -> String {
        try self.readString(at: 0, length: Int(try self.size()))
    }
}

extension StorageFileSystem {
    /// A whole file as a string, or nil if it does not exist.
    func contents(of path: String) throws(StorageError) -> String? {
        try self.readWholeFile(path).map { String(buffer: $0) }
    }

    /// Creates (or replaces) a file with `contents`, syncing it if `sync` is set; does not sync the directory.
    func makeFile(_ path: String, _ contents: String, sync: Bool = true) throws(StorageError) {
        let file = try self.open(path, create: true)
        try file.truncate(to: 0)
        try file.write(contents, at: 0)
        if sync { try file.sync() }
        try file.close()
    }
}
