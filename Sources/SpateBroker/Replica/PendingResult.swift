import NIOConcurrencyHelpers

/// Something that finishes later, whatever its result.
protocol Completion: Sendable {
    var isComplete: Bool { get }
    /// Returns once it has finished.
    func wait() async
}

/// A result that another thread provides later, awaited without an event-loop hop: the thread that completes it
/// resumes the waiting task directly.
final class PendingResult<Value: Sendable>: Completion {
    private enum State {
        case waiting([CheckedContinuation<Value, any Error>])
        case done(Result<Value, any Error>)
    }

    private let state = NIOLockedValueBox(State.waiting([]))

    init() {}

    /// Sets the result and resumes every waiter. Only the first completion counts.
    func complete(_ result: Result<Value, any Error>) {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Value, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    var isComplete: Bool {
        self.state.withLockedValue { state in
            if case .done = state { return true }
            return false
        }
    }

    func wait() async {
        _ = try? await self.value
    }

    /// The result, once it is set.
    var value: Value {
        get async throws {
            let done = self.state.withLockedValue { state -> Result<Value, any Error>? in
                if case .done(let result) = state { return result }
                return nil
            }
            if let done { return try done.get() }
            return try await withCheckedThrowingContinuation { continuation in
                let done = self.state.withLockedValue { state -> Result<Value, any Error>? in
                    switch state {
                    case .done(let result):
                        return result
                    case .waiting(var waiters):
                        waiters.append(continuation)
                        state = .waiting(waiters)
                        return nil
                    }
                }
                if let done { continuation.resume(with: done) }
            }
        }
    }
}
