import SpateWire

/// DescribeGroups (15): state, protocol, and members with their metadata and assignments.
struct DescribeGroupsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...5

    func handle(_ request: DescribeGroupsRequest, context: RequestContext) async throws -> DescribeGroupsResponse? {
        var groups: [DescribeGroupsResponse.DescribedGroup] = []
        for id in request.groups {
            var group = await context.broker.groups.describe(id.rawValue)
            // Without an authorizer every group operation is allowed (READ, DESCRIBE, DELETE).
            group.authorizedOperations = request.includeAuthorizedOperations ? Self.groupOperations : Int32.min
            groups.append(group)
        }
        return DescribeGroupsResponse(groups: groups)
    }

    /// READ (3), DELETE (6), DESCRIBE (8) as a bit field.
    static let groupOperations: Int32 = 1 << 3 | 1 << 6 | 1 << 8
}
