import SpateWire

/// DeleteGroups (42): removes groups without members, with their committed offsets.
struct DeleteGroupsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...2

    func handle(_ request: DeleteGroupsRequest, context: RequestContext) async throws -> DeleteGroupsResponse? {
        var results: [DeleteGroupsResponse.DeletableGroupResult] = []
        for id in request.groupsNames {
            results.append(.init(groupID: id, errorCode: await context.broker.groups.deleteGroup(id.rawValue)))
        }
        return DeleteGroupsResponse(results: results)
    }
}
