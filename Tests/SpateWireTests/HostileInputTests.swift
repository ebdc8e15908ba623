import NIOCore
import Testing

@testable import SpateWire

/// Random and mutated frames through the frame splitter and every decoder: each either decodes or throws a
/// ``WireError``; nothing traps. Decoders refuse any length or count larger than the bytes left in the frame, so no
/// input can make them allocate beyond the frame's own size.
@Suite struct HostileInputTests {
    /// Valid bodies to mutate: an all-defaults one and a fully populated golden one for every API, version and
    /// direction.
    static let seeds: [(apiKey: APIKey, version: Int16, isRequest: Bool, body: [UInt8])] = {
        var result: [(APIKey, Int16, Bool, [UInt8])] = []
        for key in APIKey.allKnown {
            for version in key.codecVersions! {
                for isRequest in [true, false] {
                    var buffer = ByteBuffer()
                    do {
                        if isRequest {
                            try AnyRequest.empty(apiKey: key)!.encode(into: &buffer, version: version)
                        } else {
                            try AnyResponse.empty(apiKey: key)!.encode(into: &buffer, version: version)
                        }
                    } catch {
                        Issue.record("default \(key) v\(version) does not encode: \(error)")
                    }
                    result.append((key, version, isRequest, Array(buffer.readableBytesView)))
                }
            }
        }
        // Fully populated bodies from the independent golden encoder reach the nested decoders that defaults miss.
        for golden in allRoundTripCases {
            result.append((APIKey(rawValue: golden.apiKey), golden.version, golden.isRequest, hexBytes(golden.hex)))
        }
        return result
    }()

    static func mutate(_ bytes: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // interesting byte
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE].randomElement(using: &rng)!
            case 2:  // insert random bytes
                let i = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            case 3 where !bytes.isEmpty:  // delete a range
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...8, using: &rng)))
            case 4:  // truncate
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            case 5 where bytes.count >= 4:  // a huge big-endian length
                let i = Int.random(in: 0...(bytes.count - 4), using: &rng)
                bytes.replaceSubrange(i..<i + 4, with: [0x7F, 0xFF, 0xFF, 0xFF])
            case 6:  // a maximal varint
                let i = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: i)
            default:  // append garbage
                bytes += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    /// Decodes `body` as the given message; returns whether it decoded. Any error other than WireError fails.
    @discardableResult
    static func decode(_ body: [UInt8], apiKey: APIKey, version: Int16, isRequest: Bool) -> Bool {
        let buffer = ByteBuffer(bytes: body)
        do {
            if isRequest {
                let message = try AnyRequest.decode(apiKey: apiKey, version: version, from: buffer)
                var out = ByteBuffer()
                try message.encode(into: &out, version: version)
                // What decodes must re-encode and decode to the same value.
                #expect(try AnyRequest.decode(apiKey: apiKey, version: version, from: out) == message)
            } else {
                let message = try AnyResponse.decode(apiKey: apiKey, version: version, from: buffer)
                var out = ByteBuffer()
                try message.encode(into: &out, version: version)
                #expect(try AnyResponse.decode(apiKey: apiKey, version: version, from: out) == message)
            }
            return true
        } catch {
            return false  // typed throws: every error here is a WireError
        }
    }

    @Test func mutatedAndRandomFramesThroughEveryDecoder() {
        var rng = SplitMix64(seed: 0x5EA7_2026)
        let seeds = Self.seeds
        #expect(seeds.count == 2 * APIKey.allKnown.reduce(0) { $0 + 2 * $1.codecVersions!.count })
        var decoded = 0
        let total = 100_000
        for i in 0..<total {
            let seed = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            let body: [UInt8]
            if i % 10 == 9 {
                body = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                body = Self.mutate(seed.body, using: &rng)
            }
            if Self.decode(body, apiKey: seed.apiKey, version: seed.version, isRequest: seed.isRequest) { decoded += 1 }
            // Every 4th frame also goes through a different decoder.
            if i % 4 == 0 {
                let other = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                Self.decode(body, apiKey: other.apiKey, version: other.version, isRequest: other.isRequest)
            }
        }
        // Some mutations leave the frame valid; most must be refused.
        #expect(decoded > 0 && decoded < total)
    }

    @Test func whole_framesWithHeadersThroughTheSplitter() throws {
        var rng = SplitMix64(seed: 42)
        let seeds = Self.seeds
        let splitter = FrameSplitter(maxFrameSize: 4096)
        for _ in 0..<2_000 {
            // A stream of a few frames, some mutated, fed in random chunks.
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let seed = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                var frame = ByteBuffer()
                let header = RequestHeader(apiKey: seed.apiKey, apiVersion: seed.version, correlationID: 7, clientID: "fuzz")
                try! header.encode(into: &frame)
                frame.writeBytes(seed.body)
                var bytes = Array(frame.readableBytesView)
                if Bool.random(using: &rng) { bytes = Self.mutate(bytes, using: &rng) }
                var size = ByteBuffer()
                size.writeInteger(Int32(bytes.count))
                stream += Array(size.readableBytesView) + bytes
            }
            if Int.random(in: 0..<4, using: &rng) == 0 { stream = Self.mutate(stream, using: &rng) }
            var pending = ByteBuffer()
            var offset = 0
            streaming: while offset < stream.count {
                let chunk = min(stream.count - offset, Int.random(in: 1...64, using: &rng))
                pending.writeBytes(stream[offset..<offset + chunk])
                offset += chunk
                while true {
                    let frame: ByteBuffer?
                    do {
                        frame = try splitter.nextFrame(from: &pending)
                    } catch {
                        #expect(error == .frameTooLarge(size: Int(error.frameSize), limit: 4096))
                        break streaming  // the connection would close here
                    }
                    guard let frame else { break }
                    #expect(frame.readableBytes <= 4096)
                    _ = try? RequestFrame(decoding: frame)
                }
            }
        }
    }

    @Test func hostileLengthsAreRefusedBeforeAllocating() {
        // An array count of 2^31-1 in a 9-byte frame (Metadata v0: topics array).
        var classic = ByteBuffer()
        classic.writeInteger(Int32.max)
        classic.writeBytes([1, 2, 3, 4, 5])
        #expect(throws: WireError.truncated) { try MetadataRequest.decode(from: classic, version: 4) }
        // A compact length of 2^32-1 (varint ff ff ff ff 0f) for Metadata v12 topics.
        let compact = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])
        #expect(throws: WireError.truncated) { try MetadataRequest.decode(from: compact, version: 12) }
        // A varint longer than 5 bytes.
        let overlong = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: WireError.invalidVarInt) { try MetadataRequest.decode(from: overlong, version: 12) }
        // A negative classic string length other than -1.
        var negative = ByteBuffer()
        negative.writeInteger(Int16(-2))
        #expect(throws: WireError.invalidLength(-2)) { try HeartbeatRequest.decode(from: negative, version: 0) }
        // Leftover bytes after a complete body.
        var leftover = try! HeartbeatResponse(errorCode: .none).encoded(version: 0)
        leftover.writeInteger(UInt8(0))
        #expect(throws: WireError.leftoverBytes(1)) { try HeartbeatResponse.decode(from: leftover, version: 0) }
        // A frame size over the limit, and a negative one.
        var big = ByteBuffer()
        big.writeInteger(Int32(4097))
        #expect(throws: WireError.frameTooLarge(size: 4097, limit: 4096)) {
            try FrameSplitter(maxFrameSize: 4096).nextFrame(from: &big)
        }
        var negativeFrame = ByteBuffer()
        negativeFrame.writeInteger(Int32(-1))
        #expect(throws: WireError.frameTooLarge(size: -1, limit: 4096)) {
            try FrameSplitter(maxFrameSize: 4096).nextFrame(from: &negativeFrame)
        }
    }
}

extension WireError {
    fileprivate var frameSize: Int32 {
        if case .frameTooLarge(let size, _) = self { Int32(size) } else { 0 }
    }
}
