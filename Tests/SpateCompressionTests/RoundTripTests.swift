import NIOCore
import SpateCompression
import SpateRecords
import Testing

@Suite struct RoundTripTests {
    static let inputs: [(String, [UInt8])] = [
        ("empty", []),
        ("one byte", [0x2A]),
        ("100 KiB compressible", Inputs.compressible(count: 100 * 1024)),
        ("1 MiB random", Inputs.random(count: 1 << 20, seed: 0x5EED)),
    ]

    @Test(arguments: NamedCodec.all)
    func codecRoundTrips(_ named: NamedCodec) throws {
        for (name, input) in Self.inputs {
            let compressed = try named.codec.compressed(input)
            let output = try named.codec.decompressed(compressed.readableArray, maxSize: input.count)
            #expect(output == input, "\(named) \(name)")
        }
    }

    @Test func compressibleInputShrinks() throws {
        let input = Inputs.compressible(count: 100 * 1024)
        for named in NamedCodec.all {
            let compressed = try named.codec.compressed(input)
            #expect(compressed.readableBytes < input.count / 4, "\(named)")
        }
    }

    @Test(arguments: CompressionType.allCases)
    func recordsCompressorRoundTrips(_ type: CompressionType) throws {
        let compressor = StandardRecordsCompressor()
        for (name, input) in Self.inputs {
            var compressed = ByteBuffer()
            try compressor.compress(ByteBuffer(bytes: input), type: type, into: &compressed)
            var output = ByteBuffer()
            try compressor.decompress(compressed, type: type, maxSize: input.count, into: &output)
            #expect(output.readableArray == input, "\(type) \(name)")
        }
    }

    @Test(arguments: CompressionType.allCases)
    func appendsWithoutTouchingExistingBytesOrInput(_ type: CompressionType) throws {
        let compressor = StandardRecordsCompressor()
        let input = ByteBuffer(bytes: Inputs.compressible(count: 5000))
        var compressed = ByteBuffer(bytes: [0xAA, 0xBB])
        try compressor.compress(input, type: type, into: &compressed)
        #expect(input.readableBytes == 5000)
        #expect(compressed.readBytes(length: 2) == [0xAA, 0xBB])

        var output = ByteBuffer(bytes: [0xCC])
        try compressor.decompressTyped(compressed, type: type, maxSize: 5000, into: &output)
        #expect(compressed.readableBytes > 0)
        #expect(output.readBytes(length: 1) == [0xCC])
        #expect(output.readableArray == input.readableArray)
    }

    @Test(arguments: CompressionType.allCases)
    func maxSizeIsInclusive(_ type: CompressionType) throws {
        let compressor = StandardRecordsCompressor()
        let input = ByteBuffer(bytes: Inputs.compressible(count: 70_000))
        var compressed = ByteBuffer()
        try compressor.compress(input, type: type, into: &compressed)

        var exact = ByteBuffer()
        try compressor.decompressTyped(compressed, type: type, maxSize: 70_000, into: &exact)
        #expect(exact == input)

        var short = ByteBuffer(bytes: [1, 2, 3])
        #expect(throws: CompressionError.self) {
            try compressor.decompressTyped(compressed, type: type, maxSize: 69_999, into: &short)
        }
        #expect(short.readableArray == [1, 2, 3], "a failed call leaves no partial output")
    }

    @Test func codecLookup() {
        let compressor = StandardRecordsCompressor(gzip: GzipCodec(level: 9), zstd: ZstdCodec(level: 19))
        #expect(compressor.codec(for: .none) == nil)
        #expect((compressor.codec(for: .gzip) as? GzipCodec)?.level == 9)
        #expect((compressor.codec(for: .zstd) as? ZstdCodec)?.level == 19)
        #expect(compressor.codec(for: .snappy) is SnappyCodec)
        #expect(compressor.codec(for: .lz4) is LZ4Codec)
    }

    @Test func levelsRoundTrip() throws {
        let input = Inputs.compressible(count: 40_000)
        let codecs: [any CompressionCodec] = [
            GzipCodec(level: 0), GzipCodec(level: 1), GzipCodec(level: 9),
            LZ4Codec(level: 1), LZ4Codec(level: 9), LZ4Codec(level: 12),
            ZstdCodec(level: 1), ZstdCodec(level: 19), ZstdCodec(level: -5),
        ]
        for codec in codecs {
            #expect(try codec.decompressed(codec.compressed(input).readableArray) == input, "\(codec)")
        }
    }

    @Test func invalidGzipLevelThrows() {
        #expect {
            _ = try GzipCodec(level: 42).compressed([1, 2, 3])
        } throws: { error in
            (error as? CompressionError)?.code == .invalidConfiguration
        }
    }
}
