import NIOCore
import Testing

@testable import SpateRecords

@Suite struct ZigZagVarIntTests {
    static let varIntGolden: [(Int32, [UInt8])] = [
        (0, [0x00]),
        (-1, [0x01]),
        (1, [0x02]),
        (-2, [0x03]),
        (63, [0x7E]),
        (-64, [0x7F]),
        (64, [0x80, 0x01]),
        (-65, [0x81, 0x01]),
        (300, [0xD8, 0x04]),
        (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
        (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    static let varLongGolden: [(Int64, [UInt8])] = [
        (0, [0x00]),
        (-1, [0x01]),
        (1, [0x02]),
        (63, [0x7E]),
        (-64, [0x7F]),
        (64, [0x80, 0x01]),
        (1_700_000_000_000, [0x80, 0xA0, 0xAB, 0xFE, 0xF9, 0x62]),
        (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test func varIntGoldenBytes() throws {
        for (value, bytes) in Self.varIntGolden {
            var buffer = ByteBuffer()
            #expect(buffer.writeVarInt(value) == bytes.count)
            #expect(buffer.bytes == bytes, "encoding \(value)")
            #expect(ByteBuffer.varIntSize(value) == bytes.count)
            #expect(try buffer.readVarInt() == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func varLongGoldenBytes() throws {
        for (value, bytes) in Self.varLongGolden {
            var buffer = ByteBuffer()
            #expect(buffer.writeVarLong(value) == bytes.count)
            #expect(buffer.bytes == bytes, "encoding \(value)")
            #expect(ByteBuffer.varLongSize(value) == bytes.count)
            #expect(try buffer.readVarLong() == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func varIntsAreReadableAsVarLongs() throws {
        for (value, bytes) in Self.varIntGolden {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(try buffer.readVarLong() == Int64(value))
        }
    }

    @Test func roundTripsRandomValues() throws {
        var rng = SplitMix64(seed: 7)
        var buffer = ByteBuffer()
        var ints: [Int32] = []
        var longs: [Int64] = []
        for _ in 0..<1_000 {
            let int = Int32(truncatingIfNeeded: rng.next() >> UInt64.random(in: 0..<64, using: &rng))
            let long = Int64(bitPattern: rng.next() >> UInt64.random(in: 0..<64, using: &rng))
            ints.append(rng.next() & 1 == 0 ? int : ~int)
            longs.append(rng.next() & 1 == 0 ? long : ~long)
            buffer.writeVarInt(ints.last!)
            buffer.writeVarLong(longs.last!)
        }
        for (int, long) in zip(ints, longs) {
            #expect(try buffer.readVarInt() == int)
            #expect(try buffer.readVarLong() == long)
        }
    }

    @Test func rejectsOverlongVarInt() {
        // Six bytes: the fifth still has its continuation bit set.
        var buffer = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
        #expect(errorCode { _ = try buffer.readVarInt() } == .malformedVarInt)
        #expect(buffer.readerIndex == 0, "a failed read does not move the reader index")
        // Five bytes whose last one carries bits beyond 32.
        var wide = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x1F])
        #expect(errorCode { _ = try wide.readVarInt() } == .malformedVarInt)
        // A varlong may be five bytes but not eleven.
        var eleven = ByteBuffer(bytes: [UInt8](repeating: 0x80, count: 10) + [0x00])
        #expect(errorCode { _ = try eleven.readVarLong() } == .malformedVarInt)
        var wideLong = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 9) + [0x03])
        #expect(errorCode { _ = try wideLong.readVarLong() } == .malformedVarInt)
    }

    @Test func rejectsTruncatedVarInt() {
        var empty = ByteBuffer()
        #expect(errorCode { _ = try empty.readVarInt() } == .truncated)
        var cut = ByteBuffer(bytes: [0x80, 0x80])
        #expect(errorCode { _ = try cut.readVarLong() } == .truncated)
        #expect(cut.readerIndex == 0)
    }

    @Test func acceptsNonMinimalButShortEncodings() throws {
        // Kafka accepts redundant continuation bytes within the length limit.
        var buffer = ByteBuffer(bytes: [0x82, 0x80, 0x00])
        #expect(try buffer.readVarInt() == 1)
    }
}
