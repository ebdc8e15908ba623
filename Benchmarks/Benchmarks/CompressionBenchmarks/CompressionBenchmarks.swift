import Benchmark
import BenchmarkSupport
import NIOCore
import SpateCompression

// Compression (issue 2): Kafka's four codecs at their default levels on 1 MiB of JSON-like log lines generated from a
// fixed seed. Each iteration compresses (or decompresses) the whole 1 MiB into an output buffer that is cleared and
// reused, so the figures measure the codec rather than the growth of a fresh buffer. MB/s = 1 MiB × throughput; the
// ratios come from `swift run -c release CompressionRatio` (see BENCHMARKS.md).

let codecs: [(name: String, codec: any CompressionCodec)] = [
    ("gzip", GzipCodec()),
    ("snappy", SnappyCodec()),
    ("lz4", LZ4Codec()),
    ("zstd", ZstdCodec()),
]

let benchmarks: @Sendable () -> Void = {
    let input = jsonLogLines(count: oneMiB)
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .one,
        maxDuration: .seconds(2),
        maxIterations: 2_000
    )
    for (name, codec) in codecs {
        var compressed = ByteBuffer()
        try! codec.compress(input, into: &compressed)
        var check = ByteBuffer()
        try! codec.decompress(compressed, maxSize: 2 * oneMiB, into: &check)
        precondition(check == input, "\(name) round trip failed")

        Benchmark("\(name) compress 1 MiB JSON logs", configuration: configuration) { benchmark in
            var output = ByteBuffer()
            output.reserveCapacity(2 * oneMiB)
            for _ in benchmark.scaledIterations {
                output.clear()
                try codec.compress(input, into: &output)
                blackHole(output.readableBytes)
            }
        }
        Benchmark("\(name) decompress 1 MiB JSON logs", configuration: configuration) { benchmark in
            var output = ByteBuffer()
            output.reserveCapacity(2 * oneMiB)
            for _ in benchmark.scaledIterations {
                output.clear()
                try codec.decompress(compressed, maxSize: 2 * oneMiB, into: &output)
                blackHole(output.readableBytes)
            }
        }
    }
}
