import Logging
import SpateWire

/// AlterConfigs (33): replaces a topic's whole set of config overrides (a config not named returns to the broker's
/// value), validated like CreateTopics and applied at once to the topic's logs. Broker resources are refused with
/// INVALID_REQUEST: Spate's broker properties are all read-only (no dynamic broker configs).
struct AlterConfigsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...2

    func handle(_ request: AlterConfigsRequest, context: RequestContext) async throws -> AlterConfigsResponse? {
        let duplicates = ConfigAlteration.duplicates(request.resources.map { ($0.resourceType, $0.resourceName) })
        var responses: [AlterConfigsResponse.AlterConfigsResourceResponse] = []
        for resource in request.resources {
            let error = await ConfigAlteration.run(
                type: resource.resourceType,
                name: resource.resourceName,
                duplicate: duplicates.contains(.init(type: resource.resourceType, name: resource.resourceName)),
                validateOnly: request.validateOnly,
                context: context
            ) { (_: [String: String]) throws(TopicError) -> [String: String] in
                var overrides: [String: String] = [:]
                for config in resource.configs {
                    guard overrides[config.name] == nil else {
                        throw TopicError(code: .invalidRequest, message: "duplicate config key \(config.name)")
                    }
                    // A null value sets nothing: the config keeps the broker's value.
                    if let value = config.value { overrides[config.name] = value }
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
        return AlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }
}

/// What AlterConfigs and IncrementalAlterConfigs share: resource checks, then the change applied to a topic.
enum ConfigAlteration {
    struct Resource: Hashable {
        var type: Int8
        var name: String
    }

    static func duplicates(_ resources: [(Int8, String)]) -> Set<Resource> {
        let counts = Dictionary(resources.map { (Resource(type: $0.0, name: $0.1), 1) }, uniquingKeysWith: +)
        return Set(counts.filter { $0.value > 1 }.keys)
    }

    /// Alters one resource; returns the error for the client, or nil on success.
    static func run(
        type: Int8,
        name: String,
        duplicate: Bool,
        validateOnly: Bool,
        context: RequestContext,
        change: ([String: String]) throws(TopicError) -> [String: String]
    ) async -> TopicError? {
        if duplicate { return TopicError(code: .invalidRequest, message: "the resource is named more than once") }
        switch ConfigResourceType(rawValue: type) {
        case .topic:
            if let problem = TopicStore.validateName(name) {
                return TopicError(code: .invalidTopicException, message: problem)
            }
            do {
                try await context.broker.alterTopicConfigs(topic: name, validateOnly: validateOnly, change)
                if !validateOnly {
                    context.logger.info("Altered topic configs", metadata: ["spate.topic": "\(name)"])
                }
                return nil
            } catch let error as TopicError {
                return error
            } catch {
                context.logger.warning(
                    "Altering topic configs failed",
                    metadata: ["spate.topic": "\(name)", "spate.error": "\(error)"]
                )
                return TopicError(code: .kafkaStorageError, message: "\(error)")
            }
        case .broker:
            return TopicError(
                code: .invalidRequest,
                message: "broker configs cannot be updated dynamically: Spate reads them at start-up only"
            )
        default:
            return TopicError(code: .invalidRequest, message: "resource type \(type) is not supported")
        }
    }
}
