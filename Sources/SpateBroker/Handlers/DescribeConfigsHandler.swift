import Logging
import SpateWire

/// Kafka's ConfigResource types.
enum ConfigResourceType: Int8 {
    case topic = 2
    case broker = 4
    case brokerLogger = 8
}

/// DescribeConfigs (32): a topic's configs (override, else the broker's value, with synonyms and types), or this
/// broker's properties (read-only). A broker resource named "" asks for the cluster-wide dynamic defaults, of which
/// Spate has none.
struct DescribeConfigsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 1...4

    func handle(_ request: DescribeConfigsRequest, context: RequestContext) async throws -> DescribeConfigsResponse? {
        let broker = context.broker
        let results = request.resources.map { resource -> DescribeConfigsResponse.DescribeConfigsResult in
            var result = DescribeConfigsResponse.DescribeConfigsResult(
                errorCode: .none,
                errorMessage: nil,
                resourceType: resource.resourceType,
                resourceName: resource.resourceName
            )
            let entries: [DescribedConfigs.Entry]
            switch ConfigResourceType(rawValue: resource.resourceType) {
            case .topic:
                if let problem = TopicStore.validateName(resource.resourceName) {
                    result.errorCode = .invalidTopicException
                    result.errorMessage = problem
                    return result
                }
                guard let topic = broker.topics.topic(named: resource.resourceName) else {
                    result.errorCode = .unknownTopicOrPartition
                    result.errorMessage = "topic '\(resource.resourceName)' does not exist"
                    return result
                }
                entries = DescribedConfigs.topicConfigs(of: topic, broker: broker)
            case .broker:
                if resource.resourceName.isEmpty {
                    entries = []
                } else if resource.resourceName == String(broker.configuration.nodeID) {
                    entries = DescribedConfigs.brokerConfigs(broker)
                } else {
                    result.errorCode = .invalidRequest
                    result.errorMessage =
                        "unexpected broker id, expected \(broker.configuration.nodeID) or the empty string, but received \(resource.resourceName)"
                    return result
                }
            default:
                result.errorCode = .invalidRequest
                result.errorMessage = "resource type \(resource.resourceType) is not supported"
                return result
            }
            let keys = resource.configurationKeys.map(Set.init)
            result.configs = entries.filter { keys?.contains($0.name) ?? true }.map { entry in
                .init(
                    name: entry.name,
                    value: entry.value,
                    readOnly: entry.readOnly,
                    configSource: entry.source.rawValue,
                    isSensitive: false,
                    synonyms: request.includeSynonyms
                        ? entry.synonyms.map { .init(name: $0.name, value: $0.value, source: $0.source.rawValue) } : [],
                    configType: entry.type.rawValue,
                    documentation: nil
                )
            }
            return result
        }
        return DescribeConfigsResponse(throttleTimeMs: 0, results: results)
    }
}
