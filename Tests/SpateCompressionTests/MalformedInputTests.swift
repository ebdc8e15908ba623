import NIOCore
import SpateCompression
import SpateRecords
import Testing

@Suite struct MalformedInputTests {
    @Test(arguments: NamedCodec.all)
    func compressionBombStopsAtMaxSize(_ named: NamedCodec) throws {
        let bomb = try named.codec.compressed([UInt8](repeating: 0, count: 1 << 20))
        var output = ByteBuffer()
        #expect {
            try named.codec.decompress(bomb, maxSize: 64 * 1024, into: &output)
        } throws: { error in
            (error as? CompressionError)?.code == .outputTooLarge
        }
        #expect(output.readableBytes == 0)
        // Roughly maxSize: ByteBuffer rounds capacity up to a power of two, so at most 128 KiB here.
        #expect(output.capacity <= 128 * 1024, "\(named) grew its output to \(output.capacity) bytes")
    }

    @Test func uncompressedPassThroughHonoursMaxSize() {
        var output = ByteBuffer()
        #expect {
            try StandardRecordsCompressor().decompress(
                ByteBuffer(bytes: [1, 2, 3]),
                type: .none,
                maxSize: 2,
                into: &output
            )
        } throws: { error in
            (error as? CompressionError)?.code == .outputTooLarge
        }
    }

    @Test(arguments: NamedCodec.all)
    func emptyInputIsCorrupt(_ named: NamedCodec) {
        #expect {
            _ = try named.codec.decompressed([])
        } throws: { error in
            (error as? CompressionError)?.code == .corrupt
        }
    }

    @Test(arguments: NamedCodec.all)
    func everyTruncationThrows(_ named: NamedCodec) throws {
        let input = Inputs.compressible(count: 3000) + Inputs.random(count: 500, seed: 7)
        let compressed = try named.codec.compressed(input).readableArray
        for length in 0..<compressed.count {
            // xerial has no end marker: cut at a block boundary (here only after the header) it is a valid, shorter
            // stream, for Java's reader too.
            if named.description == "snappy-xerial" && length == 16 { continue }
            var output = ByteBuffer(bytes: [9])
            #expect(throws: CompressionError.self, "\(named) truncated to \(length) bytes") {
                try named.codec.decompress(
                    ByteBuffer(bytes: Array(compressed.prefix(length))),
                    maxSize: 1 << 20,
                    into: &output
                )
            }
            #expect(output.readableArray == [9])
        }
    }

    @Test(arguments: NamedCodec.all)
    func garbageThrows(_ named: NamedCodec) {
        var rng = SplitMix64(seed: 0xBAD_C0DE)
        for length in [1, 2, 7, 16, 64, 1000] {
            var garbage = Inputs.random(count: length, seed: rng.next())
            // A zero first byte is a valid raw snappy stream of length 0; make sure each case is really garbage.
            garbage[0] |= 0x80
            #expect(throws: CompressionError.self, "\(named) \(length) random bytes") {
                try named.codec.decompressed(garbage)
            }
        }
    }

    /// Mutates valid streams thousands of times: decoding may succeed or throw, but must never trap or hang.
    @Test(arguments: NamedCodec.all)
    func seededMutationsNeverTrap(_ named: NamedCodec) throws {
        var rng = SplitMix64(seed: 0x5EA7_E000 ^ UInt64(named.description.utf8.count))
        let original = try named.codec.compressed(Inputs.compressible(count: 4000)).readableArray
        var failures = 0
        for _ in 0..<3000 {
            var bytes = original
            switch rng.next() % 4 {
            case 0:  // flip a few bits
                for _ in 0...(rng.next() % 4) {
                    let index = Int(rng.next() % UInt64(bytes.count))
                    bytes[index] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
                }
            case 1:  // overwrite a byte with a random value
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 2:  // truncate, then maybe flip
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
                if !bytes.isEmpty, rng.next() % 2 == 0 {
                    bytes[Int(rng.next() % UInt64(bytes.count))] ^= 0xFF
                }
            default:  // insert random bytes
                let index = Int(rng.next() % UInt64(bytes.count + 1))
                bytes.insert(contentsOf: Inputs.random(count: Int(rng.next() % 16) + 1, seed: rng.next()), at: index)
            }
            var output = ByteBuffer(bytes: [7])
            do {
                try named.codec.decompress(ByteBuffer(bytes: bytes), maxSize: 64 * 1024, into: &output)
                #expect(output.readableBytes <= 1 + 64 * 1024)
            } catch {
                failures += 1
                #expect(output.readableArray == [7])
            }
        }
        // Almost every mutation must be caught; snappy raw has no checksum, so some mutations decode "successfully".
        #expect(failures > 0)
    }
}
