import NIOConcurrencyHelpers
import NIOPosix
import SpateStorage
import Testing

@Suite struct SerialIOQueueTests {
    /// Jobs queued from one thread run in that order, never two at once, although the pool has several threads.
    @Test func runsJobsOneAtATimeInQueueOrder() async throws {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let queue = SerialIOQueue(io: StorageIO(threadPool: pool))
        let state = NIOLockedValueBox((order: [Int](), running: 0, overlapped: false, inactive: 0))
        let count = 2_000
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for number in 0..<count {
                queue.enqueue { active in
                    state.withLockedValue { state in
                        state.running += 1
                        if state.running > 1 { state.overlapped = true }
                        if !active { state.inactive += 1 }
                    }
                    state.withLockedValue { state in
                        state.order.append(number)
                        state.running -= 1
                    }
                    if number == count - 1 { done.resume() }
                }
            }
        }
        let result = state.withLockedValue { $0 }
        #expect(result.order == Array(0..<count))
        #expect(!result.overlapped)
        #expect(result.inactive == 0)
        try await pool.shutdownGracefully()
    }

    /// After the pool is shut down, queued jobs still run, told to fail instead of doing their work.
    @Test func jobsAreToldWhenThePoolIsShutDown() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        let queue = SerialIOQueue(io: StorageIO(threadPool: pool))
        let active = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            queue.enqueue { active in done.resume(returning: active) }
        }
        #expect(!active)
    }
}
