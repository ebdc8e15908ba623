import Logging
import NIOCore
import SpateRecords
import SpateStorage
import SpateWire

/// Fetch (1): reads from each partition up to the high watermark (the log end on one node), at most
/// `PartitionMaxBytes` per partition and `MaxBytes` in all (but at least one batch for the first partition with data,
/// KIP-74), and long-polls up to `MaxWaitMs` until `MinBytes` are there. Topic IDs from v13.
///
/// Fetch sessions (KIP-227, v7+): epoch -1 is a full fetch without a session (and closes the session named, if any);
/// epoch 0 is a full fetch that creates a session; a positive epoch is an incremental fetch of session `SessionId`,
/// whose request lists only the partitions added or changed (and `ForgottenTopicsData` those removed), and whose
/// response carries only the partitions with records, an error, or a high watermark or log start offset that changed
/// since the session's last response.
///
/// On plaintext connections the records go out from the segment files with `sendfile` (``respond(to:context:)``).
struct FetchHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 4...17

    /// A partition to read, from the request (full fetches) or the session (incremental ones).
    struct Wanted {
        var key: FetchSessionKey
        /// The topic as the response names it.
        var topic: TopicName
        var topicID: KafkaUUID
        var fetchOffset: Int64
        var partitionMaxBytes: Int32
        var partition: TopicPartition?
        var error: ErrorCode
        /// What the session last sent (-1 for full fetches).
        var sentHighWatermark: Int64 = -1
        var sentLogStartOffset: Int64 = -1
    }

    /// What a fetch found: the response, and for each of its partitions the file range its records come from when
    /// they are sent by reference (their `records` is then an empty placeholder).
    struct Result {
        var response: FetchResponse
        var files: [[FileRange?]]
    }

    func handle(_ request: FetchRequest, context: RequestContext) async throws -> FetchResponse? {
        try await self.fetch(request, context: context, zeroCopy: false).response
    }

    func respond(to request: FetchRequest, context: RequestContext) async throws -> ResponseFrame? {
        let result = try await self.fetch(request, context: context, zeroCopy: true)
        let version = context.header.apiVersion
        do {
            return try result.response.encodeFrame(
                files: result.files, version: version, correlationID: context.header.correlationID)
        } catch let error as ConnectionError {
            throw error
        } catch {
            throw ConnectionError(description: "could not encode the Fetch v\(version) response: \(error)")
        }
    }

    private enum Mode {
        case sessionless
        case create
        case incremental(Int32)
    }

    func fetch(_ request: FetchRequest, context: RequestContext, zeroCopy: Bool) async throws -> Result {
        let broker = context.broker
        let replicas = broker.replicas
        let sessions = broker.fetchSessions
        let usesIDs = context.header.apiVersion >= 13

        func key(topicID: KafkaUUID, topic: TopicName, partition: Int32) -> FetchSessionKey {
            usesIDs
                ? FetchSessionKey(topicID: topicID, topic: "", partition: partition)
                : FetchSessionKey(topicID: .zero, topic: topic.rawValue, partition: partition)
        }
        func requested() -> [FetchSessionPartition] {
            request.topics.flatMap { topic in
                topic.partitions.map { item in
                    FetchSessionPartition(
                        key: key(topicID: topic.topicID, topic: topic.topic, partition: item.partition),
                        fetchOffset: item.fetchOffset, partitionMaxBytes: item.partitionMaxBytes)
                }
            }
        }

        // The session (KIP-227; Kafka's FetchManager.newContext).
        let mode: Mode
        let entries: [FetchSessionPartition]
        if request.sessionEpoch == 0 || request.sessionEpoch == -1 {
            if request.sessionID != 0 {
                sessions.remove(request.sessionID)
                context.logger.debug("Fetch session closed", metadata: ["spate.fetch_session": "\(request.sessionID)"])
            }
            mode = request.sessionEpoch == 0 ? .create : .sessionless
            entries = requested()
        } else {
            let forgotten = request.forgottenTopicsData.flatMap { topic in
                topic.partitions.map { key(topicID: topic.topicID, topic: topic.topic, partition: $0) }
            }
            switch sessions.beginIncremental(
                id: request.sessionID, epoch: request.sessionEpoch, usesTopicIDs: usesIDs, updates: requested(),
                forgotten: forgotten)
            {
            case .failure(let error):
                context.logger.debug(
                    "Fetch session error",
                    metadata: ["spate.fetch_session": "\(request.sessionID)", "spate.error_code": "\(error.code)"])
                return Result(response: FetchResponse(errorCode: error.code, sessionID: 0, responses: []), files: [])
            case .success(let partitions):
                if partitions.isEmpty {
                    // Kafka closes a session left with no partitions and answers without one.
                    sessions.remove(request.sessionID)
                    return Result(response: FetchResponse(sessionID: 0, responses: []), files: [])
                }
                mode = .incremental(request.sessionID)
                entries = partitions
            }
        }

        // Resolve names (or IDs) once.
        var topicsByKey: [FetchSessionKey: TopicMetadata?] = [:]
        let wanted = entries.map { entry -> Wanted in
            let topicKey = FetchSessionKey(topicID: entry.key.topicID, topic: entry.key.topic, partition: 0)
            let metadata: TopicMetadata?
            if let cached = topicsByKey[topicKey] {
                metadata = cached
            } else {
                metadata = usesIDs ? broker.topics.topic(withID: entry.key.topicID) : broker.topics.topic(named: entry.key.topic)
                topicsByKey[topicKey] = metadata
            }
            let partition = metadata.flatMap { meta in
                entry.key.partition >= 0 && entry.key.partition < meta.partitionCount
                    ? TopicPartition(topic: meta.name, partition: entry.key.partition) : nil
            }
            let error: ErrorCode =
                partition != nil ? .none : metadata == nil && usesIDs ? .unknownTopicID : .unknownTopicOrPartition
            return Wanted(
                key: entry.key, topic: TopicName(rawValue: metadata?.name ?? entry.key.topic),
                topicID: entry.key.topicID, fetchOffset: entry.fetchOffset, partitionMaxBytes: entry.partitionMaxBytes,
                partition: partition, error: error, sentHighWatermark: entry.highWatermark,
                sentLogStartOffset: entry.logStartOffset)
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, request.maxWaitMs)))
        let known = wanted.compactMap(\.partition)
        var waited = false
        while true {
            let snapshot = replicas.signal.snapshot(known)
            let maxBytes = Int(max(0, request.maxBytes))
            let read = try await replicas.io.run {
                () -> ([(data: FetchResponse.PartitionData, file: FileRange?, bytes: Int)], Int) in
                var total = 0
                var results: [(data: FetchResponse.PartitionData, file: FileRange?, bytes: Int)] = []
                for entry in wanted {
                    var data = FetchResponse.PartitionData(
                        partitionIndex: entry.key.partition, highWatermark: -1, lastStableOffset: -1,
                        logStartOffset: -1, records: RecordSet(buffer: ByteBuffer()))
                    var file: FileRange?
                    var bytes = 0
                    defer { results.append((data, file, bytes)) }
                    guard let partition = entry.partition else {
                        data.errorCode = entry.error
                        data.records = nil
                        continue
                    }
                    do {
                        guard let log = try replicas.log(for: partition) else {
                            data.errorCode = .unknownTopicOrPartition
                            data.records = nil
                            continue
                        }
                        let highWatermark = log.logEndOffset
                        data.highWatermark = highWatermark
                        data.lastStableOffset = highWatermark
                        data.logStartOffset = log.logStartOffset
                        let budget = min(Int(max(0, entry.partitionMaxBytes)), max(0, maxBytes - total))
                        guard budget > 0 || total == 0 else { continue }
                        if let slice = try log.read(
                            from: entry.fetchOffset, maxBytes: budget, maxOffset: highWatermark,
                            minOneBatch: total == 0), slice.length > 0
                        {
                            if zeroCopy, let descriptor = slice.file.fileDescriptor {
                                // Sent later with sendfile from a duplicate of the descriptor, which keeps the bytes
                                // readable even if the segment is deleted before the response goes out.
                                file = try FileRange(duplicating: descriptor, position: slice.position, length: slice.length)
                            } else {
                                data.records = RecordSet(buffer: try slice.readBytes())
                            }
                            bytes = slice.length
                            total += slice.length
                        }
                    } catch {
                        file = nil
                        bytes = 0
                        data.errorCode = .from(error)
                        data.records = RecordSet(buffer: ByteBuffer())
                    }
                }
                return (results, total)
            }
            let (results, total) = read
            let hasError = results.contains { $0.data.errorCode != .none }
            guard waited || total >= Int(request.minBytes) || hasError || ContinuousClock.now >= deadline || known.isEmpty
            else {
                await replicas.signal.wait(since: snapshot, timeout: deadline - ContinuousClock.now)
                waited = ContinuousClock.now >= deadline
                continue
            }

            // Which partitions the response carries: all of them, except in incremental fetches (Kafka's
            // CachedPartition.maybeUpdateResponseData).
            var included: [(entry: Wanted, data: FetchResponse.PartitionData, file: FileRange?, bytes: Int)] = []
            for (entry, result) in zip(wanted, results) {
                if case .incremental = mode {
                    let changed =
                        result.bytes > 0 || result.data.errorCode != .none
                        || result.data.highWatermark != entry.sentHighWatermark
                        || result.data.logStartOffset != entry.sentLogStartOffset
                    guard changed else { continue }
                }
                included.append((entry, result.data, result.file, result.bytes))
            }
            // Consecutive partitions of a topic share a topic entry (as Kafka's FetchResponse.of does).
            var responses: [FetchResponse.FetchableTopicResponse] = []
            var files: [[FileRange?]] = []
            var lastTopic: FetchSessionKey?
            for item in included {
                let topicKey = FetchSessionKey(topicID: item.entry.key.topicID, topic: item.entry.key.topic, partition: 0)
                if topicKey != lastTopic {
                    responses.append(.init(topic: item.entry.topic, topicID: item.entry.topicID, partitions: []))
                    files.append([])
                    lastTopic = topicKey
                }
                responses[responses.count - 1].partitions.append(item.data)
                files[files.count - 1].append(item.file)
            }

            let sessionID: Int32
            switch mode {
            case .sessionless:
                sessionID = 0
            case .create:
                sessionID = sessions.create(
                    usesTopicIDs: usesIDs,
                    partitions: zip(wanted, results).map { entry, result in
                        FetchSessionPartition(
                            key: entry.key, fetchOffset: entry.fetchOffset, partitionMaxBytes: entry.partitionMaxBytes,
                            highWatermark: result.data.highWatermark, logStartOffset: result.data.logStartOffset)
                    })
                context.logger.debug(
                    "Fetch session created",
                    metadata: ["spate.fetch_session": "\(sessionID)", "spate.partitions": "\(wanted.count)"])
            case .incremental(let id):
                sessionID = id
                sessions.completeIncremental(
                    id: id,
                    sent: included.map { item in
                        FetchSessionPartition(
                            key: item.entry.key, fetchOffset: item.entry.fetchOffset,
                            partitionMaxBytes: item.entry.partitionMaxBytes, highWatermark: item.data.highWatermark,
                            logStartOffset: item.data.logStartOffset)
                    },
                    returnedRecords: Set(included.filter { $0.bytes > 0 }.map(\.entry.key)))
            }
            let response = FetchResponse(throttleTimeMs: 0, errorCode: .none, sessionID: sessionID, responses: responses)
            return Result(response: response, files: files)
        }
    }
}
