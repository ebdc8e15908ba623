import Foundation
import NIOCore
import SpateCompression
import SpateRecords
import SpateWire
import Testing

/// What real clients send, decoded exactly: kcat (Debian's librdkafka) and confluent-kafka (PyPI's librdkafka) connect
/// to a ``CaptureBroker``, which records every frame. Each frame must decode with no byte left over; the client must
/// open with ApiVersions, ask for Metadata before producing, and the records inside its Produce requests, decompressed
/// with each of Kafka's four codecs, must be exactly the ones sent (most of them in batches of that codec; librdkafka
/// sends a batch uncompressed when compression would not shrink it).
@Suite(.serialized) struct RealClientCaptureTests {
    static let codecs: [CompressionType] = [.none, .gzip, .snappy, .lz4, .zstd]
    static let count = 400

    struct SentRecord: Equatable, CustomStringConvertible {
        var key: String
        var value: String?
        var headers: [String: String]
        var description: String { "\(self.key)=\(self.value ?? "<null>") \(self.headers)" }
    }

    @Test(arguments: Self.codecs)
    func kcatProduce(codec: CompressionType) async throws {
        let broker = try await CaptureBroker.start()
        // kcat -Z sends an empty value as null; -H adds the header to every record.
        let values = (0..<Self.count).map { $0 == 0 ? "" : Self.value($0) }
        let input = zip(0..<Self.count, values).map { "key-\($0):\($1)\n" }.joined()
        let result = try await run(
            [
                "kcat", "-P", "-b", "127.0.0.1:\(broker.port)", "-t", "capture-kcat", "-K", ":", "-Z",
                "-z", codec.description, "-H", "h=hv", "-X", "enable.idempotence=false",
            ], stdin: input)
        try await broker.stop()
        #expect(result.status == 0, "kcat failed: \(result.stderr)")
        let expected = (0..<Self.count).map { i in
            SentRecord(key: "key-\(i)", value: i == 0 ? nil : Self.value(i), headers: ["h": "hv"])
        }
        try Self.check(broker.capturedFrames, codec: codec, expected: expected)
    }

    @Test(arguments: Self.codecs)
    func confluentKafkaProduce(codec: CompressionType) async throws {
        let broker = try await CaptureBroker.start()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/produce_confluent.py").path
        let result = try await run(
            ["python3", script, "127.0.0.1:\(broker.port)", "capture-confluent", codec.description, "\(Self.count)"])
        try await broker.stop()
        #expect(result.status == 0, "confluent-kafka failed: \(result.stderr)")
        let expected = (0..<Self.count).map { i in
            SentRecord(
                key: "key-\(i)", value: i == 0 ? nil : "value-\(i)-" + String(repeating: "x", count: i % 7),
                headers: ["h": "hv-\(i)"])
        }
        try Self.check(broker.capturedFrames, codec: codec, expected: expected)
    }

    /// A compressible value, so that librdkafka keeps the compressed form (it sends a batch uncompressed when
    /// compression would not make it smaller).
    static func value(_ i: Int) -> String {
        "value-\(i)-" + String(repeating: "spate ", count: i % 5 + 1)
    }

    static func check(_ frames: [ByteBuffer], codec: CompressionType, expected: [SentRecord]) throws {
        // Every frame decodes exactly: RequestFrame(decoding:) rejects leftover bytes.
        let decoded = try frames.map { try RequestFrame(decoding: $0) }
        let keys = decoded.map(\.header.apiKey)
        #expect(keys.first == .apiVersions, "first request was \(String(describing: keys.first))")
        let firstMetadata = try #require(keys.firstIndex(of: .metadata))
        let firstProduce = try #require(keys.firstIndex(of: .produce))
        #expect(firstMetadata < firstProduce)

        var received: [SentRecord] = []
        var compressedRecords = 0
        let compressor = StandardRecordsCompressor()
        for frame in decoded {
            guard case .produce(let produce) = frame.body else { continue }
            #expect(frame.header.apiVersion >= 3)
            for topic in produce.topicData {
                for partition in topic.partitionData {
                    let records = try #require(partition.records)
                    for batch in try records.validateBatches() {
                        // librdkafka sends a batch uncompressed when compressing would not make it smaller.
                        #expect(
                            batch.compression == codec || batch.compression == CompressionType.none,
                            "batch compressed with \(String(describing: batch.compression))")
                        if batch.compression == codec { compressedRecords += Int(batch.recordCount) }
                        for record in try batch.records(using: compressor, maxDecompressedSize: 64 << 20) {
                            received.append(
                                SentRecord(
                                    key: record.key.map { String(buffer: $0) } ?? "<null>",
                                    value: record.value.map { String(buffer: $0) },
                                    headers: Dictionary(
                                        record.headers.map { ($0.key, $0.value.map { String(buffer: $0) } ?? "") },
                                        uniquingKeysWith: { a, _ in a })))
                        }
                    }
                }
            }
        }
        #expect(compressedRecords > expected.count / 2, "only \(compressedRecords) records were sent with \(codec)")
        #expect(received.count == expected.count)
        #expect(received == expected)
    }
}
