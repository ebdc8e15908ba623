import Logging
import SpateWire

/// FindCoordinator (10): on one node this broker coordinates every group. Creates `__consumer_offsets` on first use,
/// as Kafka does. Transaction coordinators (key type 1) do not exist yet.
struct FindCoordinatorHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...6

    func handle(_ request: FindCoordinatorRequest, context: RequestContext) async throws -> FindCoordinatorResponse? {
        let broker = context.broker
        let version = context.header.apiVersion
        let keys = version >= 4 ? request.coordinatorKeys : [request.key]
        var results: [FindCoordinatorResponse.Coordinator] = []
        for key in keys {
            var result = FindCoordinatorResponse.Coordinator(key: key, nodeID: broker.nodeID, host: broker.advertisedHost, port: broker.advertisedPort)
            switch request.keyType {
            case 0:
                if key.isEmpty {
                    result.errorCode = .invalidRequest
                    result.errorMessage = "the group ID is empty"
                } else {
                    do {
                        try broker.topics.ensureOffsetsTopic(broker.configuration)
                    } catch {
                        context.logger.warning("Could not create __consumer_offsets", metadata: ["spate.error": "\(error)"])
                        result.errorCode = .coordinatorNotAvailable
                        result.errorMessage = "__consumer_offsets could not be created"
                    }
                }
            case 1:
                result.errorCode = .coordinatorNotAvailable
                result.errorMessage = "transactions are not supported yet"
            default:
                result.errorCode = .invalidRequest
                result.errorMessage = "unknown key type \(request.keyType)"
            }
            if result.errorCode != .none {
                result.nodeID = BrokerID(-1)
                result.host = ""
                result.port = -1
            }
            results.append(result)
        }
        if version >= 4 { return FindCoordinatorResponse(coordinators: results) }
        let result = results[0]
        return FindCoordinatorResponse(
            errorCode: result.errorCode, errorMessage: version >= 1 ? result.errorMessage : nil, nodeID: result.nodeID,
            host: result.host, port: result.port)
    }
}
