import SpateWire

/// SyncGroup (14): the leader hands out assignments; every member waits for its own.
struct SyncGroupHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...5

    func handle(_ request: SyncGroupRequest, context: RequestContext) async throws -> SyncGroupResponse? {
        await context.broker.groups.sync(request, version: context.header.apiVersion)
    }
}
