import Benchmark
import BenchmarkSupport
import NIOCore
import SpateRecords

// CRC-32C (issue 2): the SSE4.2 path (`CRC32C.checksum`, chosen at run time) against the portable slicing-by-8 table
// (`CRC32C.checksumPortable`) on 1 MiB and 4 KiB of random bytes. GB/s = bytes × throughput (see BENCHMARKS.md).

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]
    let sizes: [(label: String, bytes: Int, scaling: BenchmarkScalingFactor)] = [
        ("1 MiB", oneMiB, .one),  // 70-700 µs per checksum
        ("4 KiB", 4 << 10, .kilo),  // 0.3-3 µs per checksum: 1,000 per measured iteration
    ]
    for size in sizes {
        let buffer = randomBytes(count: size.bytes, seed: 99)
        precondition(CRC32C.checksum(buffer) == CRC32C.checksumPortable(buffer))
        let configuration = Benchmark.Configuration(
            metrics: metrics,
            scalingFactor: size.scaling,
            maxDuration: .seconds(2),
            maxIterations: 10_000
        )
        Benchmark("CRC32C SSE4.2 \(size.label)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(CRC32C.checksum(buffer))
            }
        }
        Benchmark("CRC32C portable \(size.label)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(CRC32C.checksumPortable(buffer))
            }
        }
    }
}
