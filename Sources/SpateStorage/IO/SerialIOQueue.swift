import NIOConcurrencyHelpers
import NIOPosix

/// Runs jobs on the storage thread pool one at a time, in the order they were queued, without the caller waiting for
/// them: a connection queues a produce's appends to their partitions and goes on to its next request.
///
/// One pool thread drains the queue while it has jobs, so a burst of jobs costs one hand-off, not one each.
public final class SerialIOQueue: Sendable {
    /// A job gets `true` when it runs on the pool, `false` when the pool is shut down and it must fail instead.
    public typealias Job = @Sendable (_ active: Bool) -> Void

    private struct State {
        var jobs: [Job] = []
        var draining = false
    }

    private let io: StorageIO
    private let state = NIOLockedValueBox(State())

    public init(io: StorageIO) {
        self.io = io
    }

    /// Queues `job` behind the jobs queued before it.
    public func enqueue(_ job: @escaping Job) {
        let start = self.state.withLockedValue { state -> Bool in
            state.jobs.append(job)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if start { self.scheduleDrain() }
    }

    private func scheduleDrain() {
        self.io.threadPool.submit { workState in
            let active: Bool
            if case .active = workState { active = true } else { active = false }
            while true {
                let jobs = self.state.withLockedValue { state -> [Job] in
                    if state.jobs.isEmpty { state.draining = false }
                    defer { state.jobs = [] }
                    return state.jobs
                }
                if jobs.isEmpty { return }
                for job in jobs { job(active) }
            }
        }
    }
}
