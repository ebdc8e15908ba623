public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import ServiceLifecycle
import SpateCompression
import SpateCoordinators
import SpateStorage
import SpateWire

/// A Spate broker: opens the data directory, serves the Kafka protocol on its listener until graceful shutdown
/// (SIGTERM/SIGINT through ServiceLifecycle), then answers in-flight requests, flushes and writes checkpoints.
public struct Broker: Service {
    public static let version = "0.1.0-dev"

    public let configuration: BrokerConfiguration
    let logger: Logger
    let onListening: @Sendable (Int) -> Void

    /// - Parameter onListening: Called with the bound port once the listener accepts connections (port 0 binds an
    ///   ephemeral port, which tests use).
    public init(configuration: BrokerConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        try self.configuration.validate()
        let configuration = self.configuration
        let logger = self.logger
        let pool = NIOThreadPool(numberOfThreads: configuration.storage.ioThreads)
        pool.start()
        let io = StorageIO(threadPool: pool)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let started = ContinuousClock.now
        do {
            let fileSystem = PosixFileSystem()
            let dataDirectory = configuration.storage.dataDirectory
            let (logManager, topics, meta, producerIDs) = try await io.run {
                () throws -> (LogManager, TopicStore, MetaProperties, ProducerIDManager) in
                try fileSystem.createDirectoryDurably(dataDirectory)
                let meta = try MetaProperties.loadOrCreate(
                    dataDirectory: dataDirectory, nodeID: configuration.nodeID, fileSystem: fileSystem)
                let topics = try TopicStore.load(dataDirectory: dataDirectory, fileSystem: fileSystem)
                let manager = try LogManager.open(
                    dataDirectory: dataDirectory, fileSystem: fileSystem, compressor: StandardRecordsCompressor(),
                    config: { name in
                        topics.topic(named: name).flatMap { try? TopicConfigs.settings(overrides: $0.configs, broker: configuration).log }
                            ?? configuration.storage.logDefaults
                    }, nowMs: wallClockMilliseconds(), logger: logger,
                    producerIDExpiration: configuration.transactions.producerIDExpiration)
                let producerIDs = try ProducerIDManager.load(dataDirectory: dataDirectory, fileSystem: fileSystem)
                return (manager, topics, meta, producerIDs)
            }
            let replicas = ReplicaManager(
                logManager: logManager, io: io, topics: topics, configuration: configuration, clock: wallClockMilliseconds)
            let writer = CoordinatorWriter(
                topic: GroupCoordinatorService.topic, replicas: replicas, eventLoop: group.next(),
                ensureTopic: { try topics.ensureOffsetsTopic(configuration) })
            let groups = GroupCoordinatorService(
                config: configuration.groups, replicas: replicas, writer: writer, logger: logger)
            let connections = ConnectionRegistry()
            let cleaner = logManager.makeCleaner()
            let maxFrame = configuration.network.socketRequestMaxBytes
            let idle = configuration.network.connectionsMaxIdle
            let server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.network.host, port: configuration.network.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            IdleStateHandler(allTimeout: .milliseconds(idle.inMilliseconds)))
                        try channel.pipeline.syncOperations.addHandler(IdleConnectionCloser())
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(splitter: FrameSplitter(maxFrameSize: maxFrame))))
                        return try NIOAsyncChannel<ByteBuffer, IOData>(wrappingChannelSynchronously: channel)
                    }
                }
            let port = server.channel.localAddress?.port ?? configuration.network.port
            let state = BrokerState(
                configuration: configuration, clusterID: meta.clusterID, topics: topics, replicas: replicas,
                producerIDs: producerIDs, groups: groups, fetchSessions: FetchSessionCache(capacity: configuration.network.maxIncrementalFetchSessionCacheSlots), registry: .standard, advertisedHost: configuration.network.advertisedHost ?? configuration.network.host,
                advertisedPort: Int32(configuration.network.advertisedPort ?? port))
            let elapsed = ContinuousClock.now - started
            logger.info(
                "Spate broker started",
                metadata: [
                    "spate.listener": "\(configuration.network.host):\(port)",
                    "spate.advertised_listener": "\(state.advertisedHost):\(state.advertisedPort)",
                    "spate.data_dir": "\(dataDirectory)", "spate.version": "\(Self.version)",
                    "spate.node_id": "\(configuration.nodeID)", "spate.cluster_id": "\(meta.clusterID)",
                    "spate.partitions": "\(logManager.partitions.count)",
                    "spate.startup_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ])
            self.onListening(port)

            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask {
                        // After a clean shutdown, partition logs were left to open on first use so that start-up
                        // does not wait for them; open them now, in the background, while requests are served.
                        let opened = try? await io.run { logManager.openDeferredLogs() }
                        logger.debug("Opened partition logs in the background", metadata: ["spate.partitions": "\(opened ?? 0)"])
                        // Background upkeep: retention, time-based flushes, deleted files, checkpoints, compaction.
                        while !Task.isCancelled {
                            try? await Task.sleep(for: min(configuration.storage.retentionCheckInterval, .seconds(30)))
                            if Task.isCancelled { break }
                            do {
                                try await io.run {
                                    try logManager.runMaintenance(nowMs: wallClockMilliseconds())
                                    _ = try logManager.runCompaction(nowMs: wallClockMilliseconds(), cleaner: cleaner)
                                }
                            } catch {
                                logger.warning("Log maintenance failed", metadata: ["spate.error": "\(error)"])
                            }
                        }
                    }
                    tasks.addTask {
                        // The group coordinator: replay __consumer_offsets, then run its timers.
                        // On graceful shutdown, requests waiting in a rebalance are answered (NOT_COORDINATOR) so
                        // that their connections can finish.
                        await cancelWhenGracefulShutdown {
                            await groups.load()
                            var lastExpiry = ContinuousClock.now
                            while !Task.isCancelled {
                                try? await Task.sleep(for: .milliseconds(100))
                                let expire = ContinuousClock.now - lastExpiry >= configuration.offsetsRetentionCheckInterval
                                if expire { lastExpiry = ContinuousClock.now }
                                await groups.tick(expireOffsets: expire)
                            }
                        }
                        await groups.shutdown()
                        // Stay until the broker stops, like the other background tasks.
                        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                    }
                    tasks.addTask {
                        try await withThrowingDiscardingTaskGroup { connectionTasks in
                            try await server.executeThenClose { inbound in
                                for try await connection in inbound {
                                    connectionTasks.addTask {
                                        await Self.serve(connection, state: state, registry: connections, logger: logger)
                                    }
                                }
                            }
                        }
                    }
                    // The accept loop ends when the listener closes and every connection has finished.
                    _ = try await tasks.next()
                    tasks.cancelAll()
                }
            } onGracefulShutdown: {
                logger.info("Shutting down: no new connections; answering requests in flight")
                server.channel.close(promise: nil)
                connections.closeInputs()
            }
            try await io.run { try logManager.shutdown(nowMs: wallClockMilliseconds()) }
            logger.info("Spate broker stopped", metadata: ["spate.data_dir": "\(dataDirectory)"])
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    /// Serves one connection. Requests start one at a time, in order, and their responses are written in request
    /// order (as Kafka does). A request's ordered part runs before the next request starts: everything, for most
    /// APIs, so that for example an OffsetCommit sent behind a JoinGroup is checked against the generation that the
    /// join produced, as in Kafka. Produce's ordered part queues its appends to their partitions; the wait for them
    /// (and for the fsync of acks=all) runs on the connection's writer, so that a client's pipelined produces are
    /// appended back to back and share fsyncs. ``ReplyQueue`` bounds what one connection can have pending.
    static func serve(
        _ connection: NIOAsyncChannel<ByteBuffer, IOData>, state: BrokerState, registry: ConnectionRegistry,
        logger: Logger
    ) async {
        let id = registry.add(connection.channel)
        defer { registry.remove(id) }
        var logger = logger
        logger[metadataKey: "spate.connection_id"] = "\(id)"
        logger[metadataKey: "spate.remote"] = "\(connection.channel.remoteAddress.map { "\($0)" } ?? "?")"
        logger.trace("Connection opened")
        let clientHost = "/" + (connection.channel.remoteAddress?.ipAddress ?? "")
        do {
            let channel = connection.channel
            let replies = ReplyQueue(
                maxRequests: Self.maxPendingRequests, maxRequestBytes: Self.maxPendingRequestBytes)
            try await connection.executeThenClose { inbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    let writerLogger = logger
                    tasks.addTask { await Self.writeReplies(from: replies, to: channel, logger: writerLogger) }
                    do {
                        // Effects of earlier requests (a produce's appends) that may not be visible yet.
                        var unapplied: [any Completion] = []
                        for try await frame in inbound {
                            if !unapplied.isEmpty, RequestHeader.peek(frame)?.apiKey != .produce {
                                for effect in unapplied { await effect.wait() }
                                unapplied = []
                            }
                            let bytes = frame.readableBytes
                            await replies.reserve(requestBytes: bytes)
                            let reply: Reply
                            do {
                                reply = try await state.registry.handle(
                                    frame: frame, broker: state, logger: logger, clientHost: clientHost)
                            } catch {
                                replies.release(requestBytes: bytes)
                                throw error
                            }
                            if case .later(let later) = reply {
                                unapplied.removeAll { $0.isComplete }
                                unapplied.append(contentsOf: later.effects)
                                replies.add(.init(reply: reply, requestBytes: bytes))
                            } else if !replies.isAlone {
                                // Behind replies still unwritten: the writer keeps the order.
                                replies.add(.init(reply: reply, requestBytes: bytes))
                            } else {
                                // Nothing before it is unwritten: write it here, without a hand-off.
                                defer { replies.release(requestBytes: bytes) }
                                if case .frame(let response) = reply { try await Self.write(response, to: channel) }
                            }
                        }
                    } catch {
                        // Replies already queued are still written, then the connection closes.
                        replies.finish()
                        try await tasks.waitForAll()
                        throw error
                    }
                    replies.finish()
                    try await tasks.waitForAll()
                }
            }
            logger.trace("Connection closed")
        } catch let error as ConnectionError {
            logger.info("Closed a connection after a request it could not answer", metadata: ["spate.reason": "\(error)"])
        } catch let error as WireError {
            logger.info("Closed a connection after an invalid frame", metadata: ["spate.reason": "\(error)"])
        } catch {
            logger.debug("Connection ended", metadata: ["spate.error": "\(error)"])
        }
    }

    /// At most this many requests of one connection are started and not yet answered (Kafka's librdkafka clients
    /// pipeline up to 5 produces per connection by default with idempotence, up to 1,000,000 without).
    static let maxPendingRequests = 32
    /// At most this many bytes of one connection's requests are held for unwritten replies (one request of any size
    /// is always let in when nothing is pending). Small, because it is what lets many small requests overlap; large
    /// requests (a producer's 1 MB batches) take long enough each that a few in flight keep the disk busy, and
    /// holding more only raises the broker's memory.
    static let maxPendingRequestBytes = 4 << 20

    /// The connection's writer: takes the replies in request order, finishes those that finish later, and writes
    /// them. It writes without waiting for the socket unless the channel is not writable (back-pressure). If a reply
    /// cannot be finished, the connection is closed; later replies are still finished (their appends are queued
    /// already), but not written.
    static func writeReplies(from replies: ReplyQueue, to channel: any Channel, logger: Logger) async {
        var lastWrite: EventLoopFuture<Void>?
        var closed = false
        while true {
            let entries = await replies.next()
            if entries.isEmpty { break }
            for entry in entries {
                defer { replies.release(requestBytes: entry.requestBytes) }
                let response: ResponseFrame?
                switch entry.reply {
                case .none:
                    response = nil
                case .frame(let frame):
                    response = frame
                case .later(let later):
                    do {
                        response = try await later.finish()
                    } catch {
                        if !closed {
                            logger.info(
                                "Closed a connection after a request it could not answer",
                                metadata: ["spate.reason": "\(error)"])
                            channel.close(promise: nil)
                            closed = true
                        }
                        response = nil
                    }
                }
                guard let response, !closed else { continue }
                let write = Self.send(response, to: channel)
                lastWrite = write
                if !channel.isWritable { _ = try? await write.get() }
            }
        }
        _ = try? await lastWrite?.get()
    }
}

extension Broker {
    /// Writes a response and returns once the socket has taken it (or the write failed).
    static func write(_ response: ResponseFrame, to channel: any Channel) async throws {
        try await Self.send(response, to: channel).get()
    }

    /// Writes a response; the future completes once the socket has taken it (or the write failed). File ranges go
    /// out as `FileRegion`s (`sendfile`); their descriptors are closed when their writes complete, whether they
    /// succeeded or not. (The channel's `NIOAsyncChannel` writer reports no completion per write, so responses go
    /// through the channel itself, which reports each one: the descriptors are never closed early, nor leaked when
    /// the connection drops mid-response.)
    static func send(_ response: ResponseFrame, to channel: any Channel) -> EventLoopFuture<Void> {
        switch response {
        case .buffer(let buffer):
            return channel.writeAndFlush(IOData.byteBuffer(buffer))
        case .parts(let parts):
            var handles: [NIOFileHandle] = []
            var data: [IOData] = []
            for part in parts {
                switch part {
                case .bytes(let bytes):
                    data.append(.byteBuffer(bytes))
                case .file(let range):
                    guard let (handle, region) = range.takeFileRegion() else {
                        // A response is written once, so this cannot happen; fail without leaking what was taken.
                        for handle in handles { try? handle.close() }
                        return channel.eventLoop.makeFailedFuture(
                            ConnectionError(description: "a file range of a response was already sent"))
                    }
                    handles.append(handle)
                    data.append(.fileRegion(region))
                }
            }
            let writes = data.map { channel.write($0) }
            channel.flush()
            let taken = handles
            return EventLoopFuture.whenAllComplete(writes, on: channel.eventLoop).flatMapThrowing { results in
                for handle in taken { try? handle.close() }
                for result in results { try result.get() }
            }
        }
    }
}

/// The open connections, so that shutdown can stop their input while their current request finishes.
final class ConnectionRegistry: Sendable {
    private let state = NIOLockedValueBox<(next: Int, channels: [Int: any Channel])>((0, [:]))

    func add(_ channel: any Channel) -> Int {
        self.state.withLockedValue { state in
            state.next += 1
            state.channels[state.next] = channel
            return state.next
        }
    }

    func remove(_ id: Int) {
        _ = self.state.withLockedValue { $0.channels.removeValue(forKey: id) }
    }

    func closeInputs() {
        for channel in self.state.withLockedValue({ Array($0.channels.values) }) {
            channel.close(mode: .input).whenFailure { _ in channel.close(promise: nil) }
        }
    }
}
