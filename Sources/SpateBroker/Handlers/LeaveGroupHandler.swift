import SpateWire

/// LeaveGroup (13): members leave (v3+: several at once, static members by instance ID).
struct LeaveGroupHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...5

    func handle(_ request: LeaveGroupRequest, context: RequestContext) async throws -> LeaveGroupResponse? {
        await context.broker.groups.leave(request, version: context.header.apiVersion)
    }
}
