import NIOCore
import Testing

@testable import SpateClient

@Suite struct PartitionerTests {
    /// Kafka's `UtilsTest.testMurmur2` cases.
    @Test func murmur2MatchesKafka() {
        let cases: [(String, Int32)] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (input, expected) in cases {
            #expect(DefaultPartitioner.murmur2(Array(input.utf8)) == expected, "murmur2(\(input))")
        }
    }

    @Test func keyedPartitionSpreadsAndIsStable() {
        var seen = Set<Int32>()
        for i in 0..<100 {
            let key = ByteBuffer(string: "k\(i)")
            let partition = DefaultPartitioner.partition(forKey: key, partitionCount: 3)
            #expect(partition == DefaultPartitioner.partition(forKey: Array("k\(i)".utf8), partitionCount: 3))
            seen.insert(partition)
        }
        #expect(seen == [0, 1, 2])
    }

    @Test func sequenceNumbersWrap() {
        #expect(Producer.incrementSequence(5, by: 3) == 8)
        #expect(Producer.incrementSequence(Int32.max - 1, by: 1) == Int32.max)
        #expect(Producer.incrementSequence(Int32.max, by: 1) == 0)
        #expect(Producer.incrementSequence(Int32.max - 1, by: 3) == 1)
    }
}
