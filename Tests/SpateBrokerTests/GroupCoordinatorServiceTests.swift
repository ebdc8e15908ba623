import Logging
import NIOCore
import NIOPosix
import SpateCoordinators
import SpateStorage
import SpateWire
import Testing

@testable import SpateBroker

/// The broker's group coordinator host (``GroupCoordinatorService``) driven directly: waiting for the load of
/// `__consumer_offsets`, and answering parked requests when it shuts down.
@Suite struct GroupCoordinatorServiceTests {
    /// A real coordinator over in-memory storage, built as `Broker.run` builds it, for the duration of `body`. It is
    /// not loaded: tests call ``GroupCoordinatorService/load()`` when they want it loaded.
    func withCoordinator<T: Sendable>(
        loadWait: Duration = .seconds(2),
        _ body: (GroupCoordinatorService) async throws -> T
    ) async throws -> T {
        var configuration = BrokerConfiguration()
        configuration.storage.dataDirectory = "/data"
        configuration.groups.offsetsTopicPartitions = 3
        configuration.groups.initialRebalanceDelayMs = 0
        let logger = Logger(label: "spate.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        let fileSystem = InMemoryFileSystem()
        let topics = try TopicStore.load(dataDirectory: "/data", fileSystem: fileSystem)
        let defaults = configuration.storage.logDefaults
        let logManager = try LogManager.open(
            dataDirectory: "/data",
            fileSystem: fileSystem,
            compressor: nil,
            config: { _ in defaults },
            nowMs: 0,
            logger: logger
        )
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let replicas = ReplicaManager(
            logManager: logManager,
            io: StorageIO(threadPool: pool),
            topics: topics,
            configuration: configuration,
            clock: { 1_000 }
        )
        let writer = CoordinatorWriter(
            topic: GroupCoordinatorService.topic,
            replicas: replicas,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            ensureTopic: { [configuration] in try topics.ensureOffsetsTopic(configuration) }
        )
        let service = GroupCoordinatorService(
            config: configuration.groups,
            replicas: replicas,
            writer: writer,
            loadWait: loadWait,
            logger: logger
        )
        let result: Result<T, any Error>
        do {
            result = .success(try await body(service))
        } catch {
            result = .failure(error)
        }
        await service.shutdown()
        try await pool.shutdownGracefully()
        return try result.get()
    }

    /// Waits until `condition` holds (checking every millisecond), failing after `timeout`.
    func waitUntil(
        _ what: String,
        timeout: Duration = .seconds(30),
        _ condition: () async -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw WaitTimeout(what: what) }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    struct WaitTimeout: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting until \(self.what)" }
    }

    /// A JoinGroup (v3: no KIP-394 round trip for new members) of a consumer with one protocol.
    func join(_ group: String, member: String = "") -> JoinGroupRequest {
        JoinGroupRequest(
            groupID: GroupID(group),
            sessionTimeoutMs: 30_000,
            rebalanceTimeoutMs: 60_000,
            memberID: member,
            protocolType: "consumer",
            protocols: [.init(name: "range", metadata: ByteBuffer(string: "m"))]
        )
    }

    func join(_ request: JoinGroupRequest, on service: GroupCoordinatorService) async -> JoinGroupResponse {
        await service.join(request, version: 3, clientID: "tests", clientHost: "/127.0.0.1")
    }

    // MARK: Loading

    @Test func requestsWhileLoadingWaitThenGetLoadInProgress() async throws {
        try await self.withCoordinator(loadWait: .milliseconds(200)) { service in
            let started = ContinuousClock.now
            let heartbeat = await service.heartbeat(HeartbeatRequest(groupID: "g", generationID: 1, memberID: "m"))
            #expect(heartbeat.errorCode == .coordinatorLoadInProgress)
            #expect(ContinuousClock.now - started >= .milliseconds(200), "answered before the wait was over")
            let joined = await self.join(self.join("g"), on: service)
            #expect(joined.errorCode == .coordinatorLoadInProgress)
            let offsets = await service.fetchOffsets(group: "g", partitions: nil)
            #expect(throws: CoordinatorUnavailable.self) { try offsets.get() }
            #expect(await service.requestsWaitingForLoad == 0)
        }
    }

    @Test func requestWaitingForTheLoadIsServedOnceLoaded() async throws {
        // A long wait, so that only the load can end it.
        try await self.withCoordinator(loadWait: .seconds(60)) { service in
            try await withThrowingTaskGroup(of: JoinGroupResponse.self) { group in
                group.addTask { await self.join(self.join("g"), on: service) }
                try await self.waitUntil("the JoinGroup waits for the load") {
                    await service.requestsWaitingForLoad == 1
                }
                #expect(await !service.isLoaded)
                await service.load()
                let response = try #require(try await group.next())
                #expect(response.errorCode == .none)
                #expect(response.generationID == 1)
                #expect(!response.memberID.isEmpty)
                #expect(response.leader == response.memberID)
            }
            #expect(await service.requestsWaitingForLoad == 0)
            // Loaded: later requests are served at once.
            let heartbeat = await service.heartbeat(
                HeartbeatRequest(groupID: "g", generationID: 1, memberID: "unknown")
            )
            #expect(heartbeat.errorCode == .unknownMemberID)
        }
    }

    /// A request whose task is cancelled (its connection's task, when the broker stops) stops waiting for the load at
    /// once. Cancelled, `Task.sleep` throws without sleeping, and polling on regardless spun at full CPU (a core's
    /// worth, on the coordinator's actor) until the wait was over.
    @Test func cancelledRequestStopsWaitingForTheLoad() async throws {
        try await self.withCoordinator(loadWait: .seconds(20)) { service in
            try await withThrowingTaskGroup(of: HeartbeatResponse.self) { group in
                group.addTask {
                    await service.heartbeat(HeartbeatRequest(groupID: "g", generationID: 1, memberID: "m"))
                }
                try await self.waitUntil("the Heartbeat waits for the load") {
                    await service.requestsWaitingForLoad == 1
                }
                let cancelled = ContinuousClock.now
                group.cancelAll()
                let response = try #require(try await group.next())
                #expect(response.errorCode == .coordinatorLoadInProgress)
                // Milliseconds when fixed; the whole 20 s wait when spinning.
                #expect(ContinuousClock.now - cancelled < .seconds(10), "the cancelled request kept waiting")
            }
            await service.load()
            let heartbeat = await service.heartbeat(HeartbeatRequest(groupID: "g", generationID: 1, memberID: "m"))
            #expect(heartbeat.errorCode == .unknownMemberID)
        }
    }

    // MARK: Shutdown

    @Test func shutdownAnswersParkedRequestsAndLaterOnesWithNotCoordinator() async throws {
        try await self.withCoordinator { service in
            await service.load()

            // Group "rejoin": a stable group of one; a second member's JoinGroup waits for the first to rejoin.
            let first = await self.join(self.join("rejoin"), on: service)
            #expect(first.errorCode == .none)
            let synced = await service.sync(
                SyncGroupRequest(
                    groupID: "rejoin",
                    generationID: first.generationID,
                    memberID: first.memberID,
                    assignments: [.init(memberID: first.memberID, assignment: ByteBuffer(string: "a"))]
                ),
                version: 3
            )
            #expect(synced.errorCode == .none)

            // Group "assign": two members joined generation 2; the follower's SyncGroup waits for the leader's.
            let leader = await self.join(self.join("assign"), on: service)
            #expect(leader.errorCode == .none)

            try await withThrowingTaskGroup(of: (String, ErrorCode).self) { group in
                group.addTask { ("parked join", await self.join(self.join("rejoin"), on: service).errorCode) }
                let follower = try await withThrowingTaskGroup(of: JoinGroupResponse.self) { joins in
                    joins.addTask { await self.join(self.join("assign"), on: service) }
                    try await self.waitUntil("both JoinGroups are parked") { await service.parkedRequestCount == 2 }
                    let rejoined = await self.join(self.join("assign", member: leader.memberID), on: service)
                    #expect(rejoined.errorCode == .none)
                    #expect(rejoined.generationID == 2)
                    return try #require(try await joins.next())
                }
                #expect(follower.errorCode == .none)
                #expect(follower.generationID == 2)
                #expect(follower.leader == leader.memberID)
                group.addTask {
                    let sync = SyncGroupRequest(groupID: "assign", generationID: 2, memberID: follower.memberID)
                    return ("parked sync", await service.sync(sync, version: 3).errorCode)
                }
                try await self.waitUntil("a JoinGroup and a SyncGroup are parked") {
                    await service.parkedRequestCount == 2
                }

                await service.shutdown()

                var answers: [String: ErrorCode] = [:]
                for try await (name, code) in group { answers[name] = code }
                #expect(answers == ["parked join": .notCoordinator, "parked sync": .notCoordinator])
            }
            #expect(await service.parkedRequestCount == 0)

            // Every later request is refused the same way.
            #expect(
                await self.join(self.join("rejoin", member: first.memberID), on: service).errorCode == .notCoordinator
            )
            let sync = SyncGroupRequest(groupID: "rejoin", generationID: first.generationID, memberID: first.memberID)
            #expect(await service.sync(sync, version: 3).errorCode == .notCoordinator)
            let heartbeat = HeartbeatRequest(
                groupID: "rejoin",
                generationID: first.generationID,
                memberID: first.memberID
            )
            #expect(await service.heartbeat(heartbeat).errorCode == .notCoordinator)
            #expect(
                await service.leave(LeaveGroupRequest(groupID: "rejoin", memberID: first.memberID), version: 1)
                    .errorCode == .notCoordinator
            )
            #expect(await service.deleteGroup("rejoin") == .notCoordinator)
            let offsets = await service.fetchOffsets(group: "rejoin", partitions: nil)
            #expect(throws: CoordinatorUnavailable.self) { try offsets.get() }
        }
    }
}
