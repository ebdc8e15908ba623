// swift-tools-version:6.1
// Spate's benchmarks: a separate package so that `swift build`, `swift test` and CI of the main package never build
// the benchmark framework. Run with `cd Benchmarks && swift package benchmark` (see BENCHMARKS.md at the repo root).
import PackageDescription

let benchmarkPlugin: [Target.PluginUsage] = [.plugin(name: "BenchmarkPlugin", package: "benchmark")]

let package = Package(
    name: "spate-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Only the MallocInterposer trait: the default trait set also needs a package that is not in the mirror.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(name: "spate", path: ".."),
    ],
    targets: [
        // Deterministic inputs shared by the benchmarks and the ratio tool.
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateWire", package: "spate"),
            ],
            path: "Support/BenchmarkSupport"
        ),
        // Storage helpers shared by StorageBenchmarks and StorageRecovery (logs in a temp directory, a 1 ms flusher).
        .target(
            name: "StorageBenchmarkSupport",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateRecords", package: "spate"),
                .product(name: "SpateStorage", package: "spate"),
            ],
            path: "Support/StorageBenchmarkSupport"
        ),
        // Prints the compression ratio of each codec on the benchmark input: `swift run -c release CompressionRatio`.
        .executableTarget(
            name: "CompressionRatio",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateCompression", package: "spate"),
            ],
            path: "Tools/CompressionRatio"
        ),
        // One-off storage timings (clean restart with 1,000 segments, crash recovery, cold sequential read):
        // `swift run -c release StorageRecovery` (see BENCHMARKS.md, "Storage (issue 3)").
        .executableTarget(
            name: "StorageRecovery",
            dependencies: [
                "StorageBenchmarkSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateRecords", package: "spate"),
                .product(name: "SpateStorage", package: "spate"),
            ],
            path: "Tools/StorageRecovery"
        ),
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateWire", package: "spate"),
                .product(name: "SpateRecords", package: "spate"),
            ],
            path: "Benchmarks/WireBenchmarks",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "CRC32CBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateRecords", package: "spate"),
            ],
            path: "Benchmarks/CRC32CBenchmarks",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "CompressionBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateCompression", package: "spate"),
            ],
            path: "Benchmarks/CompressionBenchmarks",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "StorageBenchmarks",
            dependencies: [
                "StorageBenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateRecords", package: "spate"),
                .product(name: "SpateStorage", package: "spate"),
            ],
            path: "Benchmarks/StorageBenchmarks",
            plugins: benchmarkPlugin
        ),
        // Group coordinator (issue 5): a rebalance of 100 members, OffsetCommit of 1,000 partitions, in the state
        // machine and its record encoding (what the broker spends besides the socket and the log append).
        .executableTarget(
            name: "GroupBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SpateWire", package: "spate"),
                .product(name: "SpateCoordinators", package: "spate"),
            ],
            path: "Benchmarks/GroupBenchmarks",
            plugins: benchmarkPlugin
        ),
    ]
)
