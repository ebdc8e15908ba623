import Logging
import SpateRecords
import SpateStorage
import SpateWire

/// Produce (0): validates each partition's batch, appends it as received (offsets stamped into a copy of its header
/// only), and answers per `acks`: 0 no response, 1 once written to the OS, -1 (all) once fsynced, with group commit.
///
/// The request is served in two parts. In order with the connection's other requests, each partition's batch is
/// validated and its append queued to the partition (``ReplicaManager/enqueueAppend(_:to:settings:)``); the
/// connection can then start its next request while the appends are written. The response waits for the appends
/// (and, for acks=all, their fsync) on the connection's writer.
///
/// Idempotent batches are checked against the partition's producer state as they are appended (see
/// ``PartitionLog/append(_:leaderEpoch:timestampType:nowMs:)``): a retry of one of the producer's last five batches
/// gets the original base offset and no error, as in Kafka (acks=all then waits for the original batch to be
/// durable); an older epoch gets `INVALID_PRODUCER_EPOCH`, a sequence gap `OUT_OF_ORDER_SEQUENCE_NUMBER`.
struct ProduceHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 3...11

    func reply(to request: ProduceRequest, context: RequestContext) async throws -> Reply {
        guard let produce = self.start(request, context: context) else {
            return .frame(try self.encode(self.everyPartition(request, error: .invalidRequiredAcks), context: context))
        }
        return .later(
            Reply.Later(
                effects: produce.topics.flatMap { $0.partitions.compactMap { $0.append?.result } },
                finish: { try await self.finish(produce, context: context).map { try self.encode($0, context: context) } }))
    }

    func handle(_ request: ProduceRequest, context: RequestContext) async throws -> ProduceResponse? {
        guard let produce = self.start(request, context: context) else {
            return self.everyPartition(request, error: .invalidRequiredAcks)
        }
        return await self.finish(produce, context: context)
    }

    /// A produce whose appends are queued.
    struct Started: Sendable {
        var acks: Int16
        var topics: [(name: TopicName, partitions: [Partition])]
    }

    /// One partition of a produce: answered already, or appending.
    struct Partition: Sendable {
        var response: ProduceResponse.PartitionProduceResponse
        var append: (partition: TopicPartition, result: PendingResult<(PartitionLog, AppendResult)>)?
    }

    /// The ordered part: validates each partition's batch and queues its append; nil (nothing queued) when `acks` is
    /// not 0, 1 or -1, which refuses every partition.
    func start(_ request: ProduceRequest, context: RequestContext) -> Started? {
        guard [0, 1, -1].contains(request.acks) else { return nil }
        let replicas = context.broker.replicas
        var topics: [(name: TopicName, partitions: [Partition])] = []
        for topicData in request.topicData {
            var partitions: [Partition] = []
            let topic = context.broker.topics.topic(named: topicData.name.rawValue)
            for partitionData in topicData.partitionData {
                var response = ProduceResponse.PartitionProduceResponse(index: partitionData.index, baseOffset: -1)
                response.logAppendTimeMs = -1
                response.logStartOffset = -1
                guard let topic, partitionData.index >= 0, partitionData.index < topic.partitionCount else {
                    response.errorCode = .unknownTopicOrPartition
                    partitions.append(Partition(response: response))
                    continue
                }
                guard !topic.isInternal else {
                    // Kafka: only the coordinators write to internal topics.
                    response.errorCode = .invalidTopicException
                    response.errorMessage = "clients may not produce to the internal topic \(topic.name)"
                    partitions.append(Partition(response: response))
                    continue
                }
                let partition = TopicPartition(topic: topic.name, partition: partitionData.index)
                let settings = replicas.settings(of: topic)
                guard let records = partitionData.records else {
                    response.errorCode = .invalidRecord
                    response.errorMessage = "no records"
                    partitions.append(Partition(response: response))
                    continue
                }
                switch Self.validate(records, settings: settings) {
                case .valid(let batches):
                    let result = replicas.enqueueAppend(batches, to: partition, settings: settings)
                    partitions.append(Partition(response: response, append: (partition, result)))
                case .invalid(let code, let message):
                    response.errorCode = code
                    response.errorMessage = message
                    context.logger.debug(
                        "Refused a produced batch", metadata: ["spate.topic": "\(partition)", "spate.reason": "\(message)"])
                    partitions.append(Partition(response: response))
                }
            }
            topics.append((topicData.name, partitions))
        }
        return Started(acks: request.acks, topics: topics)
    }

    /// The rest: waits for the appends (and, for acks=all, their fsync) and builds the response (nil for acks=0).
    func finish(_ produce: Started, context: RequestContext) async -> ProduceResponse? {
        let replicas = context.broker.replicas
        var responses: [ProduceResponse.TopicProduceResponse] = []
        var durableWaits: [(GroupCommit, Int64)] = []
        for (name, partitions) in produce.topics {
            var answers: [ProduceResponse.PartitionProduceResponse] = []
            for var partition in partitions {
                defer { answers.append(partition.response) }
                guard let (topicPartition, pending) = partition.append else { continue }
                do {
                    let (log, result) = try await pending.value
                    if result.isDuplicate {
                        context.logger.debug(
                            "Answered a retried idempotent batch with its original offset",
                            metadata: ["spate.topic": "\(topicPartition)", "spate.offset": "\(result.firstOffset)"])
                    }
                    partition.response.baseOffset = result.firstOffset
                    partition.response.logAppendTimeMs = result.logAppendTime
                    partition.response.logStartOffset = result.logStartOffset
                    if produce.acks == -1 { durableWaits.append((replicas.groupCommit(for: log), result.lastOffset)) }
                } catch let error as ProducerStateError {
                    partition.response.errorCode = .from(error)
                    partition.response.errorMessage = error.message
                    context.logger.debug(
                        "Refused an idempotent batch", metadata: ["spate.topic": "\(topicPartition)", "spate.reason": "\(error)"])
                } catch {
                    partition.response.errorCode = .from(error)
                    partition.response.errorMessage = "\(error)"
                    context.logger.warning(
                        "Append failed", metadata: ["spate.topic": "\(topicPartition)", "spate.error": "\(error)"])
                }
            }
            responses.append(.init(name: name, partitionResponses: answers))
        }
        if produce.acks == 0 { return nil }
        // acks=all on one node: answer once every appended batch is fsynced (one fsync serves many requests).
        for (index, wait) in durableWaits.enumerated() {
            do {
                try await wait.0.waitUntilDurable(through: wait.1)
            } catch {
                context.logger.warning("Flush failed", metadata: ["spate.error": "\(error)", "spate.wait": "\(index)"])
                self.fail(&responses, partition: wait.0.log.topicPartition, with: .kafkaStorageError)
            }
        }
        return ProduceResponse(responses: responses, throttleTimeMs: 0)
    }

    enum Validation {
        /// The batches, checked (CRC included): the log appends them without checking again.
        case valid([RecordBatch])
        case invalid(ErrorCode, String)
    }

    /// Kafka's produce checks: exactly one v2 batch per partition, intact (CRC), within `max.message.bytes`.
    static func validate(_ records: RecordSet, settings: TopicSettings) -> Validation {
        let batches: [RecordBatch]
        do {
            batches = try records.validateBatches()
        } catch {
            if error.code == .unsupportedMagic {
                return .invalid(.unsupportedForMessageFormat, "only record batches of magic 2 are accepted: \(error)")
            }
            return .invalid(.corruptMessage, "\(error)")
        }
        guard batches.count == 1 else {
            return .invalid(.invalidRecord, "a produce request must carry exactly one record batch per partition, not \(batches.count)")
        }
        let batch = batches[0]
        if batch.sizeInBytes > settings.log.maxMessageBytes {
            return .invalid(.messageTooLarge, "the batch of \(batch.sizeInBytes) bytes exceeds max.message.bytes (\(settings.log.maxMessageBytes))")
        }
        if batch.isControl { return .invalid(.invalidRecord, "clients may not produce control batches") }
        if batch.producerID >= 0 && batch.baseSequence < 0 {
            // Kafka's LogValidator: an idempotent batch needs a sequence number.
            return .invalid(.invalidRecord, "invalid sequence number \(batch.baseSequence) in a batch of producer \(batch.producerID)")
        }
        if batch.isTransactional {
            // Kafka answers a transactional batch whose producer has no ongoing transaction on the partition with
            // INVALID_TXN_STATE ("Record was not part of an ongoing transaction"); without a transaction coordinator
            // no transaction is ever ongoing.
            return .invalid(.invalidTxnState, "transactional batches are not supported yet: no transaction is ongoing")
        }
        return .valid(batches)
    }

    func everyPartition(_ request: ProduceRequest, error: ErrorCode) -> ProduceResponse {
        ProduceResponse(
            responses: request.topicData.map { topic in
                .init(
                    name: topic.name,
                    partitionResponses: topic.partitionData.map { .init(index: $0.index, errorCode: error, baseOffset: -1) })
            })
    }

    func fail(_ responses: inout [ProduceResponse.TopicProduceResponse], partition: TopicPartition, with error: ErrorCode) {
        for t in responses.indices where responses[t].name.rawValue == partition.topic {
            for p in responses[t].partitionResponses.indices where responses[t].partitionResponses[p].index == partition.partition {
                responses[t].partitionResponses[p].errorCode = error
                responses[t].partitionResponses[p].baseOffset = -1
            }
        }
    }
}
