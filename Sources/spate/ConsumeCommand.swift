import ArgumentParser
import NIOConcurrencyHelpers
import NIOCore
import SpateClient
import SpateWire
import UnixSignals

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's records.",
        discussion: """
            Reads every partition (or --partition) from --from and prints one record per line until --count records \
            have been printed, --timeout seconds pass without a record, or it is interrupted.

            --from takes beginning, end (the default: only new records), an offset (applied to every partition read), \
            or @TIMESTAMP_MS: the first record at or after that time (milliseconds since the epoch). An offset before \
            the log start reads from the log start; one beyond the end waits for new records.

            With --group G the consumer joins group G: the group shares the topic's partitions among its members, \
            each starts where the group last committed, and the offsets of the records printed are committed after \
            each batch and on exit. --from then only applies to partitions the group has no committed offset for, and \
            takes beginning or end. --group-protocol classic (the default) uses the classic protocol with the \
            cooperative-sticky assignor; consumer uses KIP-848 (the broker assigns; --server-assignor uniform|range \
            picks its assignor). SIGINT or SIGTERM makes a group member commit and leave the group before it exits \
            (status 0), so that the others take its partitions at once.

            --format value prints each value; kv prints key, separator, value; json prints one object per line with \
            the keys topic, partition, offset, timestamp, key, value and headers (a list of {"key", "value"} \
            objects); keys and values are UTF-8 text or null.

            Examples:
              spate consume orders --from beginning
              spate consume orders --from beginning --count 10 --format json
              spate consume orders --partition 2 --from 1500 --format kv --key-separator :
              spate consume orders --from @1700000000000 --timeout 5
              spate consume orders --group billing --from beginning
              spate consume orders --group billing --group-protocol consumer
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case value, kv, json
    }

    enum GroupProtocolName: String, ExpressibleByArgument, CaseIterable {
        case classic, consumer
    }

    @OptionGroup var client: ClientOptions
    @Argument(help: "The topic to consume.") var topic: String
    @Option(help: ArgumentHelp("beginning, end, an offset, or @timestamp-ms.", valueName: "position"))
    var from: String = "end"
    @Option(help: "Stop after this many records.") var count: Int?
    @Option(help: "Read only this partition.") var partition: Int32?
    @Option(help: ArgumentHelp("Consume as a member of this group, committing what is printed.", valueName: "group"))
    var group: String?
    @Option(help: ArgumentHelp("The group protocol with --group: classic or consumer (KIP-848).", valueName: "protocol"))
    var groupProtocol: GroupProtocolName = .classic
    @Option(help: ArgumentHelp("With --group-protocol consumer: the broker's assignor (uniform or range).", valueName: "name"))
    var serverAssignor: String?
    @Option(help: "value, kv or json.") var format: Format = .value
    @Option(help: ArgumentHelp("Separator between key and value with --format kv.", valueName: "sep"))
    var keySeparator: String = "\t"
    @Option(help: ArgumentHelp("Stop after this long without a record.", valueName: "seconds"))
    var timeout: Double?

    func parseStart() throws -> SeekTarget {
        switch self.from {
        case "beginning", "earliest": return .beginning
        case "end", "latest": return .end
        default:
            if self.from.hasPrefix("@"), let ms = Int64(self.from.dropFirst()), ms >= 0 { return .timestamp(ms) }
            if let offset = Int64(self.from), offset >= 0 { return .offset(offset) }
            throw ValidationError("--from must be beginning, end, an offset or @timestamp-ms (got '\(self.from)')")
        }
    }

    func validate() throws {
        let start = try self.parseStart()
        if self.group != nil {
            if self.partition != nil { throw ValidationError("--partition cannot be used with --group") }
            if start != .beginning && start != .end {
                throw ValidationError("with --group, --from takes beginning or end (where the group has no committed offset)")
            }
            if let group = self.group, group.isEmpty { throw ValidationError("--group must not be empty") }
        } else if self.groupProtocol != .classic {
            throw ValidationError("--group-protocol needs --group")
        }
        if self.serverAssignor != nil && self.groupProtocol != .consumer {
            throw ValidationError("--server-assignor needs --group-protocol consumer")
        }
        if let count = self.count, count < 0 { throw ValidationError("--count must not be negative") }
        if let timeout = self.timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        var clientConfiguration = try self.client.makeConfiguration(clientID: "spate-consume")
        clientConfiguration.allowAutoTopicCreation = false
        var configuration = ConsumerConfiguration(client: clientConfiguration)
        configuration.autoOffsetReset = .nearest
        let start = try self.parseStart()
        if let group = self.group {
            configuration.groupID = GroupID(group)
            configuration.groupProtocol = self.groupProtocol == .consumer ? .consumer : .classic
            configuration.serverAssignor = self.serverAssignor
            configuration.assignors = [.cooperativeSticky]
            configuration.enableAutoCommit = false
            configuration.autoOffsetReset = start == .beginning ? .earliest : .latest
            configuration.heartbeatInterval = .seconds(1)
            configuration.sessionTimeout = .seconds(10)
        }
        let consumer = try Consumer(configuration: configuration)
        let topic = TopicName(self.topic)
        var printedOffsets: [TopicPartition: Int64] = [:]
        // A group member stops on SIGINT/SIGTERM after the batch in hand (at most half a second away), commits what it
        // printed and leaves the group (Consumer.close), so that the group does not wait out the session timeout.
        let stop = NIOLockedValueBox(false)
        let signals: Task<Void, Never>? =
            self.group == nil
            ? nil
            : Task {
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                    stop.withLockedValue { $0 = true }
                    return
                }
            }
        defer { signals?.cancel() }
        try await runClient(brokers: self.client) {
            if self.group != nil {
                // Fails early, with the usual exit code, for a topic that does not exist.
                let admin = Admin(client: consumer.client)
                _ = try await admin.describeTopic(topic)
                try await consumer.subscribe([topic])
            } else if let partition = self.partition {
                let metadata = try await consumer.assign(topic: topic, from: start)
                guard metadata.contains(TopicPartition(topic, partition)) else {
                    throw KafkaClientError.broker(
                        .unknownTopicOrPartition, "topic '\(topic)' has no partition \(partition) (it has \(metadata.count))")
                }
                await consumer.assign([TopicPartition(topic, partition): start])
            } else {
                try await consumer.assign(topic: topic, from: start)
            }
            var printed = 0
            let limit = self.count ?? .max
            let idleLimit = self.timeout.map { Duration.milliseconds(Int64($0 * 1000)) }
            var lastRecord = ContinuousClock.now
            while printed < limit && !stop.withLockedValue({ $0 }) {
                var wait = consumer.configuration.maxWait
                if let idleLimit {
                    let left = lastRecord + idleLimit - .now
                    if left <= .zero { break }
                    wait = min(wait, left)
                }
                let records = try await consumer.poll(maxWait: wait)
                if !records.isEmpty { lastRecord = .now }
                var output = ""
                for record in records where printed < limit {
                    self.format(record, into: &output)
                    printed += 1
                    printedOffsets[record.topicPartition] = record.offset + 1
                }
                if !output.isEmpty { writeAll(output, to: 1) }
                if self.group != nil && !printedOffsets.isEmpty {
                    // Only partitions still assigned: a revoked one may already have moved on at its new member.
                    let assigned = await consumer.assignment
                    printedOffsets = printedOffsets.filter { assigned.contains($0.key) }
                    do {
                        try await consumer.commit(offsets: printedOffsets)
                        printedOffsets = [:]
                    } catch {
                        // A rebalance under way: the next poll rejoins, and the commit is tried again after it.
                        guard let code = (error as? KafkaClientError)?.kafkaErrorCode,
                            [.rebalanceInProgress, .illegalGeneration, .unknownMemberID, .staleMemberEpoch, .fencedMemberEpoch]
                                .contains(code)
                        else { throw error }
                    }
                }
            }
        }
        await consumer.close()
    }

    private func format(_ record: ConsumerRecord, into output: inout String) {
        let line: String
        switch self.format {
        case .value:
            line = record.value.map { String(buffer: $0) } ?? ""
        case .kv:
            line = (record.key.map { String(buffer: $0) } ?? "") + self.keySeparator + (record.value.map { String(buffer: $0) } ?? "")
        case .json:
            line = "{\"topic\":\(jsonString(record.topic.rawValue)),\"partition\":\(record.partition),"
                + "\"offset\":\(record.offset),\"timestamp\":\(record.timestamp),"
                + "\"key\":\(record.key.map { jsonString(String(buffer: $0)) } ?? "null"),"
                + "\"value\":\(record.value.map { jsonString(String(buffer: $0)) } ?? "null"),"
                + "\"headers\":["
                + record.headers.map {
                    "{\"key\":\(jsonString($0.key)),\"value\":\($0.value.map { jsonString(String(buffer: $0)) } ?? "null")}"
                }.joined(separator: ",") + "]}"
        }
        output += line
        output += "\n"
    }
}

/// A JSON string literal for `text`.
func jsonString(_ text: String) -> String {
    var out = "\""
    out.reserveCapacity(text.utf8.count + 2)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case let s where s.value < 0x20:
            out += "\\u" + String(repeating: "0", count: 4 - String(s.value, radix: 16).count) + String(s.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    out += "\""
    return out
}
