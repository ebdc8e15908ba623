import NIOConcurrencyHelpers
import SpateStorage

/// Wakes long-polling fetches when data arrives. Each partition has a version that every append bumps; a fetch
/// snapshots the versions of its partitions before reading, and waits only if none has changed since, so an append
/// that lands between the read and the wait is never missed.
final class AppendSignal: Sendable {
    private struct Waiter {
        var partitions: Set<TopicPartition>
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var versions: [TopicPartition: UInt64] = [:]
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
    }

    private let state = NIOLockedValueBox(State())

    func snapshot(_ partitions: some Sequence<TopicPartition>) -> [TopicPartition: UInt64] {
        self.state.withLockedValue { state in
            Dictionary(uniqueKeysWithValues: partitions.map { ($0, state.versions[$0] ?? 0) })
        }
    }

    /// Records an append and wakes the fetches waiting on the partition.
    func appended(to partition: TopicPartition) {
        let woken = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.versions[partition, default: 0] &+= 1
            let ids = state.waiters.filter { $0.value.partitions.contains(partition) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0)?.continuation }
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when any of the partitions changed after `snapshot`, or when the task is cancelled.
    func wait(since snapshot: [TopicPartition: UInt64]) async {
        let id = self.state.withLockedValue { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    if Task.isCancelled { return true }
                    if snapshot.contains(where: { state.versions[$0.key] ?? 0 != $0.value }) { return true }
                    state.waiters[id] = Waiter(partitions: Set(snapshot.keys), continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = self.state.withLockedValue { $0.waiters.removeValue(forKey: id)?.continuation }
            continuation?.resume()
        }
    }

    /// Waits for a change after `snapshot`, at most `timeout`.
    func wait(since snapshot: [TopicPartition: UInt64], timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.wait(since: snapshot) }
            await group.next()
            group.cancelAll()
        }
    }
}
