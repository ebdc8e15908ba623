import NIOCore

extension GroupStoredChange {
    /// The `__consumer_offsets` record that stores this change.
    public var record: GroupCoordinatorRecord {
        switch self {
        case .offset(let group, let partition, let offset):
            return .offsetCommit(
                OffsetCommitKey(group: group, topic: partition.topic, partition: partition.partition),
                offset.map {
                    OffsetCommitValue(
                        offset: $0.offset, leaderEpoch: $0.leaderEpoch, metadata: $0.metadata,
                        commitTimestamp: $0.commitTimestampMs, expireTimestamp: $0.expireTimestampMs ?? -1)
                })
        case .classicGroup(let id, let snapshot):
            return .groupMetadata(
                GroupMetadataKey(group: id),
                snapshot.map { snapshot in
                    GroupMetadataValue(
                        protocolType: snapshot.protocolType, generation: snapshot.generation,
                        protocol: snapshot.protocolName, leader: snapshot.leaderID,
                        currentStateTimestamp: snapshot.stateTimestampMs,
                        members: snapshot.members.map { member in
                            .init(
                                memberID: member.memberID, groupInstanceID: member.groupInstanceID,
                                clientID: member.clientID, clientHost: member.clientHost,
                                rebalanceTimeout: member.rebalanceTimeoutMs, sessionTimeout: member.sessionTimeoutMs,
                                subscription: member.metadata(for: snapshot.protocolName), assignment: member.assignment)
                        })
                })
        case .consumerGroup(let record):
            return record
        }
    }

    /// The change a record of `__consumer_offsets` stores.
    public init(_ record: GroupCoordinatorRecord) {
        switch record {
        case .offsetCommit(let key, let value):
            self = .offset(
                group: key.group, GroupTopicPartition(topic: key.topic, partition: key.partition),
                value.map {
                    CommittedOffset(
                        offset: $0.offset, leaderEpoch: $0.leaderEpoch, metadata: $0.metadata,
                        commitTimestampMs: $0.commitTimestamp, expireTimestampMs: $0.expireTimestamp >= 0 ? $0.expireTimestamp : nil)
                })
        case .groupMetadata(let key, let value):
            self = .classicGroup(
                id: key.group,
                value.map { value in
                    // The stored subscription is the metadata of the selected protocol only.
                    ClassicGroupSnapshot(
                        protocolType: value.protocolType, generation: value.generation, protocolName: value.protocol,
                        leaderID: value.leader, stateTimestampMs: value.currentStateTimestamp,
                        members: value.members.map { member in
                            ClassicMember(
                                memberID: member.memberID, groupInstanceID: member.groupInstanceID,
                                clientID: member.clientID, clientHost: member.clientHost,
                                rebalanceTimeoutMs: member.rebalanceTimeout >= 0 ? member.rebalanceTimeout : member.sessionTimeout,
                                sessionTimeoutMs: member.sessionTimeout, protocolType: value.protocolType,
                                protocols: [(name: value.protocol ?? "", metadata: member.subscription)],
                                assignment: member.assignment)
                        })
                })
        default:
            self = .consumerGroup(record)
        }
    }
}
