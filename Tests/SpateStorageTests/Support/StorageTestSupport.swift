import Glibc
import Logging
import NIOCore
import SpateRecords

@testable import SpateStorage

/// A fresh temporary directory for one test, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/spate-storage-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        self.path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() {
        try? PosixFileSystem().remove(self.path)
    }
}

/// Builds one batch of `count` records with values `prefix-N`.
func makeBatch(count: Int, prefix: String = "value", key: String? = nil, timestamp: Int64 = 1_000) throws -> ByteBuffer {
    var builder = RecordBatchBuilder()
    for index in 0..<count {
        builder.append(
            key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: "\(prefix)-\(index)"),
            timestamp: timestamp + Int64(index))
    }
    return try builder.build(compressor: nil)
}

/// Every record in the log from its start, as (offset, value) pairs, read through the fetch path.
func readAll(_ log: PartitionLog) throws -> [(offset: Int64, value: String)] {
    var result: [(Int64, String)] = []
    var offset = log.logStartOffset
    while offset < log.logEndOffset {
        guard let slice = try log.read(from: offset, maxBytes: 1 << 20) else { break }
        let bytes = try slice.readBytes()
        var progressed = false
        for batch in RecordSet(buffer: bytes).batches {
            for record in try batch.records(using: nil, maxDecompressedSize: 1 << 26) where record.offset >= offset {
                result.append((record.offset, record.value.map { String(buffer: $0) } ?? "<null>"))
            }
            offset = batch.lastOffset + 1
            progressed = true
        }
        if !progressed { break }
    }
    return result
}

let testLogger = Logger(label: "spate.storage.tests")
