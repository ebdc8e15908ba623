import Benchmark
import NIOCore
import SpateCoordinators
import SpateWire

// Group coordinator benchmarks (issue 5): the broker's own work for a rebalance and for offset commits — the state
// machine plus encoding the records it stores. Sockets and the log append are measured end to end separately
// (Benchmarks/scripts/offset-commit-bench.py).

/// A consumer subscription to one topic (ConsumerProtocolSubscription v0), as members send.
func subscription() -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(0))
    buffer.writeInteger(Int32(1))
    buffer.writeInteger(Int16(6))
    buffer.writeString("orders")
    buffer.writeInteger(Int32(-1))
    return buffer
}

func join(_ state: inout GroupCoordinatorState, member: String, nowMs: Int64) -> (JoinGroupResponse?, PendingID, GroupCoordinatorState.Output) {
    state.join(
        JoinGroupRequest(
            groupID: "g", sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 300_000, memberID: member, protocolType: "consumer",
            protocols: [.init(name: "range", metadata: subscription())]),
        version: 9, clientID: "client", clientHost: "/127.0.0.1", nowMs: nowMs)
}

/// A stable group of `count` members (no initial delay). Returns the state and the member IDs, leader first.
func stableGroup(count: Int) -> (GroupCoordinatorState, [String]) {
    var config = GroupConfig()
    config.initialRebalanceDelayMs = 0
    nonisolated(unsafe) var next = 0
    var state = GroupCoordinatorState(config: config) { prefix in
        next += 1
        return "\(prefix)-\(next)"
    }
    var ids: [String] = []
    for _ in 0..<count {
        let (response, _, _) = join(&state, member: "", nowMs: 0)
        ids.append(response!.memberID)
    }
    // Every member rejoins with its ID; the last one completes the join phase.
    for id in ids { _ = join(&state, member: id, nowMs: 0) }
    let group = state.classicGroups["g"]!
    let leader = group.leaderID!
    let assignments = ids.map { SyncGroupRequest.SyncGroupRequestAssignment(memberID: $0, assignment: ByteBuffer(repeating: 1, count: 64)) }
    for id in ids where id != leader {
        _ = state.sync(SyncGroupRequest(groupID: "g", generationID: group.generation, memberID: id, assignments: []), version: 5, nowMs: 0)
    }
    _ = state.sync(SyncGroupRequest(groupID: "g", generationID: group.generation, memberID: leader, assignments: assignments), version: 5, nowMs: 0)
    precondition(state.classicGroups["g"]!.state == .stable)
    return (state, [leader] + ids.filter { $0 != leader })
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .one, maxDuration: .seconds(3),
        maxIterations: 2_000)

    // One full rebalance of a stable 100-member group: every member rejoins (JoinGroup), the join phase completes
    // (the leader gets 100 members' metadata), the leader sends 100 assignments, 99 followers wait for theirs, and
    // the group's record (GroupMetadataValue with 100 members) is encoded for __consumer_offsets.
    Benchmark("Rebalance/100 members", configuration: configuration) { benchmark in
        let (initial, ids) = stableGroup(count: 100)
        let assignments = ids.map { SyncGroupRequest.SyncGroupRequestAssignment(memberID: $0, assignment: ByteBuffer(repeating: 2, count: 64)) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var state = initial
            for id in ids { _ = join(&state, member: id, nowMs: 1) }
            let generation = state.classicGroups["g"]!.generation
            var replies = 0
            var records = 0
            for id in ids.dropFirst() {
                let (_, _, output) = state.sync(SyncGroupRequest(groupID: "g", generationID: generation, memberID: id, assignments: []), version: 5, nowMs: 1)
                replies += output.replies.count
            }
            let (_, _, output) = state.sync(
                SyncGroupRequest(groupID: "g", generationID: generation, memberID: ids[0], assignments: assignments), version: 5, nowMs: 1)
            replies += output.replies.count
            for change in output.changes { records += (try? change.record.encoded()).map { _ in 1 } ?? 0 }
            precondition(replies == 100 && records == 1)
            blackHole(state)
        }
    }

    // OffsetCommit of 1,000 partitions (10 topics x 100) by a member of a stable group: validation, state update,
    // and the 1,000 OffsetCommitKey/Value records encoded.
    Benchmark("OffsetCommit/1000 partitions", configuration: configuration) { benchmark in
        let (initial, ids) = stableGroup(count: 1)
        let request = OffsetCommitRequest(
            groupID: "g", generationIDOrMemberEpoch: initial.classicGroups["g"]!.generation, memberID: ids[0],
            topics: (0..<10).map { topic in
                .init(
                    name: TopicName("topic-\(topic)"),
                    partitions: (0..<100).map { .init(partitionIndex: Int32($0), committedOffset: 123_456, committedMetadata: "") })
            })
        var state = initial
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let (response, output) = state.commitOffsets(request, version: 9, nowMs: 1)
            var encoded = 0
            for change in output.changes { if (try? change.record.encoded()) != nil { encoded += 1 } }
            precondition(encoded == 1000 && response.topics.count == 10)
            blackHole(response)
        }
    }
}
