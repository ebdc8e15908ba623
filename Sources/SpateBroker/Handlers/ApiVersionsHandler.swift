import Logging
import SpateWire

/// ApiVersions (18): the APIs and versions this broker serves, exactly.
struct ApiVersionsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...4

    func handle(_ request: ApiVersionsRequest, context: RequestContext) async throws -> ApiVersionsResponse? {
        ApiVersionsResponse(errorCode: .none, apiKeys: context.broker.registry.advertised, throttleTimeMs: 0)
    }
}
