public import NIOCore
public import SpateWire

/// SplitMix64: a tiny seeded generator, so every run benchmarks the same bytes.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One mebibyte.
public let oneMiB = 1 << 20

/// Deterministic pseudo-random bytes (incompressible), `count` long.
public func randomBytes(count: Int, seed: UInt64 = 42) -> ByteBuffer {
    var generator = SeededGenerator(seed: seed)
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count)
    while buffer.readableBytes + 8 <= count {
        buffer.writeInteger(generator.next())
    }
    while buffer.readableBytes < count {
        buffer.writeInteger(UInt8(truncatingIfNeeded: generator.next()))
    }
    return buffer
}

/// Exactly `count` bytes of newline-separated JSON log lines, as an application would produce to Kafka: repeated keys,
/// a few services and levels, and varying IDs, latencies and messages. Generated from a fixed seed.
public func jsonLogLines(count: Int, seed: UInt64 = 7) -> ByteBuffer {
    var generator = SeededGenerator(seed: seed)
    let services = ["checkout", "payments", "inventory", "search", "auth", "shipping", "recommendations"]
    let levels = ["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
    let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
    let paths = ["/api/v1/orders", "/api/v1/cart", "/api/v2/items", "/api/v1/users/me", "/healthz", "/api/v1/search"]
    let messages = [
        "request completed", "cache miss, fetched from origin", "retrying upstream call",
        "slow query detected", "user session refreshed", "payment authorised", "item out of stock",
    ]
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count + 512)
    var timestamp: UInt64 = 1_700_000_000_000
    while buffer.readableBytes < count {
        timestamp += generator.next() % 50
        let service = services[Int(generator.next() % UInt64(services.count))]
        let level = levels[Int(generator.next() % UInt64(levels.count))]
        let method = methods[Int(generator.next() % UInt64(methods.count))]
        let path = paths[Int(generator.next() % UInt64(paths.count))]
        let message = messages[Int(generator.next() % UInt64(messages.count))]
        let status = [200, 200, 200, 201, 204, 404, 500][Int(generator.next() % 7)]
        let traceID = String(generator.next(), radix: 16)
        let userID = generator.next() % 100_000
        let latency = Double(generator.next() % 250_000) / 100
        buffer.writeString(
            #"{"ts":\#(timestamp),"level":"\#(level)","service":"\#(service)","host":"\#(service)-\#(userID % 8)","#
                + #""trace_id":"\#(traceID)","user_id":\#(userID),"method":"\#(method)","path":"\#(path)","#
                + #""status":\#(status),"latency_ms":\#(latency),"msg":"\#(message)"}"# + "\n"
        )
    }
    buffer.moveWriterIndex(to: buffer.readerIndex + count)
    return buffer
}

/// One uncompressed v2 record batch of `recordCount` records whose values are `valueSize` random bytes each (no keys,
/// no headers), built with `RecordBatchBuilder` as a producer would. By default an idempotent producer's first batch
/// (producer id 1,000, epoch 0, sequence 0); `idempotent: false` builds it without a producer id (-1), as a
/// non-idempotent producer does (same size: the header has the same fields either way).
public func makeBatch(recordCount: Int, valueSize: Int, seed: UInt64 = 1, idempotent: Bool = true) -> ByteBuffer {
    let values = randomBytes(count: recordCount * valueSize, seed: seed)
    var builder =
        idempotent
        ? RecordBatchBuilder(producerID: 1_000, producerEpoch: 0, baseSequence: 0)
        : RecordBatchBuilder()
    for index in 0..<recordCount {
        let value = values.getSlice(at: values.readerIndex + index * valueSize, length: valueSize)
        builder.append(key: nil, value: value, timestamp: 1_700_000_000_000 + Int64(index))
    }
    do {
        return try builder.build(compressor: nil)
    } catch {
        fatalError("building a benchmark batch failed: \(error)")
    }
}

/// A Produce request to one topic and partition whose `records` field is one batch of `recordCount` × `valueSize`.
public func makeProduceRequest(recordCount: Int, valueSize: Int) -> ProduceRequest {
    let batch = makeBatch(recordCount: recordCount, valueSize: valueSize)
    return ProduceRequest(
        transactionalID: nil,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [
            ProduceRequest.TopicProduceData(
                name: "benchmark-topic",
                partitionData: [ProduceRequest.PartitionProduceData(index: 0, records: RecordSet(buffer: batch))]
            )
        ]
    )
}
