import Logging
import SpateStorage
import SpateWire

/// InitProducerId (22) for idempotent producers: a new producer ID with epoch 0.
///
/// Kafka's broker answers a request without a transactional ID by "blindly" allocating a new producer ID with epoch
/// 0 (`TransactionCoordinator.handleInitProducerId`), also on v3+ when the client passes its current ID and epoch
/// (KIP-360): idempotent producers bump their epoch on their own, and ask for a new ID only when that would overflow.
/// Spate does the same.
///
/// Transactions are not served yet. A transactional ID is only sent by a producer configured with
/// `transactional.id`; it gets `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53), Kafka's answer when this client may
/// not use that transactional ID on this cluster. Unlike `NOT_COORDINATOR` or `COORDINATOR_NOT_AVAILABLE`, which
/// librdkafka and the Java client retry until `transaction.timeout.ms`, it is fatal in both, so
/// `init_transactions()` fails at once instead of hanging.
struct InitProducerIdHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...5

    func handle(_ request: InitProducerIdRequest, context: RequestContext) async throws -> InitProducerIdResponse? {
        if let transactionalID = request.transactionalID, transactionalID.rawValue.isEmpty {
            // Kafka: an empty transactional ID is a malformed request (the clients never send one).
            return InitProducerIdResponse(errorCode: .invalidRequest, producerID: .none, producerEpoch: -1)
        }
        if let transactionalID = request.transactionalID {
            context.logger.info(
                "Refused InitProducerId for a transactional producer: transactions are not supported yet",
                metadata: ["spate.transactional_id": "\(transactionalID.rawValue)"])
            return InitProducerIdResponse(errorCode: .transactionalIDAuthorizationFailed, producerID: .none, producerEpoch: -1)
        }
        let producers = context.broker.producerIDs
        do {
            let id = try await context.broker.replicas.io.run { try producers.generate() }
            context.logger.debug("Allocated a producer ID", metadata: ["spate.producer_id": "\(id)"])
            return InitProducerIdResponse(errorCode: .none, producerID: ProducerID(id), producerEpoch: 0)
        } catch {
            context.logger.warning("Could not allocate a producer ID", metadata: ["spate.error": "\(error)"])
            return InitProducerIdResponse(errorCode: .unknownServerError, producerID: .none, producerEpoch: -1)
        }
    }
}
