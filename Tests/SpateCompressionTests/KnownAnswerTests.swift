import NIOCore
import SpateCompression
import SpateRecords
import Testing

/// Payloads written by other implementations, proving the formats interoperate.
///
/// Produced on 2026-11-22 with Python 3.11.7, CPython's `gzip`/`zlib`, and PyPI python-snappy, lz4 4.4.5 and
/// zstandard 0.25.0, by this script (`data` is the plain text below):
/// ```
/// data = b"Spate speaks Kafka. " * 3
/// gzip.compress(data, compresslevel=9, mtime=0)                                   # gzip
/// zlib.compress(data)                                                             # zlib
/// gzip.compress(b"Spate ", mtime=0) + gzip.compress(b"speaks Kafka.", mtime=0)    # gzipMembers
/// snappy.compress(data)                                                           # snappyRaw
/// a, b = snappy.compress(data[:25]), snappy.compress(data[25:])                   # snappyXerial, framed by hand:
/// b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(a)) + a + struct.pack(">i", len(b)) + b
/// lz4.frame.compress(data, store_size=False, content_checksum=False)              # lz4
/// lz4.frame.compress(data, store_size=True, content_checksum=True, block_checksum=True)  # lz4Checksums
/// zstandard.ZstdCompressor(level=3, write_content_size=False, write_checksum=True).compress(data)  # zstd
/// zstandard.ZstdCompressor(write_content_size=False).compress(b"Spate ")
///     + zstandard.ZstdCompressor().compress(b"speaks Kafka.")                     # zstdFrames
/// ```
@Suite struct KnownAnswerTests {
    static let plain = Array(String(repeating: "Spate speaks Kafka. ", count: 3).utf8)
    static let twoParts = Array("Spate speaks Kafka.".utf8)

    static let gzip: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03,  // gzip header: deflate, no flags, mtime 0, XFL 2, Unix
        0x0B, 0x2E, 0x48, 0x2C, 0x49, 0x55, 0x28, 0x2E, 0x48, 0x4D, 0xCC, 0x2E, 0x56, 0xF0, 0x4E, 0x4C, 0xCB, 0x4E,
        0xD4, 0x53, 0x08, 0x26, 0x52, 0x0C, 0x00,  // deflate data
        0x64, 0x9E, 0xAE, 0x71,  // CRC-32
        0x3C, 0x00, 0x00, 0x00,  // ISIZE = 60
    ]

    static let zlib: [UInt8] = [
        0x78, 0x9C,  // zlib header
        0x0B, 0x2E, 0x48, 0x2C, 0x49, 0x55, 0x28, 0x2E, 0x48, 0x4D, 0xCC, 0x2E, 0x56, 0xF0, 0x4E, 0x4C, 0xCB, 0x4E,
        0xD4, 0x53, 0x08, 0x26, 0x52, 0x0C, 0x00,
        0x88, 0x42, 0x14, 0xD1,  // Adler-32
    ]

    static let gzipMembers: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x0B, 0x2E, 0x48, 0x2C, 0x49, 0x55, 0x00, 0x00,
        0xF5, 0xD4, 0x8C, 0x31, 0x06, 0x00, 0x00, 0x00,  // member 1: "Spate "
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x2B, 0x2E, 0x48, 0x4D, 0xCC, 0x2E, 0x56, 0xF0,
        0x4E, 0x4C, 0xCB, 0x4E, 0xD4, 0x03, 0x00, 0xFB, 0x4D, 0xC0, 0x3B, 0x0D, 0x00, 0x00, 0x00,  // member 2
    ]

    static let snappyRaw: [UInt8] = [
        0x3C,  // varint uncompressed length 60
        0x4C, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66, 0x6B,
        0x61, 0x2E, 0x20,  // literal of 20 bytes
        0x9E, 0x14, 0x00,  // copy 40 bytes from offset 20
    ]

    static let snappyXerial: [UInt8] = [
        0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00,  // magic 0x82 "SNAPPY" 0x00
        0x00, 0x00, 0x00, 0x01,  // version 1
        0x00, 0x00, 0x00, 0x01,  // minimum compatible version 1
        0x00, 0x00, 0x00, 0x1B,  // block 1: 27 bytes
        0x19, 0x60, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66,
        0x6B, 0x61, 0x2E, 0x20, 0x53, 0x70, 0x61, 0x74, 0x65,
        0x00, 0x00, 0x00, 0x25,  // block 2: 37 bytes
        0x23, 0x88, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66, 0x6B, 0x61, 0x2E, 0x20, 0x53,
        0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66, 0x6B, 0x61, 0x2E,
        0x20,
    ]

    static let lz4: [UInt8] = [
        0x04, 0x22, 0x4D, 0x18,  // frame magic
        0x60, 0x40, 0x82,  // FLG (v01, independent blocks), BD (64 KiB), header checksum
        0x1F, 0x00, 0x00, 0x00,  // block of 31 compressed bytes
        0xFF, 0x05, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66,
        0x6B, 0x61, 0x2E, 0x20, 0x14, 0x00, 0x10, 0x50, 0x66, 0x6B, 0x61, 0x2E, 0x20,
        0x00, 0x00, 0x00, 0x00,  // end mark
    ]

    static let lz4Checksums: [UInt8] = [
        0x04, 0x22, 0x4D, 0x18,
        0x7C, 0x40,  // FLG: block checksums, content size, content checksum; BD 64 KiB
        0x3C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // content size 60
        0x97,  // header checksum
        0x1F, 0x00, 0x00, 0x00,
        0xFF, 0x05, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61, 0x66,
        0x6B, 0x61, 0x2E, 0x20, 0x14, 0x00, 0x10, 0x50, 0x66, 0x6B, 0x61, 0x2E, 0x20,
        0x47, 0xB5, 0x0A, 0x47,  // block checksum
        0x00, 0x00, 0x00, 0x00,  // end mark
        0x9C, 0x92, 0x0B, 0xC9,  // content checksum
    ]

    static let zstd: [UInt8] = [
        0x28, 0xB5, 0x2F, 0xFD,  // frame magic
        0x04, 0x00,  // descriptor: checksum, no content size; window descriptor
        0xD5, 0x00, 0x00, 0xA0, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B,
        0x61, 0x66, 0x6B, 0x61, 0x2E, 0x20, 0x01, 0x00, 0x5E, 0x39, 0x99,
        0xC5, 0x91, 0xC1, 0xDC,  // content checksum
    ]

    static let zstdFrames: [UInt8] = [
        0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x00, 0x31, 0x00, 0x00, 0x53, 0x70, 0x61, 0x74, 0x65, 0x20,  // "Spate ", no size
        0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x0D, 0x69, 0x00, 0x00, 0x73, 0x70, 0x65, 0x61, 0x6B, 0x73, 0x20, 0x4B, 0x61,
        0x66, 0x6B, 0x61, 0x2E,  // "speaks Kafka.", content size 13
    ]

    @Test func gzipFromPython() throws {
        #expect(try GzipCodec().decompressed(Self.gzip) == Self.plain)
    }

    @Test func zlibWrappedDeflateIsAccepted() throws {
        #expect(try GzipCodec().decompressed(Self.zlib) == Self.plain)
    }

    @Test func concatenatedGzipMembers() throws {
        #expect(try GzipCodec().decompressed(Self.gzipMembers) == Self.twoParts)
    }

    @Test func rawSnappyFromPython() throws {
        #expect(try SnappyCodec().decompressed(Self.snappyRaw) == Self.plain)
    }

    @Test func xerialSnappyWithTwoBlocks() throws {
        #expect(try SnappyCodec().decompressed(Self.snappyXerial) == Self.plain)
    }

    @Test func xerialHeaderAloneIsEmpty() throws {
        #expect(try SnappyCodec().decompressed(Array(Self.snappyXerial.prefix(16))) == [])
    }

    @Test func rawSnappyMatchesPythonByteForByte() throws {
        // libsnappy is deterministic, and python-snappy wraps the same library.
        #expect(try SnappyCodec(framing: .raw).compressed(Self.plain).readableArray == Self.snappyRaw)
    }

    @Test func xerialOutputFramesThirtyTwoKiBBlocks() throws {
        let input = Inputs.compressible(count: 100 * 1024)
        var framed = try SnappyCodec(framing: .xerial).compressed(input)
        #expect(framed.readBytes(length: 16) == Array(Self.snappyXerial.prefix(16)))
        var blockSizes = [Int]()
        while let length = framed.readInteger(endianness: .big, as: Int32.self) {
            let slice = framed.readBytes(length: Int(length))
            let block = try #require(slice)
            let raw = try SnappyCodec(framing: .raw).decompressed(block)
            blockSizes.append(raw.count)
        }
        #expect(framed.readableBytes == 0)
        #expect(blockSizes == [32768, 32768, 32768, 4096])
    }

    @Test func lz4FrameFromPython() throws {
        #expect(try LZ4Codec().decompressed(Self.lz4) == Self.plain)
        #expect(try LZ4Codec().decompressed(Self.lz4Checksums) == Self.plain)
    }

    @Test func lz4FrameHeaderIsKafkaCompatible() throws {
        // Independent blocks, 64 KiB maximum block size, no content size or checksums: the header Python wrote above.
        let frame = try LZ4Codec().compressed(Self.plain).readableArray
        #expect(Array(frame.prefix(7)) == Array(Self.lz4.prefix(7)))
    }

    @Test func concatenatedLZ4Frames() throws {
        let codec = LZ4Codec()
        #expect(try codec.decompressed(Self.lz4 + Self.lz4Checksums) == Self.plain + Self.plain)
    }

    @Test func zstdFrameWithoutContentSize() throws {
        #expect(try ZstdCodec().decompressed(Self.zstd) == Self.plain)
    }

    @Test func concatenatedZstdFrames() throws {
        #expect(try ZstdCodec().decompressed(Self.zstdFrames) == Self.twoParts)
    }

    @Test func corruptedChecksumsAreDetected() {
        var gzip = Self.gzip
        gzip[gzip.count - 5] ^= 0x01  // CRC-32
        var lz4 = Self.lz4Checksums
        lz4[lz4.count - 1] ^= 0x01  // content checksum
        var zstd = Self.zstd
        zstd[zstd.count - 1] ^= 0x01  // content checksum
        let cases: [(any CompressionCodec, [UInt8])] = [(GzipCodec(), gzip), (LZ4Codec(), lz4), (ZstdCodec(), zstd)]
        for (codec, bytes) in cases {
            #expect(throws: CompressionError.self) { try codec.decompressed(bytes) }
        }
    }
}
