// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "spate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spate", targets: ["spate"]),
        .library(name: "SpateRecords", targets: ["SpateRecords"]),
        .library(name: "SpateWire", targets: ["SpateWire"]),
        .library(name: "SpateCompression", targets: ["SpateCompression"]),
        .library(name: "SpateStorage", targets: ["SpateStorage"]),
        .library(name: "SpateCoordinators", targets: ["SpateCoordinators"]),
        .library(name: "SpateBroker", targets: ["SpateBroker"]),
        .library(name: "SpateClient", targets: ["SpateClient"]),
        .library(name: "SpateTesting", targets: ["SpateTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // MARK: C shims
        .target(name: "CSpateCRC32C"),
        // fallocate(FALLOC_FL_KEEP_SIZE) for segment preallocation (glibc declares it only under _GNU_SOURCE).
        .target(name: "CSpateFileIO"),
        .systemLibrary(name: "CSpateZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSpateSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CSpateLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSpateZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // MARK: Libraries
        .target(
            name: "SpateRecords",
            dependencies: [
                "CSpateCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpateWire",
            dependencies: [
                "SpateRecords",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpateCompression",
            dependencies: [
                "SpateRecords", "CSpateZlib", "CSpateSnappy", "CSpateLZ4", "CSpateZstd",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpateStorage",
            dependencies: [
                "SpateRecords",
                "CSpateFileIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpateCoordinators",
            dependencies: [
                "SpateWire", "SpateRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpateBroker",
            dependencies: [
                "SpateWire", "SpateRecords", "SpateStorage", "SpateCompression", "SpateCoordinators",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpateClient",
            dependencies: [
                "SpateWire", "SpateRecords", "SpateCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpateTesting",
            dependencies: [
                "SpateBroker", "SpateStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "spate",
            dependencies: [
                "SpateWire", "SpateRecords", "SpateBroker", "SpateClient",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "spate-log-torture",
            dependencies: [
                "SpateStorage", "SpateRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "spate-wire-gen",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "SpateRecordsTests",
            dependencies: ["SpateRecords", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateWireTests",
            dependencies: ["SpateWire", "SpateRecords", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateWireGenTests",
            dependencies: ["spate-wire-gen"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InteropTests",
            dependencies: [
                "SpateWire", "SpateRecords", "SpateCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateStorageTests",
            dependencies: [
                "SpateStorage", "SpateRecords", "SpateCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageCrashTests",
            dependencies: ["SpateStorage", "SpateRecords"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateBrokerTests",
            dependencies: [
                "SpateBroker", "SpateTesting", "SpateWire", "SpateStorage", "SpateRecords", "SpateCoordinators",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateCoordinatorsTests",
            dependencies: ["SpateCoordinators", "SpateWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateClientTests",
            dependencies: [
                "SpateClient", "SpateTesting", "SpateBroker", "SpateWire", "SpateRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpateCompressionTests",
            dependencies: ["SpateCompression", "SpateRecords", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
    ]
)
