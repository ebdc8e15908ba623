import NIOCore
import SpateCompression
import SpateRecords

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny seeded generator so fuzz cases are reproducible.
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
}

/// A codec under test, with a readable name for parameterised tests.
struct NamedCodec: Sendable, CustomStringConvertible {
    var description: String
    var codec: any CompressionCodec

    static let all: [NamedCodec] = [
        NamedCodec(description: "gzip", codec: GzipCodec()),
        NamedCodec(description: "snappy-xerial", codec: SnappyCodec(framing: .xerial)),
        NamedCodec(description: "snappy-raw", codec: SnappyCodec(framing: .raw)),
        NamedCodec(description: "lz4", codec: LZ4Codec()),
        NamedCodec(description: "zstd", codec: ZstdCodec()),
    ]
}

enum Inputs {
    /// Text-like, highly compressible bytes.
    static func compressible(count: Int) -> [UInt8] {
        let phrase = Array("Spate is a Kafka-compatible broker written in Swift; records compress well. ".utf8)
        return (0..<count).map { phrase[$0 % phrase.count] ^ UInt8(truncatingIfNeeded: $0 / 4096) }
    }

    /// Incompressible bytes from a fixed seed.
    static func random(count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let word = rng.next()
            for shift in stride(from: 0, to: 64, by: 8) where bytes.count < count {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return bytes
    }
}

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self = ByteBufferAllocator().buffer(capacity: bytes.count)
        self.writeBytes(bytes)
    }

    var readableArray: [UInt8] { Array(self.readableBytesView) }
}

extension CompressionCodec {
    func compressed(_ bytes: [UInt8]) throws(CompressionError) -> ByteBuffer {
        var output = ByteBuffer()
        try self.compress(ByteBuffer(bytes: bytes), into: &output)
        return output
    }

    func decompressed(_ bytes: [UInt8], maxSize: Int = 1 << 24) throws(CompressionError) -> [UInt8] {
        var output = ByteBuffer()
        try self.decompress(ByteBuffer(bytes: bytes), maxSize: maxSize, into: &output)
        return output.readableArray
    }
}
