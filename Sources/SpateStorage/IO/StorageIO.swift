public import NIOPosix

/// The storage thread pool: every file operation runs here, one offload per whole operation, so that nothing blocks
/// an event loop or the cooperative pool.
public struct StorageIO: Sendable {
    public let threadPool: NIOThreadPool

    /// Wraps a started pool. Size it for the disk, not the CPU (Kafka's `num.io.threads` defaults to 8).
    public init(threadPool: NIOThreadPool) {
        self.threadPool = threadPool
    }

    /// Runs `body` on the pool and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await self.threadPool.runIfActive(body)
    }
}
