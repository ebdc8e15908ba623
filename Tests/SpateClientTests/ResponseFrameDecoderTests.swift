import NIOCore
import NIOEmbedded
import SpateWire
import Testing

@testable import SpateClient

/// The client's frame splitter: frames out of any chunking of the byte stream, large frames gathered into reused
/// buffers only when nothing refers to the earlier frame any more.
@Suite struct ResponseFrameDecoderTests {
    /// A frame body of `size` bytes whose content depends on `seed`.
    func body(_ size: Int, seed: UInt8) -> ByteBuffer {
        ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed })
    }

    func stream(_ bodies: [ByteBuffer]) -> ByteBuffer {
        var stream = ByteBuffer()
        for var body in bodies {
            stream.writeInteger(Int32(body.readableBytes))
            stream.writeBuffer(&body)
        }
        return stream
    }

    func makeChannel(maxFrameSize: Int = 100 << 20) throws -> EmbeddedChannel {
        EmbeddedChannel(handler: ResponseFrameDecoder(splitter: FrameSplitter(maxFrameSize: maxFrameSize)))
    }

    /// Writes `stream` in chunks of the given sizes (cycled) and returns the frames read.
    func frames(of stream: ByteBuffer, chunks: [Int], channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var rest = stream
        var index = 0
        var out: [ByteBuffer] = []
        while rest.readableBytes > 0 {
            let chunk = rest.readSlice(length: min(chunks[index % chunks.count], rest.readableBytes))!
            index += 1
            try channel.writeInbound(chunk)
            while let frame = try channel.readInbound(as: ByteBuffer.self) { out.append(frame) }
        }
        return out
    }

    @Test(arguments: [[1], [3], [4], [5, 2], [4096], [300_000], [1 << 30], [7, 70_000, 1, 2, 3]])
    func everyChunkingGivesTheSameFrames(chunks: [Int]) throws {
        // Frames over the reuse threshold only where the chunks are not tiny: a byte per read of ~900 KB is ~900,000
        // reads, which took 40 s of a debug build and held up the rest of the suite.
        let large = chunks.max()! >= 4096 ? ResponseFrameDecoder.reuseThreshold : 0
        let bodies = [
            self.body(0, seed: 1), self.body(1, seed: 2), self.body(5, seed: 3), self.body(large + 3_000, seed: 4),
            self.body(7, seed: 5), self.body(0, seed: 6), self.body(2 * large + 6_000, seed: 7), self.body(3, seed: 8),
        ]
        let channel = try self.makeChannel()
        #expect(try self.frames(of: self.stream(bodies), chunks: chunks, channel: channel) == bodies)
        #expect(try channel.finish().isClean)
    }

    func address(_ buffer: ByteBuffer) -> UInt {
        buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// Three large frames, each over two reads: the third reuses the first one's memory once the first is released,
    /// and never while it is held (which then keeps its bytes).
    @Test(arguments: [false, true])
    func largeFrameBuffersAreReusedOnlyWhenReleased(holdFirst: Bool) throws {
        let size = 2 * ResponseFrameDecoder.reuseThreshold
        let channel = try self.makeChannel()
        let bodies = (0..<3).map { self.body(size, seed: UInt8($0)) }
        var first: ByteBuffer? = try self.frames(of: self.stream([bodies[0]]), chunks: [size / 2], channel: channel)[0]
        let firstAddress = self.address(first!)
        let second = try self.frames(of: self.stream([bodies[1]]), chunks: [size / 2], channel: channel)[0]
        if !holdFirst { first = nil }
        let third = try self.frames(of: self.stream([bodies[2]]), chunks: [size / 2], channel: channel)[0]
        #expect(third == bodies[2])
        #expect(second == bodies[1])
        if holdFirst {
            #expect(self.address(third) != firstAddress)
            #expect(first == bodies[0])
        } else {
            #expect(self.address(third) == firstAddress)
        }
        #expect(try channel.finish().isClean)
    }

    @Test(arguments: [[4096], [2], [1 << 20]])
    func oversizedFrameFailsTheConnection(chunks: [Int]) throws {
        let channel = try self.makeChannel(maxFrameSize: 1000)
        var stream = self.stream([self.body(10, seed: 0)])
        stream.writeInteger(Int32(1001))
        stream.writeRepeatingByte(0, count: 1001)
        #expect(throws: WireError.self) { _ = try self.frames(of: stream, chunks: chunks, channel: channel) }
        // Nothing after the oversized prefix is taken for a frame.
        _ = try? channel.finish()
    }
}
