import SpateWire

/// ListGroups (16): every group, filtered by state (v4+) and type (v5+), both case-insensitively as Kafka does.
struct ListGroupsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...5

    func handle(_ request: ListGroupsRequest, context: RequestContext) async throws -> ListGroupsResponse? {
        let groups: [(id: String, protocolType: String, state: String, type: String)]
        switch await context.broker.groups.listGroups() {
        case .success(let listed): groups = listed
        case .failure(let error): return ListGroupsResponse(errorCode: error.code)
        }
        let states = Set(request.statesFilter.map { $0.lowercased() })
        let types = Set(request.typesFilter.map { $0.lowercased() })
        return ListGroupsResponse(
            errorCode: .none,
            groups: groups.filter { group in
                (states.isEmpty || states.contains(group.state.lowercased())) && (types.isEmpty || types.contains(group.type))
            }.map { .init(groupID: GroupID($0.id), protocolType: $0.protocolType, groupState: $0.state, groupType: $0.type) })
    }
}
