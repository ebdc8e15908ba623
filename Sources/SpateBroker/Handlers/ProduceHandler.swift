import Logging
import SpateRecords
import SpateStorage
import SpateWire

/// Produce (0): validates each partition's batch, appends it as received (offsets stamped into a copy of its header
/// only), and answers per `acks`: 0 no response, 1 once written to the OS, -1 (all) once fsynced, with group commit.
///
/// Idempotent batches are checked against the partition's producer state as they are appended (see
/// ``PartitionLog/append(_:leaderEpoch:timestampType:nowMs:)``): a retry of one of the producer's last five batches
/// gets the original base offset and no error, as in Kafka (acks=all then waits for the original batch to be
/// durable); an older epoch gets `INVALID_PRODUCER_EPOCH`, a sequence gap `OUT_OF_ORDER_SEQUENCE_NUMBER`.
struct ProduceHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 3...11

    func handle(_ request: ProduceRequest, context: RequestContext) async throws -> ProduceResponse? {
        let replicas = context.broker.replicas
        guard [0, 1, -1].contains(request.acks) else {
            return self.everyPartition(request, error: .invalidRequiredAcks)
        }
        var responses: [ProduceResponse.TopicProduceResponse] = []
        var durableWaits: [(GroupCommit, Int64)] = []
        for topicData in request.topicData {
            var partitions: [ProduceResponse.PartitionProduceResponse] = []
            let topic = context.broker.topics.topic(named: topicData.name.rawValue)
            for partitionData in topicData.partitionData {
                var response = ProduceResponse.PartitionProduceResponse(index: partitionData.index, baseOffset: -1)
                response.logAppendTimeMs = -1
                response.logStartOffset = -1
                defer { partitions.append(response) }
                guard let topic, partitionData.index >= 0, partitionData.index < topic.partitionCount else {
                    response.errorCode = .unknownTopicOrPartition
                    continue
                }
                guard !topic.isInternal else {
                    // Kafka: only the coordinators write to internal topics.
                    response.errorCode = .invalidTopicException
                    response.errorMessage = "clients may not produce to the internal topic \(topic.name)"
                    continue
                }
                let partition = TopicPartition(topic: topic.name, partition: partitionData.index)
                let settings = replicas.settings(of: topic)
                guard let records = partitionData.records else {
                    response.errorCode = .invalidRecord
                    response.errorMessage = "no records"
                    continue
                }
                let batches: [RecordBatch]
                switch Self.validate(records, settings: settings) {
                case .valid(let valid):
                    batches = valid
                case .invalid(let code, let message):
                    response.errorCode = code
                    response.errorMessage = message
                    context.logger.debug(
                        "Refused a produced batch", metadata: ["spate.topic": "\(partition)", "spate.reason": "\(message)"])
                    continue
                }
                do {
                    let (log, result) = try await replicas.io.run { () throws -> (PartitionLog, AppendResult) in
                        guard let log = try replicas.log(for: partition) else {
                            throw StorageError(.notFound, "no log for \(partition)")
                        }
                        let result = try log.append(
                            validated: batches, leaderEpoch: 0, timestampType: settings.logAppendTime ? .logAppendTime : .createTime,
                            nowMs: replicas.clock())
                        return (log, result)
                    }
                    if result.isDuplicate {
                        context.logger.debug(
                            "Answered a retried idempotent batch with its original offset",
                            metadata: ["spate.topic": "\(partition)", "spate.offset": "\(result.firstOffset)"])
                    } else {
                        replicas.signal.appended(to: partition)
                    }
                    response.baseOffset = result.firstOffset
                    response.logAppendTimeMs = result.logAppendTime
                    response.logStartOffset = result.logStartOffset
                    if request.acks == -1 { durableWaits.append((replicas.groupCommit(for: log), result.lastOffset)) }
                } catch let error as ProducerStateError {
                    response.errorCode = .from(error)
                    response.errorMessage = error.message
                    context.logger.debug(
                        "Refused an idempotent batch", metadata: ["spate.topic": "\(partition)", "spate.reason": "\(error)"])
                } catch {
                    response.errorCode = .from(error)
                    response.errorMessage = "\(error)"
                    context.logger.warning(
                        "Append failed", metadata: ["spate.topic": "\(partition)", "spate.error": "\(error)"])
                }
            }
            responses.append(.init(name: topicData.name, partitionResponses: partitions))
        }
        if request.acks == 0 { return nil }
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
