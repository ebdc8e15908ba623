import NIOCore
import SpateBroker
import SpateWire
import Testing

/// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs against a real broker, including configs applied live.
@Suite struct ConfigTests {
    func describe(
        _ client: TestClient,
        _ resources: [DescribeConfigsRequest.DescribeConfigsResource],
        version: Int16,
        synonyms: Bool = true
    ) async throws -> [DescribeConfigsResponse.DescribeConfigsResult] {
        try await client.send(DescribeConfigsRequest(resources: resources, includeSynonyms: synonyms), version: version)
            .results
    }

    @Test(arguments: [Int16(1), 4])
    func describeTopicConfigs(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic(
                "described",
                configs: ["retention.ms": "3600000", "cleanup.policy": "compact"]
            )
            let result = try #require(
                try await self.describe(
                    client,
                    [.init(resourceType: 2, resourceName: "described", configurationKeys: nil)],
                    version: version
                ).first
            )
            #expect(result.errorCode == ErrorCode.none)
            let configs = Dictionary(uniqueKeysWithValues: result.configs.map { ($0.name, $0) })
            #expect(configs.count == 18)
            let retention = try #require(configs["retention.ms"])
            #expect(retention.value == "3600000")
            #expect(retention.configSource == 1)
            #expect(!retention.readOnly && !retention.isSensitive)
            #expect(
                retention.synonyms == [
                    .init(name: "retention.ms", value: "3600000", source: 1),
                    .init(name: "log.retention.ms", value: "604800000", source: 5),
                ]
            )
            let segment = try #require(configs["segment.bytes"])
            #expect(segment.value == "1073741824")
            #expect(segment.configSource == 5)
            #expect(segment.synonyms == [.init(name: "log.segment.bytes", value: "1073741824", source: 5)])
            // Types exist from v3.
            #expect(retention.configType == (version >= 3 ? 5 : 0))
            #expect(configs["cleanup.policy"]?.configType == (version >= 3 ? 7 : 0))
            #expect(configs["cleanup.policy"]?.value == "compact")
            let preallocate = try #require(configs["preallocate"])
            #expect(preallocate.value == "false")
            #expect(preallocate.configType == (version >= 3 ? 1 : 0))  // BOOLEAN
            #expect(preallocate.synonyms == [.init(name: "log.preallocate", value: "false", source: 5)])

            let filtered = try await self.describe(
                client,
                [.init(resourceType: 2, resourceName: "described", configurationKeys: ["segment.ms", "nope"])],
                version: version,
                synonyms: false
            )
            #expect(filtered.first?.configs.map(\.name) == ["segment.ms"])
            #expect(filtered.first?.configs.first?.synonyms == [])
        }
    }

    @Test func describeReportsStaticBrokerDefaults() async throws {
        try await withBroker(configure: {
            try! $0.apply(property: "log.retention.ms", value: "7200000")
            try! $0.apply(property: "log.preallocate", value: " True ")
        }) {
            client,
            _ in
            try await client.createTopic("static")
            let configs = try await client.topicConfigs("static")
            #expect(configs["preallocate"]?.value == "true")
            #expect(configs["preallocate"]?.configSource == 4)
            let retention = try #require(configs["retention.ms"])
            #expect(retention.value == "7200000")
            #expect(retention.configSource == 4)
            #expect(
                retention.synonyms == [
                    .init(name: "log.retention.ms", value: "7200000", source: 4),
                    .init(name: "log.retention.ms", value: "604800000", source: 5),
                ]
            )
        }
    }

    @Test func describeBrokerAndErrors() async throws {
        try await withBroker { client, configuration in
            let results = try await self.describe(
                client,
                [
                    .init(resourceType: 4, resourceName: "\(configuration.nodeID)", configurationKeys: nil),
                    .init(resourceType: 4, resourceName: "", configurationKeys: nil),
                    .init(resourceType: 4, resourceName: "77", configurationKeys: nil),
                    .init(resourceType: 2, resourceName: "missing", configurationKeys: nil),
                    .init(resourceType: 2, resourceName: "bad/name", configurationKeys: nil),
                    .init(resourceType: 8, resourceName: "1", configurationKeys: nil),
                ],
                version: 4
            )
            #expect(
                results.map(\.errorCode) == [
                    .none, .none, .invalidRequest, .unknownTopicOrPartition, .invalidTopicException, .invalidRequest,
                ]
            )
            let broker = Dictionary(uniqueKeysWithValues: results[0].configs.map { ($0.name, $0) })
            #expect(broker["num.partitions"]?.value == "1")
            #expect(broker["num.partitions"]?.readOnly == true)
            #expect(broker["log.dirs"]?.value == configuration.storage.dataDirectory)
            #expect(broker["log.dirs"]?.configSource == 4)
            #expect(broker["log.retention.ms"]?.value == "604800000")
            #expect(broker["message.max.bytes"]?.configType == 3)
            #expect(results[1].configs.isEmpty)
        }
    }

    @Test(arguments: [Int16(0), 2])
    func alterConfigsReplacesOverridesAndAppliesLive(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic("live", configs: ["retention.ms": "3600000"])
            #expect(try await client.produce("live", makeBatch(valueSize: 300)).errorCode == ErrorCode.none)

            let alter = { (configs: [String: String], validateOnly: Bool) in
                try await client.send(
                    AlterConfigsRequest(
                        resources: [
                            .init(
                                resourceType: 2,
                                resourceName: "live",
                                configs: configs.map { .init(name: $0.key, value: $0.value) }
                            )
                        ],
                        validateOnly: validateOnly
                    ),
                    version: version
                ).responses.first
            }
            #expect(try await alter(["max.message.bytes": "200"], true)?.errorCode == ErrorCode.none)
            #expect(try await client.produce("live", makeBatch(valueSize: 300)).errorCode == ErrorCode.none)

            #expect(try await alter(["max.message.bytes": "200"], false)?.errorCode == ErrorCode.none)
            #expect(try await client.produce("live", makeBatch(valueSize: 300)).errorCode == .messageTooLarge)
            #expect(try await client.produce("live", makeBatch(valueSize: 10)).errorCode == ErrorCode.none)
            let configs = try await client.topicConfigs("live")
            #expect(configs["max.message.bytes"]?.value == "200")
            // The whole set is replaced: retention.ms returned to the broker's value.
            #expect(configs["retention.ms"]?.configSource == 5)

            let invalid = try await alter(["max.message.bytes": "lots"], false)
            #expect(invalid?.errorCode == .invalidConfig)
            #expect(invalid?.errorMessage?.contains("max.message.bytes") == true)
            #expect(try await alter(["no.such.config": "1"], false)?.errorCode == .invalidConfig)

            #expect(try await alter([:], false)?.errorCode == ErrorCode.none)
            #expect(try await client.produce("live", makeBatch(valueSize: 300)).errorCode == ErrorCode.none)

            let others = try await client.send(
                AlterConfigsRequest(resources: [
                    .init(resourceType: 4, resourceName: "1", configs: [.init(name: "num.partitions", value: "3")]),
                    .init(resourceType: 2, resourceName: "missing", configs: []),
                ]),
                version: version
            )
            #expect(others.responses.map(\.errorCode) == [.invalidRequest, .unknownTopicOrPartition])
        }
    }

    @Test(arguments: [Int16(0), 1])
    func incrementalAlterConfigs(version: Int16) async throws {
        try await withBroker { client, _ in
            try await client.createTopic("inc", configs: ["retention.ms": "3600000"])
            let alter = { (configs: [(String, Int8, String?)]) in
                try await client.send(
                    IncrementalAlterConfigsRequest(resources: [
                        .init(
                            resourceType: 2,
                            resourceName: "inc",
                            configs: configs.map { .init(name: $0.0, configOperation: $0.1, value: $0.2) }
                        )
                    ]),
                    version: version
                ).responses.first
            }
            #expect(
                try await alter([("segment.ms", 0, "60000"), ("retention.ms", 1, nil)])?.errorCode == ErrorCode.none
            )
            var configs = try await client.topicConfigs("inc")
            #expect(configs["segment.ms"]?.value == "60000")
            #expect(configs["segment.ms"]?.configSource == 1)
            #expect(configs["retention.ms"]?.configSource == 5)

            #expect(try await alter([("cleanup.policy", 2, "compact")])?.errorCode == ErrorCode.none)
            configs = try await client.topicConfigs("inc")
            #expect(configs["cleanup.policy"]?.value == "delete,compact")
            #expect(try await alter([("cleanup.policy", 3, "delete")])?.errorCode == ErrorCode.none)
            configs = try await client.topicConfigs("inc")
            #expect(configs["cleanup.policy"]?.value == "compact")
            #expect(configs["segment.ms"]?.value == "60000")

            #expect(try await alter([("retention.ms", 2, "5")])?.errorCode == .invalidRequest)
            #expect(try await alter([("retention.ms", 0, "-7")])?.errorCode == .invalidConfig)
            #expect(try await alter([("unknown.config", 0, "1")])?.errorCode == .invalidConfig)
            #expect(try await alter([("retention.ms", 9, "1")])?.errorCode == .invalidRequest)
            #expect(
                try await alter([("retention.ms", 0, "1"), ("retention.ms", 0, "2")])?.errorCode == .invalidRequest
            )
            #expect(try await alter([("cleanup.policy", 3, "compact")])?.errorCode == .invalidConfig)
            #expect(try await client.topicConfigs("inc")["cleanup.policy"]?.value == "compact")

            // Booleans: true or false in any case, nothing else.
            #expect(try await alter([("preallocate", 0, "TRUE")])?.errorCode == ErrorCode.none)
            #expect(try await client.topicConfigs("inc")["preallocate"]?.value?.lowercased() == "true")
            #expect(try await alter([("preallocate", 0, "yes")])?.errorCode == .invalidConfig)
            #expect(try await client.topicConfigs("inc")["preallocate"]?.value?.lowercased() == "true")
        }
    }

    /// retention.ms lowered on a topic with old segments deletes them at once (the log start moves).
    @Test func retentionChangeTakesEffectImmediately() async throws {
        try await withBroker { client, _ in
            // Each batch (about 80 bytes) fills its own 100-byte segment.
            try await client.createTopic("aging", configs: ["segment.bytes": "100"])
            for _ in 0..<3 {
                #expect(try await client.produce("aging", makeBatch(timestamp: 1_000)).errorCode == ErrorCode.none)
            }
            #expect(try await client.offset("aging", at: -2) == 0)
            let response = try await client.send(
                IncrementalAlterConfigsRequest(resources: [
                    .init(
                        resourceType: 2,
                        resourceName: "aging",
                        configs: [.init(name: "retention.ms", configOperation: 0, value: "60000")]
                    )
                ]),
                version: 1
            )
            #expect(response.responses.first?.errorCode == ErrorCode.none)
            // Every segment but the active one is past retention.
            #expect(try await client.offset("aging", at: -2) == 2)
            #expect(try await client.offset("aging", at: -1) == 3)
        }
    }
}
