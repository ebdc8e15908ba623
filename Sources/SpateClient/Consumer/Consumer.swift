public import Logging
import NIOCore
import SpateCompression
public import SpateWire

/// Consumes records from explicitly assigned partitions, without a consumer group.
///
/// Assign partitions with a starting point, then iterate ``records`` (an `AsyncSequence`) or call
/// ``poll(maxWait:)``. Compressed batches (gzip, snappy, lz4, zstd) are decompressed, control batches skipped.
///
/// ```swift
/// let consumer = try Consumer(configuration: config)
/// await consumer.assign([TopicPartition(topic: "orders", partition: 0): .beginning])
/// for try await record in consumer.records {
///     print(record.offset, String(buffer: record.value!))
/// }
/// ```
///
/// With ``ConsumerConfiguration/groupID`` set, ``subscribe(_:listener:)`` makes it a member of a consumer group
/// (classic or KIP-848 protocol): its assignment comes from the group, its starting points from committed offsets (else
/// ``ConsumerConfiguration/autoOffsetReset``), and ``commit()`` stores its positions.
///
/// ```swift
/// var config = ConsumerConfiguration(client: client)
/// config.groupID = "billing"
/// let consumer = try Consumer(configuration: config)
/// try await consumer.subscribe(["orders"])
/// for try await record in consumer.records { … }   // positions are committed every 5 s and on close
/// ```
public actor Consumer {
    public nonisolated let configuration: ConsumerConfiguration
    /// The connection layer.
    public nonisolated let client: KafkaClient
    nonisolated let logger: Logger
    private let compressor = StandardRecordsCompressor()

    enum Position: Hashable {
        /// Waiting for a ListOffsets lookup.
        case pending(SeekTarget)
        case offset(Int64)
    }

    var positions: [TopicPartition: Position] = [:]
    var paused: Set<TopicPartition> = []
    var highWatermarks: [TopicPartition: Int64] = [:]
    /// Positions found out of range, to be moved to the nearest end of the log (``ConsumerConfiguration/OffsetReset/nearest``).
    private var outOfRange: [TopicPartition: Int64] = [:]
    var isClosed = false

    /// Creates a consumer with no partitions assigned.
    /// - Throws: ``KafkaClientError/Code/invalidArgument`` for an invalid configuration.
    public init(
        configuration: ConsumerConfiguration,
        logger: Logger = Logger(label: "spate.consumer", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.client = KafkaClient(configuration: configuration.client, logger: logger)
    }

    /// The group membership, when ``ConsumerConfiguration/groupID`` is set and ``subscribe(_:listener:)`` was called.
    var group: GroupMembership?

    /// Closes the consumer: a group member commits (with automatic commits), gives its partitions up and leaves the
    /// group (a static member stays, so that a restart within the session timeout causes no rebalance); then the
    /// connections close and ``poll(maxWait:)`` fails with ``KafkaClientError/Code/shutDown``.
    public func close() async {
        self.cancelPrefetch()
        if !self.isClosed { await self.leaveGroup() }
        self.isClosed = true
        await self.client.shutdown()
    }

    // MARK: Assignment and positions

    /// Replaces the assignment: these partitions, each read from its starting point. Not for group members
    /// (their assignment comes from the group).
    public func assign(_ partitions: [TopicPartition: SeekTarget]) {
        self.positions = partitions.mapValues { .pending($0) }
        self.paused.formIntersection(partitions.keys)
        self.highWatermarks = self.highWatermarks.filter { partitions[$0.key] != nil }
    }

    /// Replaces the assignment with `partitions`, all read from `start`.
    public func assign(_ partitions: [TopicPartition], from start: SeekTarget) {
        self.assign(Dictionary(partitions.map { ($0, start) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Assigns every partition of `topic`, all read from `start`.
    /// - Returns: The partitions assigned.
    /// - Throws: ``KafkaClientError/Code/unknownTopic`` when the topic does not exist.
    @discardableResult
    public func assign(topic: TopicName, from start: SeekTarget) async throws -> [TopicPartition] {
        let client = self.client
        let metadata = try await retrying(client, "metadata for topic '\(topic)'", retryUnknownTopic: false) {
            try await client.topicMetadata(topic)
        }
        let partitions = metadata.partitions.map { TopicPartition(topic, $0.partition) }
        self.assign(partitions, from: start)
        return partitions
    }

    /// The assigned partitions.
    public var assignment: Set<TopicPartition> { Set(self.positions.keys) }

    /// Moves a partition's position; the next fetch reads from there.
    public func seek(_ partition: TopicPartition, to target: SeekTarget) throws {
        guard self.positions[partition] != nil else {
            throw KafkaClientError(.invalidArgument, "partition \(partition) is not assigned")
        }
        if case .offset(let offset) = target {
            self.positions[partition] = .offset(offset)
        } else {
            self.positions[partition] = .pending(target)
        }
    }

    /// The offset of the next record to be returned for `partition`, resolving a pending seek if needed.
    public func position(of partition: TopicPartition) async throws -> Int64? {
        try await self.resolvePendingPositions()
        if case .offset(let offset) = self.positions[partition] { return offset }
        return nil
    }

    /// The high watermark the last fetch of `partition` reported, if any.
    public func highWatermark(of partition: TopicPartition) -> Int64? { self.highWatermarks[partition] }

    /// Stops fetching these partitions until ``resume(_:)``.
    public func pause(_ partitions: [TopicPartition]) {
        self.paused.formUnion(partitions.filter { self.positions[$0] != nil })
    }

    /// Fetches these partitions again.
    public func resume(_ partitions: [TopicPartition]) {
        self.paused.subtract(partitions)
    }

    /// The paused partitions.
    public var pausedPartitions: Set<TopicPartition> { self.paused }

    // MARK: Fetching

    /// The records as an asynchronous sequence; it ends when the task is cancelled and throws what
    /// ``poll(maxWait:)`` throws.
    public nonisolated var records: ConsumerRecords { ConsumerRecords(consumer: self) }

    /// Fetches once from every leader of an assigned, unpaused partition, waiting up to `maxWait` (default
    /// ``ConsumerConfiguration/maxWait``) for data.
    /// - Returns: The records fetched, in offset order per partition; empty when none arrived in time.
    /// - Throws: ``KafkaClientError``: ``KafkaClientError/Code/unknownTopic``, `OFFSET_OUT_OF_RANGE` with
    ///   ``ConsumerConfiguration/OffsetReset/none``, ``KafkaClientError/Code/corruptRecords``, or retriable failures
    ///   that lasted longer than ``ClientConfiguration/operationTimeout``.
    public func poll(maxWait: Duration? = nil) async throws -> [ConsumerRecord] {
        guard !self.isClosed else { throw KafkaClientError(.shutDown, "the consumer is closed") }
        let maxWait = maxWait ?? self.configuration.maxWait
        if self.group != nil { try await self.pollGroup() }
        try await self.resolvePendingPositions()
        var fetchable: [TopicPartition: Int64] = [:]
        for (partition, position) in self.positions where !self.paused.contains(partition) {
            if case .offset(let offset) = position { fetchable[partition] = offset }
        }
        guard !fetchable.isEmpty else {
            try await Task.sleep(for: maxWait)
            return []
        }
        let client = self.client
        var byLeader: [BrokerID: [TopicPartition]] = [:]
        var topicIDs: [TopicName: KafkaUUID] = [:]
        try await retrying(client, "metadata", retryUnknownTopic: false) {
            byLeader = [:]
            for partition in fetchable.keys {
                byLeader[try await client.leader(for: partition), default: []].append(partition)
                topicIDs[partition.topic] = await client.metadata.topics[partition.topic]?.topicID ?? .zero
            }
        }
        let order = self.fetchOrder.arrange(fetchable.keys)
        let requests = Self.requests(byLeader, in: order)
        let responses: [FetchResult]
        if let prefetched = self.prefetched, prefetched.offsets == fetchable, prefetched.topicIDs == topicIDs,
            prefetched.leaders == byLeader.mapValues(Set.init)
        {
            // Sent when the previous poll returned, for exactly these positions: its answers are this poll's.
            self.prefetched = nil
            responses = await prefetched.task.value
        } else {
            self.cancelPrefetch()
            responses = await Self.fetch(
                requests, offsets: fetchable, topicIDs: topicIDs, maxWait: maxWait, client: client,
                configuration: self.configuration)
        }
        let idToName = Dictionary(topicIDs.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        // The partitions that returned records go to the back of the next request (KIP-74).
        let served = Self.partitionsWithRecords(in: responses, topicNames: idToName)
        self.fetchOrder.moveToEnd(order.filter { served.contains($0) })
        // The next fetch goes out now, before these records are decoded, from the positions the batch headers say
        // they will leave: the broker reads and sends the next records while this poll decodes (and the
        // application handles) these ones, as librdkafka's fetcher thread does.
        if let next = Self.positions(after: responses, from: fetchable, topicNames: idToName) {
            let requests = Self.requests(byLeader, in: self.fetchOrder.partitions)
            self.prefetch(from: next, requests: requests, topicIDs: topicIDs, maxWait: maxWait)
        }
        var records: [ConsumerRecord] = []
        // One allocation, sized from the batch headers: appending to an empty array copied it at each growth, into
        // fresh memory that page-faulted (most of the client's page faults with 10 MiB fetches).
        records.reserveCapacity(Self.recordCount(in: responses))
        var retriable: KafkaClientError?
        for (_, _, result) in responses {
            switch result {
            case .failure(let error):
                let clientError = error as? KafkaClientError ?? KafkaClientError(.connectionClosed, "\(error)")
                guard clientError.isRetriable else { throw clientError }
                retriable = clientError
            case .success(let response):
                if response.errorCode != .none {
                    let error = KafkaClientError.broker(response.errorCode, "Fetch")
                    guard error.isRetriable else { throw error }
                    retriable = error
                    continue
                }
                for topic in response.responses {
                    guard let name = topic.topic.rawValue.isEmpty ? idToName[topic.topicID] : topic.topic else { continue }
                    for data in topic.partitions {
                        let tp = TopicPartition(name, data.partitionIndex)
                        guard let requested = fetchable[tp], self.positions[tp] == .offset(requested) else {
                            continue  // reassigned or sought while the fetch was out
                        }
                        if let error = try self.apply(data, to: tp, from: requested, into: &records) {
                            retriable = error
                        }
                    }
                }
            }
        }
        if let retriable, records.isEmpty {
            if retriable.invalidatesMetadata {
                await client.invalidateMetadata()
            }
            self.logger.debug("fetch failed; retrying", metadata: [LogKey.error: "\(retriable.message)"])
            try await Task.sleep(for: client.configuration.retryBackoff)
        }
        return records
    }

    typealias FetchResult = (BrokerID, [TopicPartition], Result<FetchResponse, any Error>)

    /// The order in which Fetch requests list the partitions.
    var fetchOrder = FetchOrder()

    /// One request per leader, listing its partitions in `order` (which holds every partition of `byLeader`).
    private static func requests(
        _ byLeader: [BrokerID: [TopicPartition]], in order: [TopicPartition]
    ) -> [(BrokerID, [TopicPartition])] {
        var leaders: [TopicPartition: BrokerID] = [:]
        for (leader, partitions) in byLeader {
            for partition in partitions { leaders[partition] = leader }
        }
        var requests: [BrokerID: [TopicPartition]] = [:]
        for partition in order {
            if let leader = leaders[partition] { requests[leader, default: []].append(partition) }
        }
        return requests.map { ($0.key, $0.value) }
    }

    /// A fetch sent ahead, as soon as a poll has its fetch results, from the positions those results will leave:
    /// the broker reads and sends the next records while the consumer decodes these and the application handles
    /// them. The next poll uses it if its positions are exactly these (no seek, assignment change, pause, leader
    /// change, reset or failure happened meanwhile), else drops it.
    struct Prefetch {
        var offsets: [TopicPartition: Int64]
        var topicIDs: [TopicName: KafkaUUID]
        var leaders: [BrokerID: Set<TopicPartition>]
        var task: Task<[FetchResult], Never>
    }

    var prefetched: Prefetch?

    /// Starts the fetch ahead from `offsets` (every partition of `requests`).
    private func prefetch(
        from offsets: [TopicPartition: Int64], requests: [(BrokerID, [TopicPartition])],
        topicIDs: [TopicName: KafkaUUID], maxWait: Duration
    ) {
        let client = self.client
        let configuration = self.configuration
        let task = Task {
            await Self.fetch(
                requests, offsets: offsets, topicIDs: topicIDs, maxWait: maxWait, client: client,
                configuration: configuration)
        }
        self.prefetched = Prefetch(
            offsets: offsets, topicIDs: topicIDs,
            leaders: Dictionary(requests.map { ($0.0, Set($0.1)) }, uniquingKeysWith: { a, _ in a }), task: task)
    }

    /// The positions that applying `responses` (fetched from `fetched`) will leave, read from the batch headers
    /// alone, with no record decoded: each partition moves past its last whole batch that ends at or after its
    /// position, as ``apply(_:to:from:into:)`` moves it.
    /// - Returns: `nil` when no position moves, or when a request failed or a partition has an error or a malformed
    ///   record set (the poll handles those; nothing is fetched ahead).
    static func positions(
        after responses: [FetchResult], from fetched: [TopicPartition: Int64], topicNames: [KafkaUUID: TopicName]
    ) -> [TopicPartition: Int64]? {
        var next = fetched
        var moved = false
        for (_, _, result) in responses {
            guard case .success(let response) = result, response.errorCode == .none else { return nil }
            for topic in response.responses {
                guard let name = topic.topic.rawValue.isEmpty ? topicNames[topic.topicID] : topic.topic else { continue }
                for data in topic.partitions {
                    let tp = TopicPartition(name, data.partitionIndex)
                    guard let requested = fetched[tp] else { continue }
                    guard data.errorCode == .none else { return nil }
                    guard let set = data.records else { continue }
                    var position = requested
                    var iterator = set.batches.makeIterator()
                    while let batch = iterator.next() {
                        if batch.lastOffset >= position { position = batch.nextOffset }
                    }
                    if iterator.error != nil, position == requested { return nil }
                    if position != requested {
                        next[tp] = position
                        moved = true
                    }
                }
            }
        }
        return moved ? next : nil
    }

    /// The partitions whose record sets in `responses` are not empty.
    static func partitionsWithRecords(
        in responses: [FetchResult], topicNames: [KafkaUUID: TopicName]
    ) -> Set<TopicPartition> {
        var served: Set<TopicPartition> = []
        for case (_, _, .success(let response)) in responses {
            for topic in response.responses {
                guard let name = topic.topic.rawValue.isEmpty ? topicNames[topic.topicID] : topic.topic else { continue }
                for data in topic.partitions where (data.records?.buffer.readableBytes ?? 0) > 0 {
                    served.insert(TopicPartition(name, data.partitionIndex))
                }
            }
        }
        return served
    }

    /// How many records the data batches of `responses` hold, as their headers say, bounded by their sizes (a record
    /// takes at least 7 bytes), so that a malformed header cannot make the count huge.
    static func recordCount(in responses: [FetchResult]) -> Int {
        var count = 0
        for case (_, _, .success(let response)) in responses {
            for topic in response.responses {
                for data in topic.partitions {
                    guard let set = data.records else { continue }
                    var iterator = set.batches.makeIterator()
                    while let batch = iterator.next() {
                        if !batch.isControl { count += max(0, min(Int(batch.recordCount), batch.sizeInBytes / 7)) }
                    }
                }
            }
        }
        return count
    }

    func cancelPrefetch() {
        self.prefetched?.task.cancel()
        self.prefetched = nil
    }

    /// Sends one Fetch per leader, all at once, and collects the answers.
    private static func fetch(
        _ requests: [(BrokerID, [TopicPartition])], offsets: [TopicPartition: Int64], topicIDs ids: [TopicName: KafkaUUID],
        maxWait: Duration, client: KafkaClient, configuration: ConsumerConfiguration
    ) async -> [FetchResult] {
        await withTaskGroup(of: FetchResult.self) { group in
            for (leader, partitions) in requests {
                group.addTask {
                    let hasIDs = partitions.allSatisfy { (ids[$0.topic] ?? .zero) != .zero }
                    do {
                        let response = try await client.send(
                            to: leader, maxVersion: hasIDs ? nil : 12,
                            timeout: client.configuration.requestTimeout + maxWait
                        ) { version in
                            Self.makeFetchRequest(
                                partitions: partitions, offsets: offsets, topicIDs: ids, version: version,
                                maxWait: maxWait, configuration: configuration)
                        }
                        return (leader, partitions, .success(response))
                    } catch {
                        return (leader, partitions, .failure(error))
                    }
                }
            }
            var all: [FetchResult] = []
            for await response in group { all.append(response) }
            return all
        }
    }

    /// Folds one partition's fetch result in: records at or after the position, the new position, or a reset.
    /// - Returns: A retriable error for the partition, if it had one.
    private func apply(
        _ data: FetchResponse.PartitionData, to tp: TopicPartition, from requested: Int64,
        into records: inout [ConsumerRecord]
    ) throws -> KafkaClientError? {
        switch data.errorCode {
        case .none:
            break
        case .offsetOutOfRange:
            switch self.configuration.autoOffsetReset {
            case .earliest: self.positions[tp] = .pending(.beginning)
            case .latest: self.positions[tp] = .pending(.end)
            case .none: throw KafkaClientError.broker(.offsetOutOfRange, "fetching \(tp) at offset \(requested)")
            case .nearest: self.outOfRange[tp] = requested
            }
            return nil
        default:
            let error = KafkaClientError.broker(data.errorCode, "fetching \(tp)")
            guard error.isRetriable else { throw error }
            return error
        }
        self.highWatermarks[tp] = data.highWatermark
        guard let set = data.records else { return nil }
        var position = requested
        var iterator = set.batches.makeIterator()
        while let batch = iterator.next() {
            guard batch.lastOffset >= position else { continue }
            if self.configuration.checkCRCs {
                do {
                    try batch.validate()
                } catch {
                    throw KafkaClientError(.corruptRecords, "a batch of \(tp) at offset \(batch.baseOffset) is corrupt: \(error)")
                }
            }
            if !batch.isControl {
                let decoded: [Record]
                do {
                    decoded = try batch.records(
                        using: self.compressor, maxDecompressedSize: self.configuration.maxDecompressedBatchSize)
                } catch {
                    throw KafkaClientError(
                        .corruptRecords, "cannot decode the batch of \(tp) at offset \(batch.baseOffset): \(error)")
                }
                let timestampType = batch.timestampType
                for record in decoded where record.offset >= position {
                    records.append(
                        ConsumerRecord(
                            topic: tp.topic, partition: tp.partition, offset: record.offset, timestamp: record.timestamp,
                            timestampType: timestampType, key: record.key, value: record.value, headers: record.headers,
                            leaderEpoch: batch.partitionLeaderEpoch))
                }
            }
            position = batch.nextOffset
        }
        if let error = iterator.error, position == requested {
            throw KafkaClientError(.corruptRecords, "malformed record set for \(tp): \(error)")
        }
        self.positions[tp] = .offset(position)
        return nil
    }

    /// The most record bytes a Fetch request asks for, whatever ``ConsumerConfiguration/maxBytes`` says: 15 MiB, so
    /// that a whole response stays within the first 16 MiB of its buffer, where NIO can slice it without copying
    /// (`ByteBuffer.Slice.maxSupportedLowerBound`); the 1 MiB left covers the response's headers (about 50 bytes
    /// per partition). Past it, every record set (and every key and value decoded from it) would be copied.
    static let maxFetchBytes: Int32 = 15 << 20

    /// The Fetch request for `partitions`, listed in the order given: the broker fills a response in request order.
    /// Consecutive partitions of a topic share a topic entry (as in the Java client's `FetchRequest.Builder`), so a
    /// topic may appear more than once.
    static func makeFetchRequest(
        partitions: [TopicPartition], offsets: [TopicPartition: Int64], topicIDs: [TopicName: KafkaUUID],
        version: Int16, maxWait: Duration, configuration: ConsumerConfiguration
    ) -> FetchRequest {
        var byTopic: [(topic: TopicName, partitions: [TopicPartition])] = []
        for partition in partitions {
            if byTopic.last?.topic == partition.topic {
                byTopic[byTopic.count - 1].partitions.append(partition)
            } else {
                byTopic.append((partition.topic, [partition]))
            }
        }
        return FetchRequest(
            replicaID: -1,
            maxWaitMs: maxWait.int32Milliseconds,
            minBytes: configuration.minBytes,
            maxBytes: min(configuration.maxBytes, Self.maxFetchBytes),
            isolationLevel: configuration.readCommitted ? 1 : 0,
            sessionID: 0,
            sessionEpoch: -1,
            topics: byTopic.map { topic, partitions in
                FetchRequest.FetchTopic(
                    topic: version <= 12 ? topic : "",
                    topicID: version >= 13 ? topicIDs[topic] ?? .zero : .zero,
                    partitions: partitions.map {
                        FetchRequest.FetchPartition(
                            partition: $0.partition, fetchOffset: offsets[$0]!,
                            partitionMaxBytes: configuration.maxPartitionBytes)
                    })
            })
    }

    private func resolvePendingPositions() async throws {
        if !self.outOfRange.isEmpty {
            let requested = self.outOfRange
            self.outOfRange = [:]
            let starts = try await self.client.listOffsets(requested.mapValues { _ in .earliest })
            for (partition, offset) in requested where self.positions[partition] == .offset(offset) {
                let start = starts[partition]?.offset ?? 0
                self.positions[partition] = offset < start ? .offset(start) : .pending(.end)
            }
        }
        var specs: [TopicPartition: OffsetSpec] = [:]
        for (partition, position) in self.positions {
            guard case .pending(let target) = position else { continue }
            switch target {
            case .beginning: specs[partition] = .earliest
            case .end: specs[partition] = .latest
            case .timestamp(let t): specs[partition] = .timestamp(t)
            case .offset(let o): self.positions[partition] = .offset(o)
            }
        }
        guard !specs.isEmpty else { return }
        let found = try await self.client.listOffsets(specs, readCommitted: self.configuration.readCommitted)
        var missing: [TopicPartition: OffsetSpec] = [:]
        for (partition, spec) in specs {
            guard case .pending(let target) = self.positions[partition], OffsetSpec(target) == spec else { continue }
            if let offset = found[partition]?.offset {
                self.positions[partition] = .offset(offset)
            } else {
                missing[partition] = .latest  // no record at or after the timestamp: the end
            }
        }
        if !missing.isEmpty {
            let ends = try await self.client.listOffsets(missing, readCommitted: self.configuration.readCommitted)
            for (partition, listed) in ends {
                if case .pending = self.positions[partition], let offset = listed.offset {
                    self.positions[partition] = .offset(offset)
                }
            }
        }
    }
}

extension OffsetSpec {
    init?(_ target: SeekTarget) {
        switch target {
        case .beginning: self = .earliest
        case .end: self = .latest
        case .timestamp(let t): self = .timestamp(t)
        case .offset: return nil
        }
    }
}

/// The records of a ``Consumer`` as an `AsyncSequence`.
public struct ConsumerRecords: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let consumer: Consumer

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: self.consumer) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        var buffer: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async throws -> ConsumerRecord? {
            while self.index >= self.buffer.count {
                if Task.isCancelled { return nil }
                do {
                    self.buffer = try await self.consumer.poll()
                } catch is CancellationError {
                    return nil
                }
                self.index = 0
            }
            defer { self.index += 1 }
            return self.buffer[self.index]
        }
    }
}
