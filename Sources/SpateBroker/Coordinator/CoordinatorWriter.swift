import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SpateCompression
import SpateCoordinators
import SpateRecords
import SpateStorage

/// Appends coordinator records to their internal topic in exactly the order they were enqueued: the coordinator
/// enqueues while it changes its state (synchronously, so two changes can never be written in the other order) and
/// its caller awaits the returned future before answering. One drain job at a time runs on the storage thread pool.
final class CoordinatorWriter: Sendable {
    struct Item {
        var partition: TopicPartition
        var records: [CoordinatorRecord]
        var promise: EventLoopPromise<Void>
    }

    let topic: String
    let replicas: ReplicaManager
    let eventLoop: any EventLoop
    /// Creates the internal topic if it does not exist yet.
    let ensureTopic: @Sendable () throws -> Void
    private let queue = NIOLockedValueBox<(items: [Item], draining: Bool)>(([], false))

    init(topic: String, replicas: ReplicaManager, eventLoop: any EventLoop, ensureTopic: @escaping @Sendable () throws -> Void) {
        self.topic = topic
        self.replicas = replicas
        self.eventLoop = eventLoop
        self.ensureTopic = ensureTopic
    }

    /// Queues records for partitions of the topic; the future completes once all of them are in the log.
    func enqueue(_ batches: [(partition: Int32, records: [CoordinatorRecord])]) -> EventLoopFuture<Void> {
        let batches = batches.filter { !$0.records.isEmpty }
        guard !batches.isEmpty else { return self.eventLoop.makeSucceededVoidFuture() }
        let items = batches.map {
            Item(partition: TopicPartition(topic: self.topic, partition: $0.partition), records: $0.records,
                 promise: self.eventLoop.makePromise(of: Void.self))
        }
        let startDrain = self.queue.withLockedValue { queue in
            queue.items += items
            defer { queue.draining = true }
            return !queue.draining
        }
        if startDrain { self.scheduleDrain() }
        return EventLoopFuture.andAllSucceed(items.map(\.promise.futureResult), on: self.eventLoop)
    }

    private func scheduleDrain() {
        self.replicas.io.threadPool.runIfActive(eventLoop: self.eventLoop) { self.drain() }.whenFailure { error in
            // The pool is shutting down: nothing more will be written.
            let items = self.queue.withLockedValue { queue in
                defer { queue.items = []; queue.draining = false }
                return queue.items
            }
            for item in items { item.promise.fail(error) }
        }
    }

    /// Runs on the storage pool: writes queued items in order until the queue is empty.
    private func drain() {
        while true {
            let next = self.queue.withLockedValue { queue -> Item? in
                if queue.items.isEmpty {
                    queue.draining = false
                    return nil
                }
                return queue.items.removeFirst()
            }
            guard let item = next else { return }
            do {
                try self.write(item)
                self.replicas.signal.appended(to: item.partition)
                item.promise.succeed()
            } catch {
                item.promise.fail(error)
            }
        }
    }

    private func write(_ item: Item) throws {
        try self.ensureTopic()
        guard let log = try self.replicas.log(for: item.partition) else {
            throw StorageError(.notFound, "no log for \(item.partition)")
        }
        let now = self.replicas.clock()
        var builder = RecordBatchBuilder(baseOffset: 0)
        for record in item.records { builder.append(key: record.key, value: record.value, timestamp: now) }
        let bytes = try builder.build(compressor: nil)
        _ = try log.append(RecordSet(buffer: bytes), leaderEpoch: 0, nowMs: now)
    }
}
