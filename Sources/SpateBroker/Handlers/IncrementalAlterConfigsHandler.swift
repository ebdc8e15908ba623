import Logging
import SpateWire

/// IncrementalAlterConfigs (44): SET (0), DELETE (1), APPEND (2) and SUBTRACT (3, list configs such as
/// `cleanup.policy` only) on a topic's config overrides, validated and applied at once to its logs. Broker resources
/// are refused with INVALID_REQUEST (no dynamic broker configs).
struct IncrementalAlterConfigsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...1

    enum Operation: Int8 {
        case set = 0
        case delete = 1
        case append = 2
        case subtract = 3
    }

    func handle(
        _ request: IncrementalAlterConfigsRequest,
        context: RequestContext
    ) async throws -> IncrementalAlterConfigsResponse? {
        let duplicates = ConfigAlteration.duplicates(request.resources.map { ($0.resourceType, $0.resourceName) })
        let broker = context.broker
        var responses: [IncrementalAlterConfigsResponse.AlterConfigsResourceResponse] = []
        for resource in request.resources {
            let error = await ConfigAlteration.run(
                type: resource.resourceType,
                name: resource.resourceName,
                duplicate: duplicates.contains(.init(type: resource.resourceType, name: resource.resourceName)),
                validateOnly: request.validateOnly,
                context: context
            ) { (current: [String: String]) throws(TopicError) -> [String: String] in
                var overrides = current
                var seen: Set<String> = []
                for config in resource.configs {
                    guard seen.insert(config.name).inserted else {
                        throw TopicError(code: .invalidRequest, message: "duplicate config key \(config.name)")
                    }
                    guard let definition = TopicConfigs.byName[config.name] else {
                        throw TopicError(code: .invalidConfig, message: "unknown topic config name: \(config.name)")
                    }
                    guard let operation = Operation(rawValue: config.configOperation) else {
                        throw TopicError(
                            code: .invalidRequest,
                            message: "unknown config operation \(config.configOperation) for \(config.name)"
                        )
                    }
                    switch operation {
                    case .set:
                        guard let value = config.value else {
                            throw TopicError(
                                code: .invalidRequest,
                                message: "null value not supported for: \(config.name)"
                            )
                        }
                        overrides[config.name] = value
                    case .delete:
                        overrides[config.name] = nil
                    case .append, .subtract:
                        guard definition.kind == .list else {
                            throw TopicError(
                                code: .invalidRequest,
                                message:
                                    "config value \(operation == .append ? "append" : "subtract") is not allowed for config key: \(config.name)"
                            )
                        }
                        let base = overrides[config.name] ?? definition.defaultValue(broker.configuration)
                        var items = Self.items(base)
                        let given = Self.items(config.value ?? "")
                        if operation == .append {
                            items += given.filter { !items.contains($0) }
                        } else {
                            items.removeAll { given.contains($0) }
                        }
                        overrides[config.name] = items.joined(separator: ",")
                    }
                }
                return overrides
            }
            responses.append(
                .init(
                    errorCode: error?.code ?? .none,
                    errorMessage: error?.message,
                    resourceType: resource.resourceType,
                    resourceName: resource.resourceName
                )
            )
        }
        return IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }

    static func items(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
    }
}
