import NIOConcurrencyHelpers
import Testing

@testable import SpateBroker

@Suite struct ReplyQueueTests {
    /// A reader that reserved every slot waits until the writer releases one; one request always fits when nothing
    /// is pending, however large.
    @Test func reservationsAreBoundedInRequestsAndBytes() async throws {
        let queue = ReplyQueue(maxRequests: 2, maxRequestBytes: 100)
        await queue.reserve(requestBytes: 1_000)  // alone: let in although over the byte bound
        #expect(queue.isAlone)
        queue.release(requestBytes: 1_000)

        await queue.reserve(requestBytes: 60)
        #expect(queue.isAlone)
        let third = NIOLockedValueBox(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // 60 + 60 > 100: waits for the first release.
                await queue.reserve(requestBytes: 60)
                third.withLockedValue { $0 = true }
            }
            // Nothing releases yet: the reservation must still be waiting after the queue has taken a later
            // request's entry and handed it to the writer.
            queue.add(.init(reply: .none, requestBytes: 60))
            let taken = await queue.next()
            #expect(taken.count == 1)
            #expect(!third.withLockedValue { $0 })
            queue.release(requestBytes: 60)
            try await group.waitForAll()
        }
        #expect(third.withLockedValue { $0 })
        #expect(queue.isAlone)
    }

    /// The writer gets the entries in the order they were added, and an empty batch once finished and drained.
    @Test func theWriterTakesEntriesInOrderUntilFinished() async {
        let queue = ReplyQueue(maxRequests: 10, maxRequestBytes: 1 << 20)
        for bytes in 1...3 {
            await queue.reserve(requestBytes: bytes)
            queue.add(.init(reply: .none, requestBytes: bytes))
        }
        let first = await queue.next()
        #expect(first.map(\.requestBytes) == [1, 2, 3])
        for entry in first { queue.release(requestBytes: entry.requestBytes) }
        await queue.reserve(requestBytes: 4)
        queue.add(.init(reply: .none, requestBytes: 4))
        queue.finish()
        #expect(await queue.next().map(\.requestBytes) == [4])
        #expect(await queue.next().isEmpty)
    }
}
