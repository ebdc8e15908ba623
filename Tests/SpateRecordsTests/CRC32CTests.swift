import NIOCore
import Testing

@testable import SpateRecords

@Suite struct CRC32CTests {
    @Test func checkValue() {
        let bytes = ByteBuffer(string: "123456789")
        #expect(CRC32C.checksum(bytes) == 0xE306_9283)
        #expect(CRC32C.checksumPortable(bytes) == 0xE306_9283)
    }

    @Test func emptyInputKeepsTheRunningValue() {
        #expect(CRC32C.checksum(ByteBuffer()) == 0)
        #expect(CRC32C.update(0x1234_5678, ByteBuffer()) == 0x1234_5678)
        #expect(CRC32C.updatePortable(0x1234_5678, ByteBuffer()) == 0x1234_5678)
    }

    @Test func knownVectors() {
        // RFC 3720 (iSCSI) B.4 test vectors.
        #expect(CRC32C.checksum(ByteBuffer(bytes: [UInt8](repeating: 0, count: 32))) == 0x8A91_36AA)
        #expect(CRC32C.checksum(ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 32))) == 0x62A8_AB43)
        #expect(CRC32C.checksum(ByteBuffer(bytes: (0..<32).map { UInt8($0) })) == 0x46DD_794E)
        #expect(CRC32C.checksum(ByteBuffer(bytes: (0..<32).map { UInt8(31 - $0) })) == 0x113F_DB5C)
    }

    @Test func chainingEqualsOneShot() {
        var rng = SplitMix64(seed: 1)
        let data = ByteBuffer(bytes: rng.bytes(10_000))
        for split in [0, 1, 7, 8, 255, 769, 5_000, 9_999, 10_000] {
            let head = data.getSlice(at: 0, length: split)!
            let tail = data.getSlice(at: split, length: data.readableBytes - split)!
            #expect(CRC32C.update(CRC32C.checksum(head), tail) == CRC32C.checksum(data))
            #expect(CRC32C.updatePortable(CRC32C.checksumPortable(head), tail) == CRC32C.checksum(data))
        }
    }

    @Test func hardwareMatchesPortableOnRandomLengthsAndAlignments() {
        var rng = SplitMix64(seed: 0xC0FFEE)
        let data = ByteBuffer(bytes: rng.bytes(4096 + 64))
        for _ in 0..<2_000 {
            let offset = Int.random(in: 0..<64, using: &rng)
            let length = Int.random(in: 0...4096, using: &rng)
            let slice = data.getSlice(at: offset, length: length)!
            #expect(CRC32C.checksum(slice) == CRC32C.checksumPortable(slice))
        }
    }

    @Test func hardwareMatchesPortableOnLongInputs() {
        // Long enough for the 3 × 8 KiB interleaved blocks, plus odd tails.
        var rng = SplitMix64(seed: 99)
        let data = ByteBuffer(bytes: rng.bytes(100_000))
        for length in [24_575, 24_576, 24_577, 49_152 + 768 + 13, 99_990] {
            let slice = data.getSlice(at: 3, length: length)!
            #expect(CRC32C.checksum(slice) == CRC32C.checksumPortable(slice))
        }
    }
}
