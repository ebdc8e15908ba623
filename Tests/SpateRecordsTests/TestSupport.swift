import NIOCore
import SpateRecords
import Testing

/// A tiny deterministic generator (SplitMix64), so fuzz runs are reproducible without Foundation.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

struct FakeCompressionError: Error, Hashable {
    var reason: String
}

/// A test-only codec that "compresses" by writing a marker and XOR-ing every byte, so an undecompressed section
/// cannot be mistaken for records.
struct XORCompressor: RecordsCompressor {
    static let marker: [UInt8] = Array("FAKE".utf8)

    func compress(_ input: ByteBuffer, type: CompressionType, into output: inout ByteBuffer) throws {
        output.writeBytes(Self.marker)
        output.writeInteger(type.rawValue)
        output.writeBytes(input.readableBytesView.map { $0 ^ 0x5A })
    }

    func decompress(_ input: ByteBuffer, type: CompressionType, maxSize: Int, into output: inout ByteBuffer) throws {
        var input = input
        guard input.readBytes(length: 4) == Self.marker, input.readInteger(as: UInt8.self) == type.rawValue else {
            throw FakeCompressionError(reason: "bad marker")
        }
        guard input.readableBytes <= maxSize else {
            throw FakeCompressionError(reason: "too large")
        }
        output.writeBytes(input.readableBytesView.map { $0 ^ 0x5A })
    }
}

extension ByteBuffer {
    /// The readable bytes as an array, for comparisons.
    var bytes: [UInt8] { Array(self.readableBytesView) }
}

/// Runs `body` and returns the ``RecordBatchError`` code it throws, or `nil` if it throws nothing.
func errorCode(_ body: () throws -> Void) -> RecordBatchError.Code? {
    do {
        try body()
        return nil
    } catch let error as RecordBatchError {
        return error.code
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
