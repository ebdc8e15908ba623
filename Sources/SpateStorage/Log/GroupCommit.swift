import NIOConcurrencyHelpers
import NIOPosix

/// Group commit for `acks=all` on a single node: callers wait until their offset is durable, and one fsync covers
/// every caller waiting when it starts. While a flush runs, new waiters queue for the next one, so the number of
/// fsyncs tracks the disk's speed, not the request rate.
public final class GroupCommit: Sendable {
    private struct State {
        var waiters: [(offset: Int64, continuation: CheckedContinuation<Void, any Error>)] = []
        var flushing = false
    }

    public let log: PartitionLog
    private let io: StorageIO
    private let clock: @Sendable () -> Int64
    private let state = NIOLockedValueBox(State())

    /// - Parameter clock: Milliseconds since the epoch, for the log's last-flush time.
    public init(log: PartitionLog, io: StorageIO, clock: @escaping @Sendable () -> Int64) {
        self.log = log
        self.io = io
        self.clock = clock
    }

    /// Returns once every record up to and including `offset` is fsynced.
    public func waitUntilDurable(through offset: Int64) async throws {
        if self.log.recoveryPoint > offset { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let next = self.state.withLockedValue { state -> Next in
                // Checked again under the lock: a flush may have finished since the check above and released its
                // waiters before this one could register; waiting now would start another fsync for nothing. A flush
                // advances the recovery point before it takes this lock to release its waiters, so every waiter is
                // either released by that flush or sees its result here. (Lock order: this lock, then the log's.)
                if self.log.recoveryPoint > offset { return .durable }
                state.waiters.append((offset, continuation))
                if state.flushing { return .wait }
                state.flushing = true
                return .flush
            }
            switch next {
            case .durable: continuation.resume()
            case .wait: break
            case .flush: self.scheduleFlush()
            }
        }
    }

    private enum Next { case durable, wait, flush }

    private func scheduleFlush() {
        self.io.threadPool.submit { workState in
            guard case .active = workState else {
                self.finishAll(with: StorageError(.closed, "the storage thread pool is shut down"))
                return
            }
            while true {
                let result: Result<Int64, any Error>
                do {
                    result = .success(try self.log.flush(nowMs: self.clock()))
                } catch {
                    result = .failure(error)
                }
                let logEnd = self.log.logEndOffset
                let (ready, beyondEnd, more) = self.state.withLockedValue { state in
                    var ready: [(offset: Int64, continuation: CheckedContinuation<Void, any Error>)] = []
                    var beyondEnd: [(offset: Int64, continuation: CheckedContinuation<Void, any Error>)] = []
                    switch result {
                    case .success(let durable):
                        ready = state.waiters.filter { $0.offset < durable }
                        // An offset that was never appended would keep flushing forever: refuse it.
                        beyondEnd = state.waiters.filter { $0.offset >= durable && $0.offset >= logEnd }
                        state.waiters.removeAll { $0.offset < durable || $0.offset >= logEnd }
                    case .failure:
                        ready = state.waiters
                        state.waiters = []
                    }
                    if state.waiters.isEmpty { state.flushing = false }
                    return (ready, beyondEnd, !state.waiters.isEmpty)
                }
                for waiter in ready { waiter.continuation.resume(with: result.map { _ in () }) }
                for waiter in beyondEnd {
                    waiter.continuation.resume(
                        throwing: StorageError(.invalidArgument, "offset \(waiter.offset) is beyond the log end \(logEnd)"))
                }
                if !more { return }
            }
        }
    }

    private func finishAll(with error: any Error) {
        let waiters = self.state.withLockedValue { state in
            defer {
                state.waiters = []
                state.flushing = false
            }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }
}
