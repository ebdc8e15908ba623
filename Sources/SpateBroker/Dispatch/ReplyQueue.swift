import NIOConcurrencyHelpers

/// The replies of one connection that are not written yet, in request order.
///
/// The connection's reader reserves room for each request before starting it, then adds the request's reply once the
/// request's ordered part is done; the connection's writer takes the replies in order, waits for those that finish
/// later, writes them and releases their room. The room is bounded in replies and in request bytes (a produce's
/// batches are slices of its request frame until they are written), so a client that sends faster than the broker
/// answers is slowed to the broker's pace instead of filling its memory.
final class ReplyQueue: Sendable {
    struct Entry: Sendable {
        var reply: Reply
        var requestBytes: Int
    }

    private struct State {
        var entries: [Entry] = []
        /// Requests reserved and not yet released: started, queued, or being written.
        var pending = 0
        var pendingBytes = 0
        var finished = false
        var writer: CheckedContinuation<[Entry], Never>?
        var reader: (bytes: Int, continuation: CheckedContinuation<Void, Never>)?
    }

    let maxRequests: Int
    let maxRequestBytes: Int
    private let state = NIOLockedValueBox(State())

    init(maxRequests: Int, maxRequestBytes: Int) {
        self.maxRequests = maxRequests
        self.maxRequestBytes = maxRequestBytes
    }

    /// Waits until a request of `bytes` fits, and reserves its room. One request always fits when nothing is pending.
    func reserve(requestBytes bytes: Int) async {
        if self.state.withLockedValue({ self.take(bytes, &$0) }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = self.state.withLockedValue { state -> Bool in
                if self.take(bytes, &state) { return true }
                state.reader = (bytes, continuation)
                return false
            }
            // Otherwise resumed by the release that reserves the room for it.
            if now { continuation.resume() }
        }
    }

    /// Reserves room for `bytes` if it fits.
    private func take(_ bytes: Int, _ state: inout State) -> Bool {
        guard state.pending == 0
            || (state.pending < self.maxRequests && state.pendingBytes + bytes <= self.maxRequestBytes)
        else { return false }
        state.pending += 1
        state.pendingBytes += bytes
        return true
    }

    /// Whether the caller's reserved request is the only one pending (nothing before it is still unwritten): its reply
    /// may then be written directly, in order, without a hand-off to the writer.
    var isAlone: Bool {
        self.state.withLockedValue { $0.pending == 1 }
    }

    /// Queues a reply for the writer; its room was reserved.
    func add(_ entry: Entry) {
        let handOff = self.state.withLockedValue { state -> (CheckedContinuation<[Entry], Never>, [Entry])? in
            state.entries.append(entry)
            guard let writer = state.writer else { return nil }
            state.writer = nil
            defer { state.entries = [] }
            return (writer, state.entries)
        }
        if let (writer, entries) = handOff { writer.resume(returning: entries) }
    }

    /// Frees the room of a written (or dropped) request, and lets a waiting reader go on if its request fits now.
    func release(requestBytes bytes: Int) {
        let reader = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.pending -= 1
            state.pendingBytes -= bytes
            guard let waiting = state.reader, self.take(waiting.bytes, &state) else { return nil }
            state.reader = nil
            return waiting.continuation
        }
        reader?.resume()
    }

    /// No more replies will be added; the writer stops once it has taken every queued one.
    func finish() {
        let writer = self.state.withLockedValue { state -> CheckedContinuation<[Entry], Never>? in
            state.finished = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(returning: [])
    }

    /// The queued replies, in order, waiting for at least one; empty once finished and drained.
    func next() async -> [Entry] {
        let ready = self.state.withLockedValue { state -> [Entry]? in
            if !state.entries.isEmpty || state.finished {
                defer { state.entries = [] }
                return state.entries
            }
            return nil
        }
        if let ready { return ready }
        return await withCheckedContinuation { (continuation: CheckedContinuation<[Entry], Never>) in
            let now = self.state.withLockedValue { state -> [Entry]? in
                if !state.entries.isEmpty || state.finished {
                    defer { state.entries = [] }
                    return state.entries
                }
                state.writer = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
