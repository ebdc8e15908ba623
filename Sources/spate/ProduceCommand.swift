import ArgumentParser
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SpateClient
import SpateWire

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce one record per input line.",
        discussion: """
            Reads lines from standard input (or --file) and produces each as a record's value. With --key-separator, \
            the text before the first separator is the key (a line without the separator has no key). Records without \
            a key are spread over the partitions in batches; keyed records go where Kafka's default partitioner puts \
            them. The producer is idempotent with --acks all (the default). Exits non-zero if any record failed.

            Examples:
              echo hello | spate produce orders
              printf 'k1:v1\\nk2:v2\\n' | spate produce orders --key-separator :
              spate produce orders --file records.txt --compression zstd --acks 1
              spate produce orders --header source=cli --header trace=abc --partition 0
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "The topic to produce to.") var topic: String
    @Option(help: "Read records from this file instead of standard input.") var file: String?
    @Option(help: ArgumentHelp("Split each line into key and value at the first occurrence of this text.", valueName: "sep"))
    var keySeparator: String?
    @Option(name: .customLong("header"), help: ArgumentHelp("A header on every record (repeatable).", valueName: "key=value"))
    var headers: [String] = []
    @Option(help: "The partition for every record (default: the partitioner chooses).") var partition: Int32?
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: ArgumentHelp("How long records may wait to be batched.", valueName: "ms")) var lingerMs: Int = 5

    func validate() throws {
        guard CompressionType(name: self.compression) != nil else {
            throw ValidationError("--compression must be none, gzip, snappy, lz4 or zstd (got '\(self.compression)')")
        }
        guard ProducerConfiguration.Acks(name: self.acks) != nil else {
            throw ValidationError("--acks must be 0, 1 or all (got '\(self.acks)')")
        }
        if let separator = self.keySeparator, separator.isEmpty {
            throw ValidationError("--key-separator must not be empty")
        }
    }

    func run() async throws {
        var configuration = ProducerConfiguration(client: try self.client.makeConfiguration(clientID: "spate-produce"))
        configuration.compression = CompressionType(name: self.compression)!
        configuration.acks = ProducerConfiguration.Acks(name: self.acks)!
        configuration.linger = .milliseconds(self.lingerMs)
        configuration.batchSize = 256 * 1024
        configuration.maxBlock = configuration.client.operationTimeout
        configuration.deliveryTimeout = max(configuration.client.operationTimeout, .seconds(30))
        let headers = try self.headers.map { text -> RecordHeader in
            let (key, value) = try parseKeyValue(text, option: "--header")
            return RecordHeader(key: key, value: ByteBuffer(string: value))
        }
        let lines: any LineSource
        if let path = self.file {
            guard let file = FileLines(path: path) else {
                printError("cannot open \(path)")
                throw ClientExit.failure
            }
            lines = file
        } else {
            lines = StandardInputLines()
        }
        let topic = TopicName(self.topic)
        let separator = self.keySeparator
        let partition = self.partition
        try await runClient(brokers: self.client) {
            try await Producer.withProducer(configuration: configuration) { producer in
                // Input is read on NIO's thread pool, a chunk at a time, so a slow pipe never blocks the
                // cooperative threads the producer runs on.
                let source = LineReader(lines)
                while true {
                    let chunk = try await NIOThreadPool.singleton.runIfActive { source.nextChunk(maxLines: 1024) }
                    if chunk.isEmpty { break }
                    for line in chunk {
                    var key: Substring?
                    var value = Substring(line)
                    if let separator, let range = line.firstRange(of: separator) {
                        key = line[..<range.lowerBound]
                        value = line[range.upperBound...]
                    }
                    try await producer.enqueue(
                        ProducerRecord(
                            topic: topic, partition: partition, key: key.map { ByteBuffer(substring: $0) },
                            value: ByteBuffer(substring: value), headers: headers))
                    }
                }
                try await producer.flush()
            }
        }
    }
}

/// Hands out lines of a ``LineSource`` in chunks, from whichever thread asks (one at a time).
final class LineReader: @unchecked Sendable {
    private var source: any LineSource
    private let lock = NIOLock()

    init(_ source: any LineSource) {
        self.source = source
    }

    func nextChunk(maxLines: Int) -> [String] {
        self.lock.lock()
        defer { self.lock.unlock() }
        var chunk: [String] = []
        while chunk.count < maxLines, let line = self.source.next() {
            chunk.append(line)
            if !self.source.hasBufferedInput { break }
        }
        return chunk
    }
}

/// Lines of input, without their line terminators.
protocol LineSource: Sendable {
    mutating func next() -> String?
    /// Whether more lines are ready without waiting (a pipe may block).
    var hasBufferedInput: Bool { get }
}

struct StandardInputLines: LineSource {
    /// Whether the pipe has bytes waiting (lines already in stdio's buffer count as not ready: the chunk just ends).
    var hasBufferedInput: Bool {
        var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    mutating func next() -> String? {
        guard var line = readLine(strippingNewline: true) else { return nil }
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }
}

struct FileLines: LineSource {
    var hasBufferedInput: Bool { true }

    private let bytes: [UInt8]
    private var position = 0

    /// Reads the whole file (nil when it cannot be opened or read).
    init?(path: String) {
        guard let bytes = readWholeFile(path) else { return nil }
        self.bytes = bytes
    }

    /// Splits on `\n` bytes (a Swift `String` would keep `\r\n` together as one character).
    mutating func next() -> String? {
        guard self.position < self.bytes.count else { return nil }
        var end = self.bytes[self.position...].firstIndex(of: UInt8(ascii: "\n")) ?? self.bytes.count
        let next = end + 1
        if end > self.position, self.bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        defer { self.position = next }
        return String(decoding: self.bytes[self.position..<end], as: UTF8.self)
    }
}
