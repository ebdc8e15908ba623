import SpateWire

/// OffsetCommit (8): stores committed offsets in `__consumer_offsets` and answers once they are written.
struct OffsetCommitHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 2...9

    func handle(_ request: OffsetCommitRequest, context: RequestContext) async throws -> OffsetCommitResponse? {
        await context.broker.groups.commitOffsets(request, version: context.header.apiVersion)
    }
}
