public import NIOCore

/// The Java client's default partitioner, which librdkafka calls `murmur2_random`.
///
/// A keyed record goes to `toPositive(murmur2(key)) % partitionCount` (Kafka's `Utils.murmur2` and
/// `BuiltInPartitioner.partitionForKey`), so a key lands on the same partition whichever of these clients produced
/// it. Keyless records are spread by the producer's sticky partitioning (KIP-480): they fill one partition's batch,
/// then move to another.
public enum DefaultPartitioner {
    /// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`.
    public static func murmur2<Bytes: Collection>(_ data: Bytes) -> Int32 where Bytes.Element == UInt8 {
        let bytes = Array(data)
        let length = bytes.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let length4 = length / 4
        for i in 0..<length4 {
            let i4 = i * 4
            var k = UInt32(bytes[i4]) | UInt32(bytes[i4 + 1]) << 8 | UInt32(bytes[i4 + 2]) << 16 | UInt32(bytes[i4 + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = length & ~3
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 1:
            h ^= UInt32(bytes[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition for a keyed record: `(murmur2(key) & 0x7fffffff) % partitionCount`.
    /// - Precondition: `partitionCount > 0`.
    public static func partition<Bytes: Collection>(forKey key: Bytes, partitionCount: Int32) -> Int32
    where Bytes.Element == UInt8 {
        (self.murmur2(key) & 0x7fff_ffff) % partitionCount
    }

    /// The partition for a keyed record whose key is in a buffer.
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        self.partition(forKey: key.readableBytesView, partitionCount: partitionCount)
    }
}
