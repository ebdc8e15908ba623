#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import NIOCore
public import ServiceLifecycle
import SpateCompression
import SpateWire
import Synchronization

/// Produces records to Kafka: per-partition batching with linger, compression, acks, and idempotence (on by
/// default) so that retries neither duplicate nor reorder records.
///
/// The producer's sender runs in ``run()`` (it is a `Service`); ``withProducer(configuration:logger:_:)`` runs it
/// for the duration of a closure and flushes at the end:
///
/// ```swift
/// try await Producer.withProducer(configuration: config) { producer in
///     let metadata = try await producer.send(ProducerRecord(topic: "orders", key: "42", value: "{…}"))
///     try await producer.enqueue(ProducerRecord(topic: "orders", value: "fire and forget"))
///     try await producer.flush()
/// }
/// ```
///
/// Ordering: records sent to one partition are appended in the order ``send(_:)``/``enqueue(_:)`` accepted them.
/// Up to ``ProducerConfiguration/maxInFlightRequestsPerConnection`` requests are outstanding per broker; when one
/// fails with a retriable error, that partition's later batches wait and every failed batch is resent in sequence
/// order, one at a time, with its original sequence number (so the broker drops duplicates).
public actor Producer: Service {
    public nonisolated let configuration: ProducerConfiguration
    /// The connection layer.
    public nonisolated let client: KafkaClient
    nonisolated let logger: Logger
    private nonisolated let wakeups: AsyncStream<Void>
    private nonisolated let wakeup: AsyncStream<Void>.Continuation
    private nonisolated let closeRequested = Atomic<Bool>(false)
    private let compressor = StandardRecordsCompressor()
    private let isIdempotent: Bool

    private enum State { case running, closing, closed }
    private var state = State.running
    private var partitionCounts: [TopicName: (count: Int32, fetchedAt: ContinuousClock.Instant)] = [:]
    private var sticky: [TopicName: Int32] = [:] {
        didSet { self.stickyChanges &+= 1 }
    }
    /// Counts changes of `sticky`, so that a caller may keep a topic's sticky partition while it is unchanged.
    private var stickyChanges = 0
    /// Identifies each call that enqueues records with a callback (``Completion/callback(_:call:)``).
    private var lastCallID: UInt64 = 0
    private var partitions: [TopicPartition: PartitionState] = [:]
    private var inFlightPerBroker: [BrokerID: Int] = [:]
    private var totalInFlight = 0
    private var identity: (id: Int64, epoch: Int16)?
    private var needsIdentityReset = false
    private var fatalError: KafkaClientError?
    private var bufferedBytes = 0
    private var pendingRecords = 0
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushing = 0
    private var unreported: (count: Int, first: KafkaClientError?) = (0, nil)
    private var timerDeadline: ContinuousClock.Instant?
    private var metadataRefreshPending = false

    /// Creates a producer; run its sender with ``run()`` (or use ``withProducer(configuration:logger:_:)``).
    /// - Throws: ``KafkaClientError/Code/invalidArgument`` for an invalid configuration.
    public init(
        configuration: ProducerConfiguration,
        logger: Logger = Logger(label: "spate.producer", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.client = KafkaClient(configuration: configuration.client, logger: logger)
        self.isIdempotent = configuration.isIdempotent
        (self.wakeups, self.wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Creates a producer, runs `body` with it while its sender runs, then flushes and closes it.
    public static func withProducer<T: Sendable>(
        configuration: ProducerConfiguration,
        logger: Logger = Logger(label: "spate.producer", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (Producer) async throws -> T
    ) async throws -> T {
        let producer = try Producer(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { try await producer.run() }
            let result: T
            do {
                result = try await body(producer)
            } catch {
                try? await producer.close(flush: false)
                try? await group.waitForAll()
                throw error
            }
            do {
                try await producer.close()
            } catch {
                try? await group.waitForAll()
                throw error
            }
            try await group.waitForAll()
            return result
        }
    }

    // MARK: Public API

    /// Sends a record and waits for its acknowledgement (which needs ``run()`` to be running).
    /// - Returns: The record's partition, offset and timestamp (offset -1 with acks=0).
    /// - Throws: ``KafkaClientError``: the broker's error for the record, ``KafkaClientError/Code/timedOut`` after
    ///   ``ProducerConfiguration/deliveryTimeout``, ``KafkaClientError/Code/connectionFailed`` when no broker could
    ///   be reached within ``ProducerConfiguration/maxBlock``, ``KafkaClientError/Code/unknownTopic``, …
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        let prepared = try await self.prepare(record)
        return try await withCheckedThrowingContinuation { continuation in
            do {
                try self.append(prepared, completion: .awaiting(continuation))
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Accepts a record for sending and returns without waiting for its acknowledgement (waiting only for buffer
    /// space or topic metadata). Failures are reported by the next ``flush()``.
    public func enqueue(_ record: ProducerRecord) async throws {
        let prepared = try await self.prepare(record)
        try self.append(prepared, completion: .enqueued)
    }

    /// Called once per record with its partition, offset and timestamp, or its error, when it is acknowledged or
    /// fails for good. It runs on the producer's executor: it must be quick and must not block.
    public typealias DeliveryCallback = @Sendable (Result<RecordMetadata, KafkaClientError>) -> Void

    /// Accepts a record for sending and returns without waiting for its acknowledgement (waiting only for buffer
    /// space or topic metadata); `onDelivery` gets the outcome (such failures are not reported by ``flush()``).
    public func enqueue(_ record: ProducerRecord, onDelivery: @escaping DeliveryCallback) async throws {
        let prepared = try await self.prepare(record)
        try self.append(prepared, completion: .callback(onDelivery, call: self.newCallID()))
    }

    /// Accepts records for sending, in order, as ``enqueue(_:)`` does for each, with one call into the producer for
    /// all of them (the cheap path for many small records). Records without a timestamp get the time of the call.
    /// - Parameters:
    ///   - records: The records, accepted in this order.
    ///   - onDelivery: Called once per record with its outcome; without it, failures are reported by the next
    ///     ``flush()``.
    /// - Throws: What ``enqueue(_:)`` throws; the records before the one that failed were accepted, the rest were not.
    public func enqueue(contentsOf records: [ProducerRecord], onDelivery: DeliveryCallback? = nil) async throws {
        let completion: Completion = onDelivery.map { .callback($0, call: self.newCallID()) } ?? .enqueued
        // The clocks are read once per call (and again after any wait), not per record: records handed over together
        // get the same CreateTime, as they would within the same millisecond.
        var now = ContinuousClock.now
        var nowMs = Self.nowMilliseconds()
        var known: KnownTopic?
        for record in records {
            // The synchronous path costs no async frame per record; the other one may wait for metadata or space.
            if let prepared = try self.prepareWithoutWaiting(record, now: now, nowMs: nowMs, known: &known) {
                try self.append(prepared, completion: completion)
            } else {
                let prepared = try await self.prepare(record)
                try self.append(prepared, completion: completion)
                now = .now
                nowMs = Self.nowMilliseconds()
                known = nil
            }
        }
    }

    /// Sends every record accepted so far without waiting for linger, and waits until all are acknowledged.
    /// - Throws: ``KafkaClientError`` summarising the records from ``enqueue(_:)`` that failed since the last flush.
    public func flush() async throws {
        self.flushing += 1
        self.wake()
        if self.pendingRecords > 0 {
            await withCheckedContinuation { self.flushWaiters.append($0) }
        }
        self.flushing -= 1
        if self.unreported.count > 0, let first = self.unreported.first {
            let count = self.unreported.count
            self.unreported = (0, nil)
            throw KafkaClientError(
                first.code, "\(count) record(s) could not be produced; the first: \(first.message)",
                kafkaErrorCode: first.kafkaErrorCode)
        }
    }

    /// Flushes (unless `flush` is false, when waiting records fail with ``KafkaClientError/Code/shutDown``), stops
    /// accepting records, and lets ``run()`` return.
    public func close(flush: Bool = true) async throws {
        guard self.state == .running else { return }
        self.state = .closing
        if !flush { self.failAllQueued(KafkaClientError(.shutDown, "the producer was closed")) }
        defer {
            self.state = .closed
            self.wake()
        }
        try await self.flush()
    }

    // MARK: Service

    /// Runs the sender until ``close(flush:)``, graceful shutdown (which flushes first) or cancellation (which fails
    /// the records not yet acknowledged).
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                self.wake()
                for await _ in self.wakeups {
                    if self.closeRequested.load(ordering: .relaxed), self.state == .running { self.state = .closing }
                    await self.sendReadyBatches(group: &group)
                    if self.state != .running, self.pendingRecords == 0, self.totalInFlight == 0 {
                        self.state = .closed
                        break
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.closeRequested.store(true, ordering: .relaxed)
            self.wakeup.yield()
        }
        self.state = .closed
        self.failAllQueued(KafkaClientError(.shutDown, "the producer stopped"))
        await self.client.shutdown()
    }

    // MARK: Accepting records

    private struct PreparedRecord {
        var record: ProducerRecord
        var partition: TopicPartition
        var timestamp: Int64
        var size: Int
        var isSticky: Bool
    }

    private func prepare(_ record: ProducerRecord) async throws -> PreparedRecord {
        try self.checkAccepting()
        let size = Self.estimatedSize(record)
        guard size + RecordBatch.headerSize <= self.configuration.maxRequestSize else {
            throw KafkaClientError(
                .invalidArgument,
                "a record of \(size) bytes exceeds the maximum request size (\(self.configuration.maxRequestSize) bytes)")
        }
        let count = try await self.partitionCount(of: record.topic)
        guard let (partition, isSticky) = self.choosePartition(for: record, count: count) else {
            throw KafkaClientError.broker(
                .unknownTopicOrPartition, "partition \(record.partition!) of topic '\(record.topic)' (it has \(count))")
        }
        var waitUntil: ContinuousClock.Instant?
        while self.bufferedBytes > 0, self.bufferedBytes + size > self.configuration.bufferMemory {
            let deadline = waitUntil ?? ContinuousClock.now + self.configuration.maxBlock
            waitUntil = deadline
            guard ContinuousClock.now < deadline else {
                throw KafkaClientError(.timedOut, "no buffer space for the record within maxBlock")
            }
            await withCheckedContinuation { self.spaceWaiters.append($0) }
            try self.checkAccepting()
        }
        return PreparedRecord(
            record: record, partition: TopicPartition(record.topic, partition),
            timestamp: record.timestamp ?? Self.nowMilliseconds(), size: size, isSticky: isSticky)
    }

    /// What ``enqueue(contentsOf:onDelivery:)`` learnt of the topic of its previous record, valid while it does not
    /// suspend: the topic's partition count (found fresh in the cache) and, while ``stickyChanges`` stays the same,
    /// its sticky partition. Records of one topic then cost no lookup by topic name.
    private struct KnownTopic {
        var topic: TopicName
        var count: Int32
        var sticky: (partition: Int32, changes: Int)?
    }

    /// ``prepare(_:)`` without suspending, for when the topic's partition count is cached and the buffer has room:
    /// `nil` (having changed nothing) otherwise. `now` is a recent reading of the clock, for the cache's age; `known`
    /// carries what the previous record's call learnt of its topic.
    private func prepareWithoutWaiting(
        _ record: ProducerRecord, now: ContinuousClock.Instant, nowMs: Int64, known: inout KnownTopic?
    ) throws -> PreparedRecord? {
        let size = Self.estimatedSize(record)
        guard size + RecordBatch.headerSize <= self.configuration.maxRequestSize,
            self.bufferedBytes == 0 || self.bufferedBytes + size <= self.configuration.bufferMemory
        else { return nil }
        if known.map({ $0.topic != record.topic }) ?? true {
            guard let cached = self.partitionCounts[record.topic],
                now - cached.fetchedAt < self.configuration.client.metadataMaxAge
            else { return nil }
            known = KnownTopic(topic: record.topic, count: cached.count)
        }
        try self.checkAccepting()
        let count = known!.count
        let partition: Int32
        let isSticky: Bool
        if record.partition == nil, record.key == nil {
            if let sticky = known!.sticky, sticky.changes == self.stickyChanges {
                partition = sticky.partition
            } else {
                partition = self.stickyPartition(for: record.topic, count: count)
                known!.sticky = (partition, self.stickyChanges)
            }
            isSticky = true
        } else {
            // An explicit partition out of range: prepare(_:) throws the error.
            guard let chosen = self.choosePartition(for: record, count: count) else { return nil }
            (partition, isSticky) = chosen
        }
        return PreparedRecord(
            record: record, partition: TopicPartition(record.topic, partition),
            timestamp: record.timestamp ?? nowMs, size: size, isSticky: isSticky)
    }

    /// The record's partition among `count` (explicit, by key, or sticky for keyless records) and whether it is the
    /// sticky one; `nil` for an explicit partition out of range.
    private func choosePartition(for record: ProducerRecord, count: Int32) -> (Int32, isSticky: Bool)? {
        if let explicit = record.partition {
            return explicit >= 0 && explicit < count ? (explicit, false) : nil
        } else if let key = record.key {
            return (DefaultPartitioner.partition(forKey: key, partitionCount: count), false)
        } else {
            return (self.stickyPartition(for: record.topic, count: count), true)
        }
    }

    private func newCallID() -> UInt64 {
        self.lastCallID &+= 1
        return self.lastCallID
    }

    private func checkAccepting() throws {
        if let fatal = self.fatalError { throw fatal }
        guard self.state == .running, !self.closeRequested.load(ordering: .relaxed) else {
            throw KafkaClientError(.shutDown, "the producer is closed")
        }
    }

    private func partitionCount(of topic: TopicName) async throws -> Int32 {
        if let cached = self.partitionCounts[topic],
            ContinuousClock.now - cached.fetchedAt < self.configuration.client.metadataMaxAge
        {
            return cached.count
        }
        let client = self.client
        let metadata = try await retrying(client, 
            "metadata for topic '\(topic)'", deadline: .now + self.configuration.maxBlock
        ) {
            try await client.topicMetadata(topic)
        }
        let count = Int32(metadata.partitions.count)
        self.partitionCounts[topic] = (count, .now)
        return count
    }

    private func stickyPartition(for topic: TopicName, count: Int32) -> Int32 {
        if let current = self.sticky[topic], current < count { return current }
        let chosen = Int32.random(in: 0..<count)
        self.sticky[topic] = chosen
        return chosen
    }

    /// Appends a prepared record to its partition's open batch (or a new one). Synchronous: no suspension between
    /// the caller's turn and the append, so records keep the order in which they were accepted.
    private func append(_ prepared: PreparedRecord, completion: Completion) throws {
        try self.checkAccepting()
        let tp = prepared.partition
        // Mutated in place: a copy of the partition's state would share the open batch's buffers with the
        // dictionary, and each append would then copy the whole batch.
        let (newBatch, closedFull, isFull) = self.partitions[tp, default: PartitionState()].append(
            prepared.record, to: tp, timestamp: prepared.timestamp, size: prepared.size, completion: completion,
            batchSize: self.configuration.batchSize, compression: self.configuration.compression)
        if closedFull, prepared.isSticky, self.sticky[tp.topic] == tp.partition {
            // KIP-480: a full batch moves keyless records on to another partition.
            self.sticky[tp.topic] = nil
        }
        self.pendingRecords += 1
        self.bufferedBytes += prepared.size
        if newBatch || isFull { self.wake() }
    }

    // MARK: Sending

    private nonisolated func wake() {
        self.wakeup.yield()
    }

    /// One pass of the sender: producer ID, expired batches, then at most one ready batch per partition, grouped
    /// into one Produce request per leader, written in order.
    private func sendReadyBatches(group: inout DiscardingTaskGroup) async {
        let now = ContinuousClock.now
        if let deadline = self.timerDeadline, deadline <= now { self.timerDeadline = nil }
        if self.isIdempotent, self.fatalError == nil, self.pendingRecords > 0 {
            if self.needsIdentityReset, self.totalInFlight == 0 {
                self.identity = nil
                self.needsIdentityReset = false
                self.resetSequences()
            }
            if self.identity == nil, !self.needsIdentityReset {
                await self.initProducerID()
            }
        }
        self.expireBatches(now: now)
        if self.needsMetadata {
            self.needsMetadata = false
            self.refreshMetadataSoon(group: &group)
        }
        let idempotentReady = !self.isIdempotent || (self.identity != nil && !self.needsIdentityReset)
        let metadata = await self.client.metadata
        var nextDeadline: ContinuousClock.Instant?
        var requests: [BrokerID: [ProducerBatch]] = [:]
        var requestSizes: [BrokerID: Int] = [:]
        var moreReady = false
        let flushAll = self.flushing > 0 || self.state != .running
        for tp in self.partitions.keys.sorted() {
            let leader: BrokerID
            do {
                // Checks on borrowed copies, released at the end of this block: the batch is then taken out of the
                // queue with no other reference to its records, so building it writes the header in place.
                guard let state = self.partitions[tp], let head = state.queue.first, state.failed.isEmpty,
                    idempotentReady
                else { continue }
                let limit = state.retryRemaining > 0 ? 1 : self.configuration.maxInFlightRequestsPerConnection
                guard state.inFlight < limit else { continue }
                if let retryAt = head.retryAt, retryAt > now {
                    nextDeadline = min(nextDeadline ?? retryAt, retryAt)
                    continue
                }
                let lingerEnd = head.createdAt + self.configuration.linger
                guard !head.isOpen || flushAll || head.retryAt != nil || lingerEnd <= now else {
                    nextDeadline = min(nextDeadline ?? lingerEnd, lingerEnd)
                    continue
                }
                guard let partitionInfo = metadata.topics[tp.topic]?.partition(tp.partition),
                    partitionInfo.leader != .none, metadata.brokers[partitionInfo.leader] != nil
                else {
                    self.refreshMetadataSoon(group: &group)
                    continue
                }
                leader = partitionInfo.leader
            }
            if requests[leader] == nil,
                self.inFlightPerBroker[leader, default: 0] >= self.configuration.maxInFlightRequestsPerConnection
            {
                continue
            }
            var state = self.partitions.removeValue(forKey: tp)!
            var head = state.queue.removeFirst()
            do {
                try self.stamp(&head, state: &state)
            } catch {
                self.partitions[tp] = state
                self.complete(head, with: .failure(KafkaClientError(.invalidArgument, "cannot build a record batch: \(error)")))
                continue
            }
            // Closed now that its sequence numbers are assigned, even if it waits for the next request.
            head.isOpen = false
            let size = head.built!.readableBytes
            if let used = requestSizes[leader], used + size > self.configuration.maxRequestSize {
                state.queue.insert(head, at: 0)
                self.partitions[tp] = state
                moreReady = true
                continue
            }
            state.inFlight += 1
            if state.queue.first.map({ !$0.isOpen || flushAll }) ?? false { moreReady = true }
            self.partitions[tp] = state
            if self.sticky[tp.topic] == tp.partition, head.retryAt == nil { self.sticky[tp.topic] = nil }
            requests[leader, default: []].append(head)
            requestSizes[leader, default: 0] += size
        }
        for (leader, batches) in requests.sorted(by: { $0.key < $1.key }) {
            self.inFlightPerBroker[leader, default: 0] += 1
            self.totalInFlight += 1
            await self.dispatch(batches, to: leader, group: &group)
        }
        if moreReady { self.wake() }
        if let nextDeadline, self.timerDeadline.map({ nextDeadline < $0 }) ?? true {
            self.timerDeadline = nextDeadline
            group.addTask { [weak self] in
                try? await Task.sleep(until: nextDeadline, clock: .continuous)
                self?.wake()
            }
        }
    }

    /// Gives a batch its producer ID, epoch and sequence (kept across retries) and builds its bytes.
    private func stamp(_ batch: inout ProducerBatch, state: inout PartitionState) throws {
        if self.isIdempotent, let identity = self.identity, batch.baseSequence == nil {
            batch.baseSequence = state.nextSequence
            state.nextSequence = Self.incrementSequence(state.nextSequence, by: Int32(batch.builder.recordCount))
            batch.builder.producerID = identity.id
            batch.builder.producerEpoch = identity.epoch
            batch.builder.baseSequence = batch.baseSequence!
            batch.built = nil
        }
        if batch.built == nil {
            batch.built = try batch.builder.buildInPlace(compressor: self.compressor)
        }
    }

    /// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `Int32.max` to 0.
    static func incrementSequence(_ sequence: Int32, by increment: Int32) -> Int32 {
        sequence > Int32.max - increment ? increment - (Int32.max - sequence) - 1 : sequence + increment
    }

    private func dispatch(_ batches: [ProducerBatch], to leader: BrokerID, group: inout DiscardingTaskGroup) async {
        let acks = self.configuration.acks
        let timeout = self.configuration.client.requestTimeout
        let byTopic = Dictionary(grouping: batches, by: \.partition.topic)
        let request = ProduceRequest(
            transactionalID: nil, acks: acks.rawValue, timeoutMs: timeout.int32Milliseconds,
            topicData: byTopic.sorted { $0.key < $1.key }.map { topic, batches in
                .init(
                    name: topic,
                    partitionData: batches.map { .init(index: $0.partition.partition, records: RecordSet(buffer: $0.built!)) })
            })
        do {
            let connection = try await self.client.connection(to: leader)
            let version = try connection.version(for: ProduceRequest.self)
            // The batches go out as built, in a gather write: not copied into a frame.
            if acks == .none {
                try await connection.sendWithoutResponse(gathering: request, version: version, timeout: timeout)
                self.handle(.success(nil), for: batches, from: leader)
            } else {
                let future = try connection.start(gathering: request, version: version, timeout: timeout)
                group.addTask { [weak self] in
                    let result: Result<ProduceResponse?, KafkaClientError>
                    do {
                        result = .success(try await future.get())
                    } catch {
                        result = .failure(
                            error as? KafkaClientError
                                ?? KafkaClientError(.connectionClosed, "Produce failed: \(BrokerConnection.describe(error))"))
                    }
                    await self?.handle(result, for: batches, from: leader)
                }
            }
        } catch {
            let clientError =
                error as? KafkaClientError ?? KafkaClientError(.connectionFailed, BrokerConnection.describe(error))
            self.handle(.failure(clientError), for: batches, from: leader)
        }
    }

    private func handle(
        _ result: Result<ProduceResponse?, KafkaClientError>, for batches: [ProducerBatch], from leader: BrokerID
    ) {
        self.inFlightPerBroker[leader, default: 1] -= 1
        self.totalInFlight -= 1
        defer { self.wake() }
        switch result {
        case .failure(let error):
            for batch in batches { self.batchFailed(batch, error: error) }
        case .success(nil):
            for batch in batches { self.batchSucceeded(batch, baseOffset: -1, logAppendTime: -1) }
        case .success(let response?):
            var answers: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
            for topic in response.responses {
                for partition in topic.partitionResponses {
                    answers[TopicPartition(topic.name, partition.index)] = partition
                }
            }
            for batch in batches {
                guard let answer = answers[batch.partition] else {
                    self.batchFailed(
                        batch, error: KafkaClientError(.protocolViolation, "no Produce answer for \(batch.partition)"))
                    continue
                }
                if answer.errorCode == .none || answer.errorCode == .duplicateSequenceNumber {
                    self.batchSucceeded(batch, baseOffset: answer.baseOffset, logAppendTime: answer.logAppendTimeMs)
                } else {
                    self.batchFailed(
                        batch,
                        error: .broker(answer.errorCode, "producing to \(batch.partition)", message: answer.errorMessage))
                }
            }
        }
    }

    private func batchSucceeded(_ batch: ProducerBatch, baseOffset: Int64, logAppendTime: Int64) {
        var state = self.partitions[batch.partition] ?? PartitionState()
        state.inFlight -= 1
        if state.retryRemaining > 0 { state.retryRemaining -= 1 }
        self.partitions[batch.partition] = state
        self.complete(batch, with: .success((baseOffset, logAppendTime)))
        self.requeueFailedIfIdle(batch.partition)
    }

    private func batchFailed(_ batch: ProducerBatch, error: KafkaClientError) {
        var batch = batch
        var state = self.partitions[batch.partition] ?? PartitionState()
        state.inFlight -= 1
        // A batch after one that failed is refused as out of order: it is retried too, after its predecessor (or,
        // when the predecessor failed for good, with a new producer ID and fresh sequence numbers).
        let followsFailure =
            error.kafkaErrorCode == .outOfOrderSequenceNumber && (!state.failed.isEmpty || self.needsIdentityReset)
        let now = ContinuousClock.now
        let withinDeadline = now < batch.createdAt + self.configuration.deliveryTimeout
        if error.isRetriable || followsFailure, withinDeadline {
            batch.attempts += 1
            batch.retryAt = now + self.configuration.client.retryBackoff
            state.failed.append(batch)
            self.partitions[batch.partition] = state
            if error.invalidatesMetadata {
                self.needsMetadata = true
            }
            self.logger.debug(
                "retrying batch",
                metadata: [LogKey.topic: "\(batch.partition.topic)", LogKey.partition: "\(batch.partition.partition)",
                           LogKey.error: "\(error.message)"])
        } else {
            self.partitions[batch.partition] = state
            let final =
                withinDeadline
                ? error
                : KafkaClientError(
                    .timedOut,
                    "records for \(batch.partition) were not acknowledged within the delivery timeout: \(error.message)",
                    kafkaErrorCode: error.kafkaErrorCode)
            self.complete(batch, with: .failure(final))
            if self.isIdempotent, batch.baseSequence != nil {
                // The partition's sequence now has a gap: start again with a new producer ID (KIP-360's epoch bump).
                self.needsIdentityReset = true
            }
        }
        self.requeueFailedIfIdle(batch.partition)
    }

    private var needsMetadata = false

    /// Once nothing of a partition is in flight, its failed batches go back to the front of its queue in sequence
    /// order, to be resent one at a time.
    private func requeueFailedIfIdle(_ tp: TopicPartition) {
        guard var state = self.partitions[tp], state.inFlight == 0, !state.failed.isEmpty else { return }
        let failed = state.failed.sorted { ($0.baseSequence ?? 0, $0.createdAt) < ($1.baseSequence ?? 0, $1.createdAt) }
        state.failed = []
        state.queue.insert(contentsOf: failed, at: 0)
        state.retryRemaining = failed.count
        self.partitions[tp] = state
    }

    private func complete(_ batch: ProducerBatch, with result: Result<(Int64, Int64), KafkaClientError>) {
        switch result {
        case .success(let (baseOffset, logAppendTime)):
            func metadata(_ index: Int) -> RecordMetadata {
                RecordMetadata(
                    topic: batch.partition.topic, partition: batch.partition.partition,
                    offset: baseOffset < 0 ? -1 : baseOffset + Int64(index),
                    timestamp: logAppendTime >= 0 ? logAppendTime : batch.timestamps[index])
            }
            var first = 0
            for run in batch.completions {
                defer { first += run.count }
                switch run.completion {
                case .awaiting(let continuation): continuation.resume(returning: metadata(first))
                case .callback(let callback, _):
                    for index in first..<first + run.count { callback(.success(metadata(index))) }
                case .enqueued: break
                }
            }
        case .failure(let error):
            for run in batch.completions {
                switch run.completion {
                case .awaiting(let continuation): continuation.resume(throwing: error)
                case .callback(let callback, _):
                    for _ in 0..<run.count { callback(.failure(error)) }
                case .enqueued:
                    self.unreported.count += run.count
                    if self.unreported.first == nil { self.unreported.first = error }
                }
            }
        }
        self.pendingRecords -= batch.recordCount
        self.bufferedBytes -= batch.byteSize
        let waiters = self.spaceWaiters
        self.spaceWaiters = []
        for waiter in waiters { waiter.resume() }
        if self.pendingRecords == 0 {
            let flushWaiters = self.flushWaiters
            self.flushWaiters = []
            for waiter in flushWaiters { waiter.resume() }
        }
    }

    private func expireBatches(now: ContinuousClock.Instant) {
        // Found first without changing anything: taking each partition's state out to filter its queue would copy
        // every queue on every pass of the sender.
        let deadline = self.configuration.deliveryTimeout
        let affected = self.partitions.compactMap { tp, state in
            state.queue.contains { now >= $0.createdAt + deadline } ? tp : nil
        }
        for tp in affected {
            guard var state = self.partitions.removeValue(forKey: tp) else { continue }
            var expired: [ProducerBatch] = []
            state.queue.removeAll { batch in
                guard now >= batch.createdAt + deadline else { return false }
                expired.append(batch)
                return true
            }
            if state.retryRemaining > 0 { state.retryRemaining = max(0, state.retryRemaining - expired.count) }
            self.partitions[tp] = state
            for batch in expired {
                if self.isIdempotent, batch.baseSequence != nil { self.needsIdentityReset = true }
                self.complete(
                    batch,
                    with: .failure(
                        KafkaClientError(
                            .timedOut,
                            "records for \(tp) were not acknowledged within the delivery timeout "
                                + "(\(self.configuration.deliveryTimeout.formattedSeconds))")))
            }
        }
    }

    private func failAllQueued(_ error: KafkaClientError) {
        for (tp, var state) in self.partitions {
            let queued = state.queue + state.failed
            state.queue = []
            state.failed = []
            state.retryRemaining = 0
            self.partitions[tp] = state
            for batch in queued { self.complete(batch, with: .failure(error)) }
        }
        if self.pendingRecords == 0 {
            let flushWaiters = self.flushWaiters
            self.flushWaiters = []
            for waiter in flushWaiters { waiter.resume() }
        }
    }

    private func resetSequences() {
        for (tp, var state) in self.partitions {
            state.nextSequence = 0
            for index in state.queue.indices where state.queue[index].baseSequence != nil {
                state.queue[index].baseSequence = nil
                state.queue[index].built = nil
            }
            self.partitions[tp] = state
        }
    }

    private func initProducerID() async {
        let client = self.client
        do {
            let response = try await retrying(client, "InitProducerId", deadline: .now + self.configuration.maxBlock) {
                let response = try await client.send(to: nil) { _ in
                    InitProducerIdRequest(transactionalID: nil, transactionTimeoutMs: 60_000, producerID: -1, producerEpoch: -1)
                }
                guard response.errorCode == .none else {
                    throw KafkaClientError.broker(response.errorCode, "InitProducerId")
                }
                return response
            }
            self.identity = (response.producerID.rawValue, response.producerEpoch)
            self.logger.debug("producer ID assigned", metadata: [LogKey.producerID: "\(response.producerID)"])
        } catch {
            let clientError = error as? KafkaClientError ?? KafkaClientError(.connectionFailed, "\(error)")
            if !clientError.isRetriable { self.fatalError = clientError }
            self.failAllQueued(clientError)
        }
    }

    private func refreshMetadataSoon(group: inout DiscardingTaskGroup) {
        guard !self.metadataRefreshPending else { return }
        self.metadataRefreshPending = true
        let topics = Array(Set(self.partitions.keys.map(\.topic)))
        let client = self.client
        let backoff = self.configuration.client.retryBackoff
        group.addTask { [weak self] in
            do {
                try await client.refreshMetadata(topics: topics)
            } catch {
                try? await Task.sleep(for: backoff)
            }
            await self?.metadataRefreshed()
        }
    }

    private func metadataRefreshed() {
        self.metadataRefreshPending = false
        self.wake()
    }

    // MARK: Helpers

    static func estimatedSize(_ record: ProducerRecord) -> Int {
        var size = 21 + (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
        for header in record.headers { size += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0) }
        return size
    }

    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Who waits for a record's acknowledgement.
private enum Completion {
    case awaiting(CheckedContinuation<RecordMetadata, any Error>)
    case enqueued
    /// `call` identifies the call that enqueued the record: records of one call share the callback.
    case callback(Producer.DeliveryCallback, call: UInt64)

    /// Whether a record with this completion may share the entry of a record with `other`.
    func isShared(with other: Completion) -> Bool {
        switch (self, other) {
        case (.enqueued, .enqueued): true
        case (.callback(_, let call), .callback(_, let otherCall)): call == otherCall
        default: false
        }
    }
}

/// Consecutive records of a batch with the same completion: one entry for all the records of one
/// `enqueue(contentsOf:)` call, not one per record.
private struct CompletionRun {
    var completion: Completion
    var count: Int
}

/// Records of one partition waiting to be sent, or being sent.
private struct ProducerBatch {
    let partition: TopicPartition
    var builder: RecordBatchBuilder
    let createdAt: ContinuousClock.Instant
    /// The records' completions, in record order.
    var completions: [CompletionRun] = []
    var recordCount = 0
    var timestamps: [Int64] = []
    var byteSize = 0
    /// Still accepting records.
    var isOpen = true
    /// The sequence number of the first record, once assigned (idempotent producers); kept across retries.
    var baseSequence: Int32?
    /// The encoded batch, once stamped.
    var built: ByteBuffer?
    var attempts = 0
    /// When a failed batch may be resent.
    var retryAt: ContinuousClock.Instant?

    mutating func append(_ record: ProducerRecord, timestamp: Int64, size: Int, completion: Completion) {
        self.builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
        if let last = self.completions.indices.last, self.completions[last].completion.isShared(with: completion) {
            self.completions[last].count += 1
        } else {
            self.completions.append(CompletionRun(completion: completion, count: 1))
        }
        self.recordCount += 1
        self.timestamps.append(timestamp)
        self.byteSize += size
    }
}

/// A partition's queue of batches and its in-flight bookkeeping.
private struct PartitionState {
    var queue: [ProducerBatch] = []
    var inFlight = 0
    /// Batches that failed retriably while others were still in flight; requeued once none is.
    var failed: [ProducerBatch] = []
    /// Resent batches still to be acknowledged; while any is, only one batch is in flight.
    var retryRemaining = 0
    var nextSequence: Int32 = 0

    /// Appends a record to the open batch, or to a new one when there is none or the record does not fit.
    /// - Returns: Whether a batch was started, whether a full batch was closed first, and whether the batch the
    ///   record went into is now full.
    mutating func append(
        _ record: ProducerRecord, to partition: TopicPartition, timestamp: Int64, size: Int, completion: Completion,
        batchSize: Int, compression: CompressionType
    ) -> (newBatch: Bool, closedFull: Bool, isFull: Bool) {
        var newBatch = true
        var closedFull = false
        if let last = self.queue.indices.last, self.queue[last].isOpen {
            if self.queue[last].builder.estimatedSizeInBytes + size <= batchSize {
                newBatch = false
            } else {
                self.queue[last].isOpen = false
                closedFull = true
            }
        }
        if newBatch {
            self.queue.append(
                ProducerBatch(
                    partition: partition,
                    // Room for a whole batch up front (Java's producer allocates batch.size), up to 1 MiB: growing
                    // by doubling would copy the records several times.
                    builder: RecordBatchBuilder(
                        compression: compression, reservingCapacity: min(max(batchSize, size + 64), 1 << 20)),
                    createdAt: .now))
        }
        let index = self.queue.count - 1
        self.queue[index].append(record, timestamp: timestamp, size: size, completion: completion)
        let isFull = self.queue[index].builder.estimatedSizeInBytes >= batchSize
        if isFull { self.queue[index].isOpen = false }
        return (newBatch, closedFull, isFull)
    }
}
