import SpateWire

/// Heartbeat (12): keeps a classic member's session alive and tells it when to rejoin.
struct HeartbeatHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...4

    func handle(_ request: HeartbeatRequest, context: RequestContext) async throws -> HeartbeatResponse? {
        await context.broker.groups.heartbeat(request)
    }
}
