import Logging
import NIOCore
import SpateRecords
import SpateStorage
import SpateWire

/// Fetch (1): reads from each partition up to the high watermark (the log end on one node), at most
/// `PartitionMaxBytes` per partition and `MaxBytes` in all (but at least one batch for the first partition with data,
/// KIP-74), and long-polls up to `MaxWaitMs` until `MinBytes` are there. Topic IDs from v13.
struct FetchHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 4...17

    func handle(_ request: FetchRequest, context: RequestContext) async throws -> FetchResponse? {
        let broker = context.broker
        let replicas = broker.replicas
        let usesIDs = context.header.apiVersion >= 13
        // Resolve names (or IDs) once.
        var partitions: [(topicIndex: Int, item: FetchRequest.FetchPartition, partition: TopicPartition?)] = []
        var topicResponses: [FetchResponse.FetchableTopicResponse] = []
        var unknown: [Int: ErrorCode] = [:]
        for (index, topic) in request.topics.enumerated() {
            let metadata = usesIDs ? broker.topics.topic(withID: topic.topicID) : broker.topics.topic(named: topic.topic.rawValue)
            topicResponses.append(.init(topic: topic.topic, topicID: topic.topicID, partitions: []))
            if metadata == nil { unknown[index] = usesIDs ? .unknownTopicID : .unknownTopicOrPartition }
            for item in topic.partitions {
                let partition = metadata.flatMap { meta in
                    item.partition >= 0 && item.partition < meta.partitionCount
                        ? TopicPartition(topic: meta.name, partition: item.partition) : nil
                }
                partitions.append((index, item, partition))
            }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, request.maxWaitMs)))
        let wanted = partitions
        let unknownTopics = unknown
        let known = partitions.compactMap(\.partition)
        var waited = false
        while true {
            let snapshot = replicas.signal.snapshot(known)
            let maxBytes = Int(max(0, request.maxBytes))
            let read = try await replicas.io.run { () -> ([FetchResponse.PartitionData], Int) in
                var total = 0
                var results: [FetchResponse.PartitionData] = []
                for entry in wanted {
                    var data = FetchResponse.PartitionData(
                        partitionIndex: entry.item.partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1,
                        records: nil)
                    defer { results.append(data) }
                    guard let partition = entry.partition else {
                        data.errorCode = unknownTopics[entry.topicIndex] ?? .unknownTopicOrPartition
                        continue
                    }
                    do {
                        guard let log = try replicas.log(for: partition) else {
                            data.errorCode = .unknownTopicOrPartition
                            continue
                        }
                        let highWatermark = log.logEndOffset
                        data.highWatermark = highWatermark
                        data.lastStableOffset = highWatermark
                        data.logStartOffset = log.logStartOffset
                        let budget = min(Int(max(0, entry.item.partitionMaxBytes)), max(0, maxBytes - total))
                        guard budget > 0 || total == 0 else {
                            data.records = RecordSet(buffer: ByteBuffer())
                            continue
                        }
                        if let slice = try log.read(
                            from: entry.item.fetchOffset, maxBytes: budget, maxOffset: highWatermark,
                            minOneBatch: total == 0)
                        {
                            let bytes = try slice.readBytes()
                            total += bytes.readableBytes
                            data.records = RecordSet(buffer: bytes)
                        } else {
                            data.records = RecordSet(buffer: ByteBuffer())
                        }
                    } catch {
                        data.errorCode = .from(error)
                        data.records = RecordSet(buffer: ByteBuffer())
                    }
                }
                return (results, total)
            }
            let (results, total) = read
            let hasError = results.contains { $0.errorCode != .none }
            if waited || total >= Int(request.minBytes) || hasError || ContinuousClock.now >= deadline || known.isEmpty {
                var responses = topicResponses
                for (entry, data) in zip(partitions, results) {
                    responses[entry.topicIndex].partitions.append(data)
                }
                return FetchResponse(throttleTimeMs: 0, errorCode: .none, sessionID: 0, responses: responses)
            }
            await replicas.signal.wait(since: snapshot, timeout: deadline - ContinuousClock.now)
            waited = ContinuousClock.now >= deadline
        }
    }
}
