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

    /// Serves one connection: requests are answered strictly in order, one at a time (as Kafka does), which also
    /// bounds what one client can make the broker buffer. The next request is read once the previous response has
    /// been written to the socket (Kafka mutes a connection likewise until its response is sent).
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
            try await connection.executeThenClose { inbound, _ in
                for try await frame in inbound {
                    if let response = try await state.registry.handle(
                        frame: frame, broker: state, logger: logger, clientHost: clientHost)
                    {
                        try await Self.write(response, to: channel)
                    }
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
}

extension Broker {
    /// Writes a response and returns once the socket has taken it (or the write failed). File ranges go out as
    /// `FileRegion`s (`sendfile`); their descriptors are closed when their writes complete, whether they succeeded or
    /// not. (The channel's `NIOAsyncChannel` writer reports no completion per write, so responses go through the
    /// channel itself, which reports each one: the descriptors are never closed early, nor leaked when the
    /// connection drops mid-response.)
    static func write(_ response: ResponseFrame, to channel: any Channel) async throws {
        switch response {
        case .buffer(let buffer):
            try await channel.writeAndFlush(IOData.byteBuffer(buffer)).get()
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
                        throw ConnectionError(description: "a file range of a response was already sent")
                    }
                    handles.append(handle)
                    data.append(.fileRegion(region))
                }
            }
            let writes = data.map { channel.write($0) }
            channel.flush()
            let results = try await EventLoopFuture.whenAllComplete(writes, on: channel.eventLoop).get()
            for handle in handles { try? handle.close() }
            for result in results { try result.get() }
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
