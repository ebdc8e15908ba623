import SpateWire

/// ConsumerGroupHeartbeat (68): the KIP-848 consumer protocol (`group.protocol=consumer`): membership, subscription
/// and assignment in one request, with the assignment computed by the broker (`uniform` or `range`).
struct ConsumerGroupHeartbeatHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...1

    func handle(_ request: ConsumerGroupHeartbeatRequest, context: RequestContext) async throws -> ConsumerGroupHeartbeatResponse? {
        await context.broker.groups.consumerHeartbeat(
            request, version: context.header.apiVersion, clientID: context.header.clientID ?? "",
            clientHost: context.clientHost)
    }
}
