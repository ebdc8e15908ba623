import Benchmark
import BenchmarkSupport
import NIOCore
import SpateRecords
import SpateWire

// Produce request codec benchmarks (issue 2): 1 MiB of record values in one v2 batch, one topic, one partition.
//
// The `records` field is never parsed by the protocol codec: decoding it takes a zero-copy slice of the request
// body. The "decode by record count" group keeps the total at 1 MiB and varies only the number of records, so its
// figures should not depend on the count. The "records parse" group shows, for contrast, what walking the same
// records costs when they *are* parsed (as the log layer does when it validates a batch record by record).

/// The versions measured: 11 (newest, flexible/compact encoding) and 8 (newest classic encoding).
let versions: [Int16] = [11, 8]

/// 1 MiB of values split three ways.
let shapes: [(label: String, count: Int, size: Int)] = [
    ("16 x 64 KiB", 16, 64 << 10),
    ("1024 x 1 KiB", 1_024, 1 << 10),
    ("16384 x 64 B", 16_384, 64),
]

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]
    // Encoding copies the 1 MiB records field once (tens of microseconds): one request per measured iteration.
    let copyConfiguration = Benchmark.Configuration(
        metrics: metrics,
        scalingFactor: .one,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )
    // Decoding does not copy the records: ~1 µs, so 1,000 decodes per measured iteration.
    let sliceConfiguration = Benchmark.Configuration(
        metrics: metrics,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 2_000
    )

    // The main case: 1,024 records of 1 KiB.
    let request = makeProduceRequest(recordCount: 1_024, valueSize: 1 << 10)

    for version in versions {
        let encoded = try! request.encoded(version: version)
        precondition(try! ProduceRequest.decode(from: encoded, version: version) == request)

        Benchmark("Produce v\(version) encode 1 MiB (1024 x 1 KiB)", configuration: copyConfiguration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try request.encoded(version: version))
            }
        }

        Benchmark("Produce v\(version) decode 1 MiB (1024 x 1 KiB)", configuration: sliceConfiguration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try ProduceRequest.decode(from: encoded, version: version))
            }
        }

        Benchmark("Produce v\(version) encode+decode 1 MiB (1024 x 1 KiB)", configuration: copyConfiguration) {
            benchmark in
            for _ in benchmark.scaledIterations {
                let bytes = try request.encoded(version: version)
                blackHole(try ProduceRequest.decode(from: bytes, version: version))
            }
        }
    }

    // Decode cost against record count, at a constant 1 MiB of values.
    for shape in shapes {
        let shaped = makeProduceRequest(recordCount: shape.count, valueSize: shape.size)
        for version in versions {
            let encoded = try! shaped.encoded(version: version)
            Benchmark("Produce v\(version) decode by record count: \(shape.label)", configuration: sliceConfiguration) {
                benchmark in
                for _ in benchmark.scaledIterations {
                    blackHole(try ProduceRequest.decode(from: encoded, version: version))
                }
            }
        }

        // Contrast: parsing every record of the same batch (not done on the Produce decode path).
        let batchBytes = shaped.topicData[0].partitionData[0].records!.buffer
        Benchmark(
            "Records parse (contrast, not on decode path): \(shape.label)",
            configuration: .init(metrics: metrics, scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 10_000)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                let batch = try RecordBatch(buffer: batchBytes)
                blackHole(try batch.records(using: nil, maxDecompressedSize: 2 * oneMiB))
            }
        }
    }
}
