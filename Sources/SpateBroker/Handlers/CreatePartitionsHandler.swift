import Logging
import SpateWire

/// CreatePartitions (37): raises topics' partition counts (never lowers them); explicit assignments may name only
/// this broker; `validateOnly` checks without changing anything.
struct CreatePartitionsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 0...3

    func handle(_ request: CreatePartitionsRequest, context: RequestContext) async throws -> CreatePartitionsResponse? {
        var results: [CreatePartitionsResponse.CreatePartitionsTopicResult] = []
        let counts = Dictionary(request.topics.map { ($0.name, 1) }, uniquingKeysWith: +)
        var reported: Set<TopicName> = []
        for item in request.topics {
            guard counts[item.name] == 1 else {
                // Kafka answers a duplicated topic once, with INVALID_REQUEST.
                if reported.insert(item.name).inserted {
                    results.append(
                        .init(
                            name: item.name,
                            errorCode: .invalidRequest,
                            errorMessage: "duplicate topic in the request"
                        )
                    )
                }
                continue
            }
            do {
                let topic = try context.broker.createPartitions(
                    topic: item.name.rawValue,
                    count: item.count,
                    assignments: item.assignments?.map(\.brokerIDs),
                    validateOnly: request.validateOnly
                )
                if !request.validateOnly {
                    context.logger.info(
                        "Created partitions",
                        metadata: ["spate.topic": "\(topic.name)", "spate.partitions": "\(topic.partitionCount)"]
                    )
                }
                results.append(.init(name: item.name, errorCode: .none, errorMessage: nil))
            } catch let error as TopicError {
                results.append(.init(name: item.name, errorCode: error.code, errorMessage: error.message))
            } catch {
                context.logger.warning("Creating partitions failed", metadata: ["spate.error": "\(error)"])
                results.append(.init(name: item.name, errorCode: .kafkaStorageError, errorMessage: "\(error)"))
            }
        }
        return CreatePartitionsResponse(throttleTimeMs: 0, results: results)
    }
}
