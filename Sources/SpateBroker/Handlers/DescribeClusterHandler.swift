import Logging
import SpateWire

/// DescribeCluster (60): this broker, which is also the controller, and the cluster ID. Only broker endpoints are
/// described (v1 EndpointType 2, controllers, gets UNSUPPORTED_ENDPOINT_TYPE, as from a Kafka broker).
struct DescribeClusterHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...1

    /// Kafka's operations on the CLUSTER resource (ALTER 4, CREATE 7, DESCRIBE 8, CLUSTER_ACTION 9,
    /// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12), all allowed: Spate has no authorizer.
    static let clusterOperations: Int32 = [4, 7, 8, 9, 10, 11, 12].reduce(0) { $0 | (1 << $1) }

    func handle(_ request: DescribeClusterRequest, context: RequestContext) async throws -> DescribeClusterResponse? {
        let broker = context.broker
        var response = DescribeClusterResponse(
            throttleTimeMs: 0,
            errorCode: .none,
            errorMessage: nil,
            clusterID: broker.clusterID,
            controllerID: broker.nodeID,
            brokers: [
                .init(brokerID: broker.nodeID, host: broker.advertisedHost, port: broker.advertisedPort, rack: nil)
            ],
            clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
                ? Self.clusterOperations : MetadataHandler.operationsNotRequested
        )
        if context.header.apiVersion >= 1 {
            response.endpointType = request.endpointType
            if request.endpointType != 1 {
                response.errorCode = .unsupportedEndpointType
                response.errorMessage = "the broker only describes broker endpoints (EndpointType 1)"
                response.brokers = []
            }
        }
        return response
    }
}
