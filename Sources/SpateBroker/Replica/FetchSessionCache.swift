import NIOConcurrencyHelpers
import SpateWire

/// A partition of a fetch session: keyed by topic ID from Fetch v13 (sessions created with topic IDs), by name before.
struct FetchSessionKey: Hashable, Sendable {
    var topicID: KafkaUUID
    var topic: String
    var partition: Int32
}

/// What a session remembers of a partition: the request parameters (which incremental requests update) and what the
/// last response told the client (so that incremental responses can leave unchanged partitions out).
struct FetchSessionPartition: Sendable, Hashable {
    var key: FetchSessionKey
    var fetchOffset: Int64
    var partitionMaxBytes: Int32
    /// The high watermark and log start offset last sent; -1 until a response carried the partition.
    var highWatermark: Int64 = -1
    var logStartOffset: Int64 = -1
}

/// The incremental fetch sessions of this broker (KIP-227): bounded like Kafka's
/// `max.incremental.fetch.session.cache.slots` (default 1000), evicting the least recently used session when full.
final class FetchSessionCache: Sendable {
    struct Session {
        var id: Int32
        /// The epoch the next incremental request must carry.
        var epoch: Int32
        var usesTopicIDs: Bool
        /// The partitions in fetch order (Kafka rotates partitions that returned data to the end).
        var order: [FetchSessionKey]
        var partitions: [FetchSessionKey: FetchSessionPartition]
        var lastUsed: UInt64

        var orderedPartitions: [FetchSessionPartition] { self.order.compactMap { self.partitions[$0] } }
    }

    private struct State {
        var sessions: [Int32: Session] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int = 1000) {
        self.capacity = max(0, capacity)
    }

    var count: Int { self.state.withLockedValue { $0.sessions.count } }

    func session(_ id: Int32) -> Session? { self.state.withLockedValue { $0.sessions[id] } }

    /// Creates a session for the partitions of a full fetch (with what the response sent) and returns its ID, or 0
    /// when the cache has no slots at all.
    func create(usesTopicIDs: Bool, partitions: [FetchSessionPartition]) -> Int32 {
        guard self.capacity > 0 else { return 0 }
        return self.state.withLockedValue { state in
            while state.sessions.count >= self.capacity,
                let oldest = state.sessions.values.min(by: { $0.lastUsed < $1.lastUsed })
            {
                state.sessions.removeValue(forKey: oldest.id)
            }
            var id: Int32
            repeat { id = Int32.random(in: 1...Int32.max) } while state.sessions[id] != nil
            state.clock += 1
            var session = Session(
                id: id, epoch: 1, usesTopicIDs: usesTopicIDs, order: [], partitions: [:], lastUsed: state.clock)
            for partition in partitions where session.partitions[partition.key] == nil {
                session.order.append(partition.key)
                session.partitions[partition.key] = partition
            }
            state.sessions[id] = session
            return id
        }
    }

    /// Closes a session (a request with epoch -1, or 0, naming it).
    func remove(_ id: Int32) {
        _ = self.state.withLockedValue { $0.sessions.removeValue(forKey: id) }
    }

    /// Applies an incremental request (epoch > 0): checks the session and the epoch, adds or updates `updates`,
    /// removes `forgotten`, advances the epoch, and returns the session's partitions in fetch order.
    func beginIncremental(
        id: Int32, epoch: Int32, usesTopicIDs: Bool, updates: [FetchSessionPartition], forgotten: [FetchSessionKey]
    ) -> Result<[FetchSessionPartition], FetchSessionError> {
        self.state.withLockedValue { state in
            guard var session = state.sessions[id] else { return .failure(.init(code: .fetchSessionIDNotFound)) }
            guard session.epoch == epoch else { return .failure(.init(code: .invalidFetchSessionEpoch)) }
            guard session.usesTopicIDs == usesTopicIDs else { return .failure(.init(code: .fetchSessionTopicIDError)) }
            for update in updates {
                if var existing = session.partitions[update.key] {
                    existing.fetchOffset = update.fetchOffset
                    existing.partitionMaxBytes = update.partitionMaxBytes
                    session.partitions[update.key] = existing
                } else {
                    session.order.append(update.key)
                    session.partitions[update.key] = update
                }
            }
            if !forgotten.isEmpty {
                let removed = Set(forgotten)
                for key in removed { session.partitions.removeValue(forKey: key) }
                session.order.removeAll { removed.contains($0) }
            }
            session.epoch = session.epoch == Int32.max ? 1 : session.epoch + 1
            state.clock += 1
            session.lastUsed = state.clock
            state.sessions[id] = session
            return .success(session.orderedPartitions)
        }
    }

    /// Records what an incremental response sent: the high watermarks and log start offsets of the partitions it
    /// carried; those that returned records move to the end of the fetch order (so every partition gets its turn).
    func completeIncremental(id: Int32, sent: [FetchSessionPartition], returnedRecords: Set<FetchSessionKey>) {
        self.state.withLockedValue { state in
            guard var session = state.sessions[id] else { return }
            for partition in sent {
                guard var existing = session.partitions[partition.key] else { continue }
                existing.highWatermark = partition.highWatermark
                existing.logStartOffset = partition.logStartOffset
                session.partitions[partition.key] = existing
            }
            if !returnedRecords.isEmpty {
                let moved = session.order.filter { returnedRecords.contains($0) }
                session.order.removeAll { returnedRecords.contains($0) }
                session.order.append(contentsOf: moved)
            }
            state.sessions[id] = session
        }
    }
}

struct FetchSessionError: Error, Sendable {
    var code: ErrorCode
}
