import NIOCore
import SpateWire
import Testing

@testable import SpateBroker

/// Every handler in the registry answers, at every version it advertises, with a response that encodes and decodes
/// (a handler that builds a field its version cannot carry makes the broker close the connection instead).
@Suite struct EveryVersionTests {
    /// Requests with content for the admin APIs (so that their responses carry entries); other APIs get their empty
    /// request. Mutating requests use validateOnly or a topic that does not exist.
    static func sample(_ apiKey: APIKey, version: Int16) -> AnyRequest? {
        switch apiKey {
        case .deleteTopics:
            return version >= 6
                ? .deleteTopics(.init(topics: [.init(name: "missing"), .init(name: nil, topicID: KafkaUUID.random())]))
                : .deleteTopics(.init(topicNames: ["missing"]))
        case .createPartitions:
            return .createPartitions(.init(topics: [.init(name: "t", count: 5, assignments: nil)], validateOnly: true))
        case .describeConfigs:
            return .describeConfigs(
                .init(
                    resources: [
                        .init(resourceType: 2, resourceName: "t", configurationKeys: nil),
                        .init(resourceType: 4, resourceName: "1", configurationKeys: nil),
                        .init(resourceType: 2, resourceName: "missing", configurationKeys: nil),
                    ],
                    includeSynonyms: true,
                    includeDocumentation: version >= 3
                )
            )
        case .alterConfigs:
            return .alterConfigs(
                .init(
                    resources: [
                        .init(resourceType: 2, resourceName: "t", configs: [.init(name: "retention.ms", value: "1000")])
                    ],
                    validateOnly: true
                )
            )
        case .incrementalAlterConfigs:
            return .incrementalAlterConfigs(
                .init(
                    resources: [
                        .init(
                            resourceType: 2,
                            resourceName: "t",
                            configs: [.init(name: "cleanup.policy", configOperation: 2, value: "compact")]
                        )
                    ],
                    validateOnly: true
                )
            )
        case .deleteRecords:
            return .deleteRecords(.init(topics: [.init(name: "t", partitions: [.init(partitionIndex: 1, offset: 0)])]))
        case .describeCluster:
            return .describeCluster(.init(includeClusterAuthorizedOperations: true))
        case .describeLogDirs:
            return .describeLogDirs(.init(topics: nil))
        case .describeTopicPartitions:
            return .describeTopicPartitions(.init(topics: [], responsePartitionLimit: 1))
        case .offsetForLeaderEpoch:
            return .offsetForLeaderEpoch(
                .init(
                    replicaID: -1,
                    topics: [
                        .init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0)])
                    ]
                )
            )
        case .produce:
            // acks=1: the default acks=0 gets no response.
            return .produce(.init(acks: 1, timeoutMs: 1000, topicData: [.init(name: "t", partitionData: [])]))
        case .metadata:
            return .metadata(.init(topics: nil))
        case .findCoordinator:
            return .findCoordinator(version >= 4 ? .init(keyType: 0, coordinatorKeys: ["g", ""]) : .init(key: "g"))
        case .offsetCommit:
            return .offsetCommit(
                .init(groupID: "g", topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 1, committedMetadata: "m")])]))
        case .offsetFetch:
            return version >= 8
                ? .offsetFetch(.init(groups: [.init(groupID: "g", topics: nil), .init(groupID: "h", topics: [.init(name: "t", partitionIndexes: [0, 1])])]))
                : .offsetFetch(.init(groupID: "g", topics: [.init(name: "t", partitionIndexes: [0, 1])]))
        case .describeGroups:
            return .describeGroups(.init(groups: ["g", "missing"], includeAuthorizedOperations: version >= 3))
        case .deleteGroups:
            return .deleteGroups(.init(groupsNames: ["missing"]))
        case .leaveGroup:
            return version >= 3
                ? .leaveGroup(.init(groupID: "g", members: [.init(memberID: "m", groupInstanceID: nil)]))
                : .leaveGroup(.init(groupID: "g", memberID: "m"))
        default:
            return AnyRequest.empty(apiKey: apiKey)
        }
    }

    @Test func everyHandlerAnswersAtEveryAdvertisedVersion() async throws {
        try await withBroker { client, _ in
            try await client.createTopic("t", partitions: 2, configs: ["retention.ms": "86400000"])
            #expect(try await client.produce("t", makeBatch(count: 2)).errorCode == ErrorCode.none)
            let entries = HandlerRegistry.standard.entries.values.sorted { $0.apiKey.rawValue < $1.apiKey.rawValue }
            for entry in entries {
                for version in entry.versions {
                    let request = try #require(
                        Self.sample(entry.apiKey, version: version),
                        "no request for \(entry.apiKey)"
                    )
                    let response = try await client.send(any: request, version: version)
                    #expect(response.apiKey == entry.apiKey, "\(entry.apiKey) v\(version)")
                }
            }
        }
    }
}
