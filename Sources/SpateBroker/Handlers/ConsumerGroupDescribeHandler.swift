import SpateWire

/// ConsumerGroupDescribe (69): KIP-848 groups with their epochs, members, assignments and target assignments.
struct ConsumerGroupDescribeHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...0

    func handle(_ request: ConsumerGroupDescribeRequest, context: RequestContext) async throws -> ConsumerGroupDescribeResponse? {
        var groups: [ConsumerGroupDescribeResponse.DescribedGroup] = []
        for id in request.groupIDs {
            var group = await context.broker.groups.describeConsumerGroup(id.rawValue)
            group.authorizedOperations = request.includeAuthorizedOperations ? DescribeGroupsHandler.groupOperations : Int32.min
            groups.append(group)
        }
        return ConsumerGroupDescribeResponse(groups: groups)
    }
}
