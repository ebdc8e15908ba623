import Logging
import NIOCore
import SpateCompression
import SpateCoordinators
import SpateRecords
import SpateStorage
import SpateWire

/// Hosts the group coordinator (``GroupCoordinatorState``) for the broker: serialises calls to it, writes the
/// changes it makes to `__consumer_offsets` before answering, parks JoinGroup/SyncGroup requests until their group
/// answers them, runs its timers, and rebuilds it on start-up by replaying the topic (answering
/// `COORDINATOR_LOAD_IN_PROGRESS` meanwhile). On one node every partition of the topic is led here, so this broker
/// coordinates every group.
actor GroupCoordinatorService {
    static let topic = "__consumer_offsets"

    private var state: GroupCoordinatorState
    private var waiters: [PendingID: CheckedContinuation<GroupReply?, Never>] = [:]
    /// Answers that arrived before their request started waiting for them.
    private var early: [PendingID: GroupReply] = [:]
    private(set) var isLoaded = false
    /// The topics as consumer groups last saw them.
    private var topicImage = TopicImage.empty
    private var isStopped = false
    /// Requests waiting for the load to finish (see ``ready()``); tests observe it.
    private(set) var requestsWaitingForLoad = 0
    let writer: CoordinatorWriter
    let replicas: ReplicaManager
    let config: GroupConfig
    /// How long a request that arrives while the coordinator is loading waits for the load (see ``ready()``).
    let loadWait: Duration
    let logger: Logger

    init(
        config: GroupConfig, replicas: ReplicaManager, writer: CoordinatorWriter, loadWait: Duration = .seconds(2),
        logger: Logger
    ) {
        self.state = GroupCoordinatorState(config: config) { prefix in "\(prefix)-\(Self.javaUUIDString())" }
        self.config = config
        self.replicas = replicas
        self.writer = writer
        self.loadWait = loadWait
        self.logger = logger
    }

    /// JoinGroup and SyncGroup requests parked until their group answers them; tests observe it.
    var parkedRequestCount: Int { self.waiters.count }

    var now: Int64 { self.replicas.clock() }

    /// A random UUID in Java's `UUID.toString()` form, which Kafka appends to member IDs.
    static func javaUUIDString() -> String {
        let uuid = KafkaUUID.random()
        let hex = String(uuid.high, radix: 16).leftPadded(to: 16) + String(uuid.low, radix: 16).leftPadded(to: 16)
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// The partition of `__consumer_offsets` that holds a group.
    nonisolated func partition(for groupID: String) -> Int32 {
        GroupPartitioner.partition(for: groupID, partitionCount: self.config.offsetsTopicPartitions)
    }

    // MARK: Loading and timers

    /// Replays every partition of `__consumer_offsets` (if it exists) into the coordinator, then starts serving.
    func load() async {
        let started = ContinuousClock.now
        var count = 0
        if let topic = self.replicas.topics.topic(named: Self.topic) {
            for partition in 0..<topic.partitionCount {
                do {
                    let records = try await self.replicas.io.run {
                        try Self.readAll(TopicPartition(topic: Self.topic, partition: partition), replicas: self.replicas)
                    }
                    let now = self.now
                    for record in records {
                        do {
                            self.state.replay(GroupStoredChange(try GroupCoordinatorRecord(decoding: record)), nowMs: now)
                            count += 1
                        } catch {
                            self.logger.warning(
                                "Skipped a record of __consumer_offsets that could not be read",
                                metadata: ["spate.partition": "\(partition)", "spate.error": "\(error)"])
                        }
                    }
                } catch {
                    self.logger.error(
                        "Could not read a partition of __consumer_offsets",
                        metadata: ["spate.partition": "\(partition)", "spate.error": "\(error)"])
                }
            }
        }
        self.state.finishLoading(nowMs: self.now)
        self.topicImage = self.currentTopics()
        self.isLoaded = true
        let elapsed = ContinuousClock.now - started
        self.logger.info(
            "Group coordinator loaded",
            metadata: [
                "spate.records": "\(count)", "spate.groups": "\(self.state.groupIDs.count)",
                "spate.load_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
    }

    /// Every record of one partition, oldest first (runs on the storage pool).
    static func readAll(_ partition: TopicPartition, replicas: ReplicaManager) throws -> [CoordinatorRecord] {
        guard let log = try replicas.logManager.log(for: partition) else { return [] }
        var records: [CoordinatorRecord] = []
        var offset = log.logStartOffset
        let compressor = StandardRecordsCompressor()
        while offset < log.logEndOffset {
            guard let slice = try log.read(from: offset, maxBytes: 1 << 20) else { break }
            let set = RecordSet(buffer: try slice.readBytes())
            var advanced = false
            for batch in try set.validateBatches() {
                let next = batch.baseOffset + Int64(batch.lastOffsetDelta) + 1
                guard next > offset else { continue }
                if !batch.isControl {
                    for record in try batch.records(using: compressor, maxDecompressedSize: 1 << 30)
                    where record.offset >= offset {
                        guard let key = record.key else { continue }
                        records.append(CoordinatorRecord(key: key, value: record.value))
                    }
                }
                offset = next
                advanced = true
            }
            if !advanced { break }
        }
        return records
    }

    /// Runs due timers (sessions, rebalance deadlines) and, every `interval`, offset expiry.
    func tick(expireOffsets: Bool) async {
        guard self.isLoaded && !self.isStopped else { return }
        let now = self.now
        let topics = self.currentTopics()
        var output = GroupCoordinatorState.Output()
        if topics.byName != self.topicImage.byName {
            self.topicImage = topics
            output = self.state.topicsChanged(topics, nowMs: now)
        }
        output += self.state.tick(nowMs: now, topics: topics)
        if expireOffsets { output += self.state.expireOffsets(nowMs: now) }
        _ = await self.dispatch(output)
    }

    /// Stops coordinating: waiting requests are answered with NOT_COORDINATOR (clients look for the coordinator
    /// again), and so is every later request.
    func shutdown() {
        self.isStopped = true
        for (_, waiter) in self.waiters.sorted(by: { $0.key < $1.key }) {
            waiter.resume(returning: nil)
        }
        self.waiters = [:]
    }

    /// The topics that exist now (internal ones excluded), for consumer groups.
    func currentTopics() -> TopicImage {
        TopicImage(
            self.replicas.topics.all.filter { !$0.isInternal }.map {
                TopicImage.Topic(name: $0.name, id: $0.id, partitionCount: $0.partitionCount)
            })
    }

    // MARK: Dispatch

    /// Writes the changes, then answers waiting requests. Returns whether the write succeeded.
    private func dispatch(_ output: GroupCoordinatorState.Output) async -> Bool {
        for event in output.events {
            self.logger.info("\(event.message)", metadata: event.metadata.mapValues { .string($0) })
        }
        var ok = true
        if !output.changes.isEmpty {
            do {
                try await self.write(output.changes).get()
            } catch {
                ok = false
                self.logger.warning("Could not write to __consumer_offsets", metadata: ["spate.error": "\(error)"])
            }
        }
        for (id, reply) in output.replies { self.resume(id, with: reply) }
        return ok
    }

    /// Enqueues the records of `changes` (synchronously, in order) and returns when they are written.
    private func write(_ changes: [GroupStoredChange]) -> EventLoopFuture<Void> {
        var byPartition: [Int32: [CoordinatorRecord]] = [:]
        var order: [Int32] = []
        do {
            for change in changes {
                let record = try change.record.encoded()
                let partition = self.partition(for: change.record.groupID)
                if byPartition[partition] == nil { order.append(partition) }
                byPartition[partition, default: []].append(record)
            }
        } catch {
            return self.writer.eventLoop.makeFailedFuture(error)
        }
        return self.writer.enqueue(order.map { ($0, byPartition[$0]!) })
    }

    /// Why requests cannot be served now: stopped (NOT_COORDINATOR), or still loading after a short wait
    /// (COORDINATOR_LOAD_IN_PROGRESS). Loading usually takes milliseconds, and some clients (librdkafka's admin API)
    /// do not retry the load error, so a request that arrives meanwhile waits up to ``loadWait`` (two seconds) for it.
    private func ready() async -> ErrorCode? {
        let deadline = ContinuousClock.now + self.loadWait
        if !self.isLoaded && !self.isStopped {
            self.requestsWaitingForLoad += 1
            while !self.isLoaded && !self.isStopped && ContinuousClock.now < deadline {
                // Once the request's task is cancelled (its connection is going away) the sleep throws at once:
                // stop waiting, rather than spin on the actor until the deadline.
                do { try await Task.sleep(for: .milliseconds(5)) } catch { break }
            }
            self.requestsWaitingForLoad -= 1
        }
        if !self.isLoaded && !self.isStopped { return .coordinatorLoadInProgress }
        return self.isStopped ? .notCoordinator : nil
    }

    private func resume(_ id: PendingID, with reply: GroupReply) {
        if let waiter = self.waiters.removeValue(forKey: id) {
            waiter.resume(returning: reply)
        } else {
            self.early[id] = reply
        }
    }

    /// The answer for a waiting request, or nil when the coordinator stopped first.
    private func wait(for id: PendingID) async -> GroupReply? {
        if let reply = self.early.removeValue(forKey: id) { return reply }
        // A request that parks after shutdown() (its dispatch was writing meanwhile) would wait forever.
        if self.isStopped { return nil }
        return await withCheckedContinuation { self.waiters[id] = $0 }
    }

    // MARK: Classic protocol

    func join(_ request: JoinGroupRequest, version: Int16, clientID: String, clientHost: String) async -> JoinGroupResponse {
        if let error = await self.ready() {
            return JoinGroupResponse(errorCode: error, protocolName: version >= 7 ? nil : "", memberID: request.memberID)
        }
        let (response, pending, output) = self.state.join(
            request, version: version, clientID: clientID, clientHost: clientHost, nowMs: self.now)
        _ = await self.dispatch(output)
        if let response {
            self.trace("JoinGroup", request.groupID.rawValue, request.memberID, response.errorCode, response.generationID)
            return response
        }
        guard case .join(let reply) = await self.wait(for: pending) else {
            return JoinGroupResponse(errorCode: .notCoordinator, protocolName: version >= 7 ? nil : "", memberID: request.memberID)
        }
        self.trace("JoinGroup", request.groupID.rawValue, reply.memberID, reply.errorCode, reply.generationID)
        return reply
    }

    func sync(_ request: SyncGroupRequest, version: Int16) async -> SyncGroupResponse {
        if let error = await self.ready() { return SyncGroupResponse(errorCode: error, assignment: ByteBuffer()) }
        let (response, pending, output) = self.state.sync(request, version: version, nowMs: self.now)
        let written = await self.dispatch(output)
        if let response {
            self.trace("SyncGroup", request.groupID.rawValue, request.memberID, response.errorCode, request.generationID)
            return response
        }
        guard case .sync(var reply) = await self.wait(for: pending) else {
            return SyncGroupResponse(errorCode: .notCoordinator, assignment: ByteBuffer())
        }
        if !written && reply.errorCode == .none {
            // Kafka fails the sync when the group's assignment could not be stored.
            reply = SyncGroupResponse(errorCode: .coordinatorNotAvailable, assignment: ByteBuffer())
        }
        self.trace("SyncGroup", request.groupID.rawValue, request.memberID, reply.errorCode, request.generationID)
        return reply
    }

    func heartbeat(_ request: HeartbeatRequest) async -> HeartbeatResponse {
        if let error = await self.ready() { return HeartbeatResponse(errorCode: error) }
        let response = self.state.heartbeat(request, nowMs: self.now)
        self.trace("Heartbeat", request.groupID.rawValue, request.memberID, response.errorCode, request.generationID)
        return response
    }

    func leave(_ request: LeaveGroupRequest, version: Int16) async -> LeaveGroupResponse {
        if let error = await self.ready() { return LeaveGroupResponse(errorCode: error) }
        let (response, output) = self.state.leave(request, version: version, nowMs: self.now)
        _ = await self.dispatch(output)
        return response
    }

    /// A debug line per classic-protocol answer: which member got which error in which generation.
    private func trace(_ api: String, _ group: String, _ member: String, _ code: ErrorCode, _ generation: Int32) {
        self.logger.debug(
            "\(api) answered",
            metadata: [
                "spate.group": "\(group)", "spate.member": "\(member)", "spate.error_code": "\(code)",
                "spate.generation": "\(generation)",
            ])
    }

    // MARK: Consumer protocol (KIP-848)

    func consumerHeartbeat(
        _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientID: String, clientHost: String
    ) async -> ConsumerGroupHeartbeatResponse {
        if let error = await self.ready() { return ConsumerGroupHeartbeatResponse(errorCode: error) }
        let topics = self.currentTopics()
        let (response, output) = self.state.consumerHeartbeat(
            request, version: version, clientID: clientID, clientHost: clientHost, nowMs: self.now, topics: topics)
        guard await self.dispatch(output) else { return ConsumerGroupHeartbeatResponse(errorCode: .coordinatorNotAvailable) }
        return response
    }

    func describeConsumerGroup(_ id: String) async -> ConsumerGroupDescribeResponse.DescribedGroup {
        if let error = await self.ready() { return .init(errorCode: error, groupID: GroupID(id)) }
        return self.state.describeConsumerGroup(id, topics: self.currentTopics())
    }

    // MARK: Offsets

    func commitOffsets(_ request: OffsetCommitRequest, version: Int16) async -> OffsetCommitResponse {
        if let error = await self.ready() { return Self.everyPartition(request, error) }
        let (response, output) = self.state.commitOffsets(request, version: version, nowMs: self.now)
        guard await self.dispatch(output) else { return Self.everyPartition(request, .coordinatorNotAvailable) }
        return response
    }

    static func everyPartition(_ request: OffsetCommitRequest, _ code: ErrorCode) -> OffsetCommitResponse {
        OffsetCommitResponse(
            topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
            })
    }

    /// The committed offsets of one group, or why they cannot be read now.
    func fetchOffsets(
        group: String, partitions: [GroupTopicPartition]?, memberID: String? = nil, memberEpoch: Int32 = -1
    ) async -> Result<[GroupTopicPartition: CommittedOffset?], CoordinatorUnavailable> {
        if let error = await self.ready() { return .failure(CoordinatorUnavailable(code: error)) }
        let check = self.state.validateOffsetFetch(group: group, memberID: memberID, memberEpoch: memberEpoch)
        guard check == .none else { return .failure(CoordinatorUnavailable(code: check)) }
        return .success(self.state.fetchOffsets(group: group, partitions: partitions))
    }

    func deleteOffsets(group: String, partitions: [GroupTopicPartition]) async -> (ErrorCode, [GroupTopicPartition: ErrorCode]) {
        if let error = await self.ready() { return (error, [:]) }
        let (code, results, output) = self.state.deleteOffsets(group: group, partitions: partitions, nowMs: self.now)
        guard await self.dispatch(output) else { return (.coordinatorNotAvailable, [:]) }
        return (code, results)
    }

    // MARK: Administration

    func deleteGroup(_ id: String) async -> ErrorCode {
        if let error = await self.ready() { return error }
        let (code, output) = self.state.deleteGroup(id, nowMs: self.now)
        guard await self.dispatch(output) else { return .coordinatorNotAvailable }
        return code
    }

    func describe(_ id: String) async -> DescribeGroupsResponse.DescribedGroup {
        if let error = await self.ready() { return .init(errorCode: error, groupID: GroupID(id)) }
        return self.state.describe(id)
    }

    func listGroups() async -> Result<[(id: String, protocolType: String, state: String, type: String)], CoordinatorUnavailable> {
        if let error = await self.ready() { return .failure(CoordinatorUnavailable(code: error)) }
        return .success(self.state.listGroups())
    }
}

/// The coordinator cannot answer now (loading, or stopped).
struct CoordinatorUnavailable: Error {
    var code: ErrorCode
}
