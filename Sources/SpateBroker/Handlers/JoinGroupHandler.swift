import SpateWire

/// JoinGroup (11): classic-protocol membership. The answer waits until the group's join phase completes.
struct JoinGroupHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 2...9

    func handle(_ request: JoinGroupRequest, context: RequestContext) async throws -> JoinGroupResponse? {
        await context.broker.groups.join(
            request, version: context.header.apiVersion, clientID: context.header.clientID ?? "",
            clientHost: context.clientHost)
    }
}
