import ArgumentParser
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import SpateClient
import SpateRecords
import SpateWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `spate bench produce|consume|e2e`: a load generator in the spirit of kafka-producer-perf-test, built on SpateClient.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure produce, consume and end-to-end throughput and latency.",
        discussion: """
            produce sends --records records (or for --duration seconds) of --record-size bytes, as fast as acknowledged \
            or at --rate records/s, from --producers producers; latency is send to acknowledgement. consume reads the \
            topic from the beginning with --consumers consumers (partitions split between them) until --records \
            records were read or --timeout seconds pass without one. e2e produces at --rate (default 1000/s) and \
            consumes at the same time; latency is produce to consume, carried in each record.

            A live line (rate, MB/s, average and p99 latency) is printed each second when stdout is a terminal; the \
            summary has throughput and latency percentiles from an HDR histogram. --json prints one object with the \
            keys records, records_per_sec, mb_per_sec and latency_ms (p50, p99, p999, max).

            Examples:
              spate bench produce --topic bench --records 1000000 --record-size 1024 --partitions 8 --acks 1
              spate bench produce --topic bench --duration 30 --rate 50000 --compression lz4 --producers 2
              spate bench consume --topic bench --records 1000000 --consumers 2 --json
              spate bench e2e --topic bench-e2e --duration 20 --rate 2000
            """,
        subcommands: [ProduceBench.self, ConsumeBench.self, EndToEndBench.self])
}

struct BenchOptions: ParsableArguments {
    @Option(help: "The topic.") var topic: String = "spate-bench"
    @Option(help: "Records to send or read (default 1000000 unless --duration is given).") var records: Int?
    @Option(help: ArgumentHelp("Run for this long instead of a record count.", valueName: "seconds")) var duration: Double?
    @Option(help: ArgumentHelp("Value size.", valueName: "bytes")) var recordSize: Int = 1024
    @Option(help: ArgumentHelp("Records per second, 0 for unlimited.", valueName: "records/s")) var rate: Double?
    @Option(help: "Partitions of the topic, which is created if missing.") var partitions: Int32 = 1
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: ArgumentHelp("The producer's linger (default: the client's, 5 ms).", valueName: "ms"))
    var lingerMs: Int?
    @Option(help: ArgumentHelp("The producer's batch size (default: the client's, 16384).", valueName: "bytes"))
    var batchSize: Int?
    @Option(
        help: ArgumentHelp(
            "The producer's Produce requests in flight per connection (default: the client's, 5; at most 5 with acks=all, which is idempotent).",
            valueName: "requests"))
    var maxInFlight: Int?
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        if let records, records <= 0 { throw ValidationError("--records must be positive") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
        guard self.recordSize >= 8 else { throw ValidationError("--record-size must be at least 8 bytes") }
        if let rate, rate < 0 { throw ValidationError("--rate must not be negative") }
        if let lingerMs, lingerMs < 0 { throw ValidationError("--linger-ms must not be negative") }
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size must be positive") }
        if let maxInFlight, maxInFlight < 1 { throw ValidationError("--max-in-flight must be at least 1") }
        guard self.partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
        guard ProducerConfiguration.Acks(name: self.acks) != nil else { throw ValidationError("--acks must be 0, 1 or all") }
        guard CompressionType(name: self.compression) != nil else {
            throw ValidationError("--compression must be none, gzip, snappy, lz4 or zstd")
        }
    }

    /// When to stop: a record count, or a deadline.
    var limit: (records: Int, deadline: ContinuousClock.Instant?) {
        if let duration = self.duration {
            return (self.records ?? .max, .now + .milliseconds(Int64(duration * 1000)))
        }
        return (self.records ?? 1_000_000, nil)
    }

    func producerConfiguration(_ client: ClientConfiguration) -> ProducerConfiguration {
        var configuration = ProducerConfiguration(client: client)
        configuration.acks = ProducerConfiguration.Acks(name: self.acks) ?? .all
        configuration.compression = CompressionType(name: self.compression) ?? .none
        if let lingerMs = self.lingerMs { configuration.linger = .milliseconds(lingerMs) }
        if let batchSize = self.batchSize { configuration.batchSize = batchSize }
        if let maxInFlight = self.maxInFlight { configuration.maxInFlightRequestsPerConnection = maxInFlight }
        return configuration
    }
}

/// Counts and latencies shared by the tasks of a run, with an interval view for the live line.
final class BenchStats: Sendable {
    private struct State {
        var records = 0
        var bytes = 0
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var interval = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var intervalRecords = 0
        var intervalBytes = 0
    }

    private let state = NIOLockedValueBox(State())
    let started = ContinuousClock.now

    /// Records `count` records of `bytes` bytes, with a latency in microseconds if measured.
    func add(count: Int, bytes: Int, latencyMicroseconds: UInt64?) {
        self.state.withLockedValue { state in
            state.records += count
            state.bytes += bytes
            state.intervalRecords += count
            state.intervalBytes += bytes
            if let latency = latencyMicroseconds {
                _ = state.latency.record(latency)
                _ = state.interval.record(latency)
            }
        }
    }

    var records: Int { self.state.withLockedValue { $0.records } }

    /// The live line for the interval since the previous call.
    func intervalLine(seconds: Double) -> String {
        self.state.withLockedValue { state in
            defer {
                state.interval.reset()
                state.intervalRecords = 0
                state.intervalBytes = 0
            }
            let rate = Double(state.intervalRecords) / seconds
            let mb = Double(state.intervalBytes) / seconds / 1_048_576
            var line = "\(format(rate, 0)) records/s, \(format(mb, 1)) MB/s"
            if state.interval.totalCount > 0 {
                line += ", latency avg \(format(state.interval.mean / 1000, 2)) ms, p99 "
                    + "\(format(Double(state.interval.valueAtPercentile(99)) / 1000, 2)) ms"
            }
            return line
        }
    }

    /// The summary, as text or as one JSON object.
    func summary(json: Bool) -> String {
        let elapsed = ContinuousClock.now - self.started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return self.state.withLockedValue { state in
            let rate = Double(state.records) / seconds
            let mb = Double(state.bytes) / seconds / 1_048_576
            let hasLatency = state.latency.totalCount > 0
            func ms(_ percentile: Double) -> Double { Double(state.latency.valueAtPercentile(percentile)) / 1000 }
            let maximum = Double(state.latency.max) / 1000
            if json {
                let latency =
                    hasLatency
                    ? "{\"p50\":\(format(ms(50), 3)),\"p99\":\(format(ms(99), 3)),\"p999\":\(format(ms(99.9), 3)),\"max\":\(format(maximum, 3))}"
                    : "null"
                return "{\"records\":\(state.records),\"records_per_sec\":\(format(rate, 1)),\"mb_per_sec\":\(format(mb, 2)),"
                    + "\"latency_ms\":\(latency)}"
            }
            var text = "\(state.records) records in \(format(seconds, 2)) s: \(format(rate, 0)) records/s, \(format(mb, 2)) MB/s"
            if hasLatency {
                text += "\nlatency ms: avg \(format(state.latency.mean / 1000, 3)), p50 \(format(ms(50), 3)), "
                    + "p99 \(format(ms(99), 3)), p99.9 \(format(ms(99.9), 3)), max \(format(maximum, 3))"
            }
            return text
        }
    }
}

/// `value` with `decimals` digits after the point, without Foundation.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if decimals == 0 { return String(Int64(rounded)) }
    let whole = Int64(rounded.rounded(.towardZero))
    var fraction = String(Int64(((abs(rounded) - Double(abs(whole))) * scale).rounded()))
    while fraction.count < decimals { fraction = "0" + fraction }
    return (rounded < 0 && whole == 0 ? "-" : "") + String(whole) + "." + fraction
}

/// Nanoseconds of the monotonic clock: what e2e records carry from producer to consumer (same process).
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Runs `body` while printing the live line each second when stdout is a terminal.
func withProgress<T: Sendable>(_ stats: BenchStats, json: Bool, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard isatty(1) == 1, !json else { return try await body() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                writeAll("\r\u{1B}[K" + stats.intervalLine(seconds: 1), to: 1)
            }
            return nil
        }
        group.addTask { try await body() }
        var result: T?
        for try await value in group {
            if let value {
                result = value
                group.cancelAll()
            }
        }
        writeAll("\r\u{1B}[K", to: 1)
        return result!
    }
}

/// Creates the topic with `partitions` partitions unless it exists.
func ensureTopic(_ name: String, partitions: Int32, client: ClientConfiguration) async throws {
    let admin = Admin(configuration: client)
    do {
        try await admin.createTopic(NewTopic(name: TopicName(name), partitions: partitions))
    } catch {
        await admin.close()
        if (error as? KafkaClientError)?.kafkaErrorCode == .topicAlreadyExists { return }
        throw error
    }
    await admin.close()
}

/// Sends records from `producers` producers until the limit; latency is send to acknowledgement. `stamp` writes
/// the send time into each value (e2e).
func runProducers(
    _ options: BenchOptions, producers: Int, rate: Double, client: ClientConfiguration, stats: BenchStats, stamp: Bool,
    until limit: (records: Int, deadline: ContinuousClock.Instant?)
) async throws {
    let configuration = options.producerConfiguration(client)
    let topic = TopicName(options.topic)
    let size = options.recordSize
    let perProducer = limit.records == .max ? Int.max : (limit.records + producers - 1) / producers
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<producers {
            let count = limit.records == .max ? Int.max : min(perProducer, limit.records - index * perProducer)
            let share = rate / Double(producers)
            group.addTask {
                try await Producer.withProducer(configuration: configuration) { producer in
                    let start = ContinuousClock.now
                    let template = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
                    let failure = NIOLockedValueBox<KafkaClientError?>(nil)
                    var sent = 0
                    // Records go to the producer in chunks (one call each), with a callback per record: no task
                    // and no suspension per record. The producer's buffer (bufferMemory) bounds what is in flight.
                    var chunk: [ProducerRecord] = []
                    chunk.reserveCapacity(benchChunkSize)
                    while sent < count {
                        if let deadline = limit.deadline, ContinuousClock.now >= deadline { break }
                        var n = min(benchChunkSize, count - sent)
                        if share > 0 {
                            // Records due by now, at least one (after waiting for its time).
                            let elapsed = ContinuousClock.now - start
                            let due = Int(elapsed.inSeconds * share) + 1 - sent
                            if due <= 0 {
                                try await Task.sleep(until: start + .nanoseconds(Int64(Double(sent) / share * 1e9)))
                                continue
                            }
                            n = min(n, due)
                        }
                        chunk.removeAll(keepingCapacity: true)
                        for _ in 0..<n {
                            var value = template
                            if stamp { value.setInteger(monotonicNanoseconds(), at: value.readerIndex) }
                            chunk.append(ProducerRecord(topic: topic, value: value))
                        }
                        let sentAt = monotonicNanoseconds()
                        try await producer.enqueue(contentsOf: chunk) { result in
                            switch result {
                            case .success:
                                // Plain integer nanoseconds: this runs once per record.
                                let now = monotonicNanoseconds()
                                stats.add(
                                    count: 1, bytes: size,
                                    latencyMicroseconds: stamp ? nil : (now > sentAt ? (now - sentAt) / 1000 : 0))
                            case .failure(let error):
                                failure.withLockedValue { if $0 == nil { $0 = error } }
                            }
                        }
                        sent += n
                        if let error = failure.withLockedValue({ $0 }) { throw error }
                    }
                    try await producer.flush()
                    if let error = failure.withLockedValue({ $0 }) { throw error }
                }
            }
        }
        try await group.waitForAll()
    }
}

/// Records per call into the producer.
private let benchChunkSize = 256

extension Duration {
    var inMicroseconds: Int64 { self.components.seconds * 1_000_000 + self.components.attoseconds / 1_000_000_000_000 }
    var inSeconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}

struct ProduceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Produce as fast as acknowledged (or at --rate) and report throughput and latency.",
        discussion: """
            Examples:
              spate bench produce --topic bench --records 1000000 --partitions 8 --acks 1
              spate bench produce --topic bench --duration 30 --rate 20000 --producers 2 --json
            """)

    @OptionGroup var client: ClientOptions
    @OptionGroup var options: BenchOptions
    @Option(help: "Producers in parallel.") var producers: Int = 1

    func run() async throws {
        let clientConfiguration = try self.client.makeConfiguration(clientID: "spate-bench")
        let stats = BenchStats()
        try await runClient(brokers: self.client) {
            try await ensureTopic(self.options.topic, partitions: self.options.partitions, client: clientConfiguration)
            let options = self.options
            let producers = max(1, self.producers)
            try await withProgress(stats, json: options.json) {
                try await runProducers(
                    options, producers: producers, rate: options.rate ?? 0, client: clientConfiguration, stats: stats,
                    stamp: false, until: options.limit)
            }
        }
        print(stats.summary(json: self.options.json))
    }
}

/// Reads the topic with `consumers` consumers (partitions split between them) until `limit` records were read,
/// the deadline passes, or `idle` passes without a record. With `stamped`, latency is from the record's send time.
func runConsumers(
    topic: String, consumers: Int, start: SeekTarget, client: ClientConfiguration, stats: BenchStats, stamped: Bool,
    limit: (records: Int, deadline: ContinuousClock.Instant?), idle: Duration?, maxPartitionBytes: Int32? = nil,
    ready: (@Sendable () -> Void)? = nil
) async throws {
    var configuration = ConsumerConfiguration(client: client)
    configuration.autoOffsetReset = .earliest
    configuration.maxWait = .milliseconds(100)
    if let maxPartitionBytes { configuration.maxPartitionBytes = maxPartitionBytes }
    let settings = configuration
    let probe = try Consumer(configuration: settings)
    let partitions = try await probe.assign(topic: TopicName(topic), from: start)
    await probe.close()
    let count = max(1, min(consumers, partitions.count))
    // Every consumer has its start positions before `ready` is called (e2e starts producing then).
    let positioned = NIOLockedValueBox(0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<count {
            let mine = partitions.enumerated().filter { $0.offset % count == index }.map(\.element)
            group.addTask {
                let consumer = try Consumer(configuration: settings)
                await consumer.assign(mine, from: start)
                for partition in mine { _ = try await consumer.position(of: partition) }
                if positioned.withLockedValue({ $0 += 1; return $0 }) == count { ready?() }
                var lastRecord = ContinuousClock.now
                while stats.records < limit.records {
                    if let deadline = limit.deadline, ContinuousClock.now >= deadline { break }
                    if let idle, ContinuousClock.now - lastRecord > idle { break }
                    let records = try await consumer.poll(maxWait: .milliseconds(100))
                    guard !records.isEmpty else { continue }
                    lastRecord = .now
                    let now = monotonicNanoseconds()
                    var bytes = 0
                    for record in records {
                        let size = record.value?.readableBytes ?? 0
                        bytes += size
                        if stamped, let value = record.value, let sentAt: UInt64 = value.getInteger(at: value.readerIndex) {
                            stats.add(count: 1, bytes: size, latencyMicroseconds: now > sentAt ? (now - sentAt) / 1000 : 0)
                        }
                    }
                    if !stamped { stats.add(count: records.count, bytes: bytes, latencyMicroseconds: nil) }
                }
                await consumer.close()
            }
        }
        try await group.waitForAll()
    }
}

struct ConsumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Read a topic from the beginning as fast as possible and report throughput.",
        discussion: """
            Examples:
              spate bench consume --topic bench --records 1000000
              spate bench consume --topic bench --consumers 2 --timeout 5 --json
            """)

    @OptionGroup var client: ClientOptions
    @OptionGroup var options: BenchOptions
    @Option(help: "Consumers in parallel (the topic's partitions are split between them).") var consumers: Int = 1
    @Option(help: ArgumentHelp("Stop after this long without a record.", valueName: "seconds")) var timeout: Double = 5
    @Option(
        help: ArgumentHelp(
            "The most bytes a fetch returns per partition (max.partition.fetch.bytes). The bench fetches 10 MiB per partition; the client library's default is Kafka's 1 MiB.",
            valueName: "bytes"))
    var maxPartitionBytes: Int32 = 10 << 20

    func validate() throws {
        if maxPartitionBytes <= 0 { throw ValidationError("--max-partition-bytes must be positive") }
    }

    func run() async throws {
        let clientConfiguration = try self.client.makeConfiguration(clientID: "spate-bench")
        let stats = BenchStats()
        try await runClient(brokers: self.client) {
            let options = self.options
            let consumers = self.consumers
            let idle = Duration.milliseconds(Int64(self.timeout * 1000))
            let maxPartitionBytes = self.maxPartitionBytes
            try await withProgress(stats, json: options.json) {
                try await runConsumers(
                    topic: options.topic, consumers: consumers, start: .beginning, client: clientConfiguration,
                    stats: stats, stamped: false, limit: options.limit, idle: idle, maxPartitionBytes: maxPartitionBytes)
            }
        }
        print(stats.summary(json: self.options.json))
    }
}

struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e", abstract: "Produce at a fixed rate while consuming; report produce-to-consume latency.",
        discussion: """
            Examples:
              spate bench e2e --topic bench-e2e --duration 20 --rate 2000
              spate bench e2e --topic bench-e2e --records 50000 --rate 5000 --acks 1 --json
            """)

    @OptionGroup var client: ClientOptions
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let clientConfiguration = try self.client.makeConfiguration(clientID: "spate-bench")
        let stats = BenchStats()
        let options = self.options
        let limit = options.duration == nil && options.records == nil ? (records: 10_000, deadline: nil) : options.limit
        let rate = options.rate ?? 1000
        try await runClient(brokers: self.client) {
            try await ensureTopic(options.topic, partitions: options.partitions, client: clientConfiguration)
            let produced = BenchStats()
            let consumeLimit = (records: limit.records, deadline: limit.deadline.map { $0 + .seconds(5) })
            let (consumerReady, signal) = AsyncStream<Void>.makeStream()
            try await withProgress(stats, json: options.json) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await runConsumers(
                            topic: options.topic, consumers: 1, start: .end, client: clientConfiguration, stats: stats,
                            stamped: true, limit: consumeLimit, idle: .seconds(10), ready: { signal.finish() })
                    }
                    group.addTask {
                        // Produce once the consumer sits at the log end, so that it sees every record.
                        for await _ in consumerReady {}
                        try await runProducers(
                            options, producers: 1, rate: rate, client: clientConfiguration, stats: produced, stamp: true,
                            until: limit)
                    }
                    try await group.waitForAll()
                }
            }
        }
        print(stats.summary(json: options.json))
    }
}
