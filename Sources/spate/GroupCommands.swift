import ArgumentParser
import SpateClient
import SpateWire

struct Group: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, describe (with lag), delete consumer groups and reset their offsets.",
        discussion: """
            Examples:
              spate group list
              spate group describe billing
              spate group describe billing --json
              spate group reset-offsets billing --topic orders --to earliest
              spate group delete billing
            """,
        subcommands: [List.self, Describe.self, Delete.self, ResetOffsets.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the consumer groups with their state.",
            discussion: """
                Prints one line per group: its ID, state (Stable, Empty, PreparingRebalance, …) and type \
                (classic or consumer).

                Examples:
                  spate group list
                """)

        @OptionGroup var client: ClientOptions

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                let groups = try await admin.listGroups()
                var rows = [["GROUP", "STATE", "TYPE"]]
                rows += groups.map { [$0.groupID.rawValue, $0.state.isEmpty ? "-" : $0.state, $0.type.isEmpty ? "-" : $0.type] }
                writeAll(formatTable(rows) + "\n", to: 1)
            }
            await admin.close()
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group's state, members, committed offsets, end offsets and lag.",
            discussion: """
                Prints, for every partition the group has committed or is assigned: topic, partition, committed \
                offset, log end offset, lag (end minus committed) and the member it is assigned to ("-" where \
                there is none).

                --json prints one object: {"group", "state", "protocol", "members" (a list of {"member_id", \
                "client_id", "client_host", "group_instance_id"}), "partitions" (a list of {"topic", "partition", \
                "committed_offset", "end_offset", "lag", "member"}; null where unknown)}.

                Exits with 3 when the group does not exist.

                Examples:
                  spate group describe billing
                  spate group describe billing --json
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The group ID.") var group: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            let groupID = GroupID(self.group)
            try await runClient(brokers: self.client) {
                let description = try await admin.describeGroup(groupID)
                let offsets = try await admin.groupOffsets(groupID)
                if description.state == "Dead" && offsets.isEmpty {
                    throw KafkaClientError.broker(.groupIDNotFound, "group '\(groupID)'", message: "the group does not exist")
                }
                if self.json {
                    writeAll(Self.json(description, offsets) + "\n", to: 1)
                    return
                }
                var output = "group \(groupID): \(description.state)"
                if !description.protocolName.isEmpty { output += ", assignor \(description.protocolName)" }
                output += ", \(description.members.count) member\(description.members.count == 1 ? "" : "s")\n"
                if !offsets.isEmpty {
                    var rows = [["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"]]
                    rows += offsets.map {
                        [
                            $0.partition.topic.rawValue, "\($0.partition.partition)",
                            $0.committedOffset.map(String.init) ?? "-", $0.endOffset.map(String.init) ?? "-",
                            $0.lag.map(String.init) ?? "-", $0.memberID ?? "-",
                        ]
                    }
                    output += formatTable(rows) + "\n"
                }
                writeAll(output, to: 1)
            }
            await admin.close()
        }

        static func json(_ description: GroupDescription, _ offsets: [GroupPartitionOffset]) -> String {
            func number(_ value: Int64?) -> String { value.map(String.init) ?? "null" }
            let members = description.members.map {
                "{\"member_id\":\(jsonString($0.memberID)),\"client_id\":\(jsonString($0.clientID)),"
                    + "\"client_host\":\(jsonString($0.clientHost)),"
                    + "\"group_instance_id\":\($0.groupInstanceID.map(jsonString) ?? "null")}"
            }
            let partitions = offsets.map {
                "{\"topic\":\(jsonString($0.partition.topic.rawValue)),\"partition\":\($0.partition.partition),"
                    + "\"committed_offset\":\(number($0.committedOffset)),\"end_offset\":\(number($0.endOffset)),"
                    + "\"lag\":\(number($0.lag)),\"member\":\($0.memberID.map(jsonString) ?? "null")}"
            }
            return "{\"group\":\(jsonString(description.groupID.rawValue)),\"state\":\(jsonString(description.state)),"
                + "\"protocol\":\(jsonString(description.protocolName)),"
                + "\"members\":[\(members.joined(separator: ","))],"
                + "\"partitions\":[\(partitions.joined(separator: ","))]}"
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a group and its committed offsets.",
            discussion: """
                The group must have no members. Exits with 3 when it does not exist.

                Examples:
                  spate group delete billing
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The group ID.") var group: String

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                try await admin.deleteGroups([GroupID(self.group)])
                print("deleted group \(self.group)")
            }
            await admin.close()
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Move a group's committed offsets of a topic.",
            discussion: """
                Sets the committed offset of every partition of --topic to the log start (earliest), the log end \
                (latest) or an offset (clamped to each partition's log). The group must have no members (stop its \
                consumers first). Prints the new offsets.

                Examples:
                  spate group reset-offsets billing --topic orders --to earliest
                  spate group reset-offsets billing --topic orders --to 1500
                """)

        @OptionGroup var client: ClientOptions
        @Argument(help: "The group ID.") var group: String
        @Option(help: "The topic whose offsets move.") var topic: String
        @Option(help: ArgumentHelp("earliest, latest or an offset.", valueName: "position")) var to: String

        func target() throws -> GroupOffsetReset {
            switch self.to {
            case "earliest", "beginning": return .earliest
            case "latest", "end": return .latest
            default:
                guard let offset = Int64(self.to), offset >= 0 else {
                    throw ValidationError("--to must be earliest, latest or an offset (got '\(self.to)')")
                }
                return .offset(offset)
            }
        }

        func validate() throws { _ = try self.target() }

        func run() async throws {
            let admin = Admin(configuration: try self.client.makeConfiguration(clientID: "spate-cli"))
            try await runClient(brokers: self.client) {
                let offsets: [TopicPartition: Int64]
                do {
                    offsets = try await admin.resetGroupOffsets(GroupID(self.group), topic: TopicName(self.topic), to: try self.target())
                } catch {
                    if let clientError = error as? KafkaClientError, clientError.kafkaErrorCode == .unknownMemberID {
                        throw KafkaClientError(
                            .invalidArgument,
                            "group '\(self.group)' has active members: stop its consumers before resetting its offsets")
                    }
                    throw error
                }
                var rows = [["TOPIC", "PARTITION", "NEW-OFFSET"]]
                rows += offsets.sorted { $0.key < $1.key }.map { [$0.key.topic.rawValue, "\($0.key.partition)", "\($0.value)"] }
                writeAll(formatTable(rows) + "\n", to: 1)
            }
            await admin.close()
        }
    }
}
