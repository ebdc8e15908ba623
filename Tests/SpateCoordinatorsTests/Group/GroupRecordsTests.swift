import NIOCore
import SpateWire
import Testing

@testable import SpateCoordinators

// Golden bytes of `__consumer_offsets` records, derived by hand from Kafka's record definitions
// (group-coordinator/OffsetCommitKey.json, OffsetCommitValue.json, GroupMetadataKey.json, GroupMetadataValue.json,
// ConsumerGroup*.json): an int16 key version (the record type) then the key; an int16 value version then the value.

@Suite struct GroupRecordsTests {
    private func bytes(_ buffer: ByteBuffer?) -> [UInt8]? { buffer.map { Array($0.readableBytesView) } }

    private func expectGolden(
        _ record: GroupCoordinatorRecord, key: [UInt8], value: [UInt8]?, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let encoded = try record.encoded()
        #expect(self.bytes(encoded.key) == key, sourceLocation: sourceLocation)
        #expect(self.bytes(encoded.value) == value, sourceLocation: sourceLocation)
        let decoded = try GroupCoordinatorRecord(
            decoding: CoordinatorRecord(key: ByteBuffer(bytes: key), value: value.map { ByteBuffer(bytes: $0) }))
        #expect(decoded == record, sourceLocation: sourceLocation)
    }

    private func decode(key: [UInt8], value: [UInt8]?) throws(GroupCoordinatorRecord.DecodingError) -> GroupCoordinatorRecord {
        try GroupCoordinatorRecord(
            decoding: CoordinatorRecord(key: ByteBuffer(bytes: key), value: value.map { ByteBuffer(bytes: $0) }))
    }

    // MARK: Offset commits

    static let offsetCommitKey = annotatedBytes("""
        00 01                   # key version 1: an offset commit
        00 02 67 31             # group: classic string "g1"
        00 01 74                # topic: "t"
        00 00 00 03             # partition: int32 3
        """)

    @Test func offsetCommitV3IsWhatKafka4Writes() throws {
        let value = annotatedBytes("""
            00 03                     # value version 3
            00 00 00 00 00 00 00 64   # offset: int64 100
            00 00 00 07               # leaderEpoch: int32 7 (v3+)
            00 04 6d 65 74 61         # metadata: classic string "meta"
            00 00 01 8b cf e5 68 00   # commitTimestamp: int64 1_700_000_000_000
            """)
        let record = GroupCoordinatorRecord.offsetCommit(
            OffsetCommitKey(group: "g1", topic: "t", partition: 3),
            OffsetCommitValue(offset: 100, leaderEpoch: 7, metadata: "meta", commitTimestamp: 1_700_000_000_000))
        try self.expectGolden(record, key: Self.offsetCommitKey, value: value)
        #expect(record.groupID == "g1")
        #expect(record.recordType == 1)
    }

    @Test func offsetCommitWithExpiryIsV1() throws {
        let value = annotatedBytes("""
            00 01                     # value version 1: the only one with expireTimestamp
            00 00 00 00 00 00 00 64   # offset: int64 100
            00 00                     # metadata: "" (no leaderEpoch before v3)
            00 00 01 8b cf e5 68 00   # commitTimestamp: 1_700_000_000_000
            00 00 01 8b cf e6 52 60   # expireTimestamp: 1_700_000_060_000
            """)
        let record = GroupCoordinatorRecord.offsetCommit(
            OffsetCommitKey(group: "g1", topic: "t", partition: 3),
            OffsetCommitValue(offset: 100, metadata: "", commitTimestamp: 1_700_000_000_000, expireTimestamp: 1_700_000_060_000))
        try self.expectGolden(record, key: Self.offsetCommitKey, value: value)
    }

    @Test func offsetCommitTombstone() throws {
        let record = GroupCoordinatorRecord.offsetCommit(OffsetCommitKey(group: "g1", topic: "t", partition: 3), nil)
        try self.expectGolden(record, key: Self.offsetCommitKey, value: nil)
        #expect(record.isTombstone)
    }

    @Test func offsetCommitOlderAndNewerVersionsDecode() throws {
        // Key version 0 has the same layout as 1.
        var keyV0 = Self.offsetCommitKey
        keyV0[1] = 0
        let v0 = annotatedBytes("""
            00 00                     # value version 0
            00 00 00 00 00 00 00 05   # offset 5
            00 00                     # metadata ""
            00 00 00 00 00 00 00 09   # commitTimestamp 9
            """)
        #expect(
            try self.decode(key: keyV0, value: v0)
                == .offsetCommit(
                    OffsetCommitKey(group: "g1", topic: "t", partition: 3),
                    OffsetCommitValue(offset: 5, metadata: "", commitTimestamp: 9)))
        let v4 = annotatedBytes("""
            00 04                     # value version 4: flexible
            00 00 00 00 00 00 00 05   # offset 5
            ff ff ff ff               # leaderEpoch -1
            02 6d                     # metadata: compact string "m"
            00 00 00 00 00 00 00 09   # commitTimestamp 9
            01 05 01 aa               # tagged fields: one, tag 5, 1 byte 0xaa (unknown, kept)
            """)
        let decoded = try self.decode(key: Self.offsetCommitKey, value: v4)
        guard case .offsetCommit(_, let value?) = decoded else { Issue.record("not an offset commit"); return }
        #expect(value.offset == 5 && value.leaderEpoch == -1 && value.metadata == "m" && value.commitTimestamp == 9)
        #expect(value.unknownTaggedFields[5] == ByteBuffer(bytes: [0xaa]))
    }

    // MARK: Classic group metadata

    static let groupMetadataKey = annotatedBytes("""
        00 02          # key version 2: group metadata
        00 02 67 31    # group: "g1"
        """)

    @Test func groupMetadataV3IsWhatKafka4Writes() throws {
        let value = annotatedBytes("""
            00 03                            # value version 3
            00 08 63 6f 6e 73 75 6d 65 72    # protocolType: "consumer"
            00 00 00 05                      # generation: 5
            00 05 72 61 6e 67 65             # protocol: nullable string "range"
            00 02 6d 31                      # leader: nullable string "m1"
            00 00 01 8b cf e5 68 00          # currentStateTimestamp: 1_700_000_000_000 (v2+)
            00 00 00 01                      # members: int32 count 1
            00 02 6d 31                      #   memberId: "m1"
            ff ff                            #   groupInstanceId: null (v3+)
            00 01 63                         #   clientId: "c"
            00 02 2f 68                      #   clientHost: "/h"
            00 04 93 e0                      #   rebalanceTimeout: 300000 (v1+)
            00 00 af c8                      #   sessionTimeout: 45000
            00 00 00 02 01 02                #   subscription: bytes [01 02]
            00 00 00 00                      #   assignment: empty bytes
            """)
        let member = GroupMetadataValue.MemberMetadata(
            memberID: "m1", groupInstanceID: nil, clientID: "c", clientHost: "/h", rebalanceTimeout: 300_000,
            sessionTimeout: 45_000, subscription: ByteBuffer(bytes: [1, 2]), assignment: ByteBuffer())
        let record = GroupCoordinatorRecord.groupMetadata(
            GroupMetadataKey(group: "g1"),
            GroupMetadataValue(
                protocolType: "consumer", generation: 5, protocol: "range", leader: "m1",
                currentStateTimestamp: 1_700_000_000_000, members: [member]))
        try self.expectGolden(record, key: Self.groupMetadataKey, value: value)
    }

    @Test func groupMetadataV0Decodes() throws {
        let value = annotatedBytes("""
            00 00                            # value version 0
            00 08 63 6f 6e 73 75 6d 65 72    # protocolType: "consumer"
            00 00 00 01                      # generation: 1
            ff ff                            # protocol: null
            ff ff                            # leader: null
            00 00 00 01                      # members: 1
            00 02 6d 31                      #   memberId: "m1" (no groupInstanceId before v3)
            00 01 63                         #   clientId: "c"
            00 02 2f 68                      #   clientHost: "/h" (no rebalanceTimeout before v1)
            00 00 27 10                      #   sessionTimeout: 10000
            00 00 00 00                      #   subscription: empty
            00 00 00 00                      #   assignment: empty
            """)
        let member = GroupMetadataValue.MemberMetadata(
            memberID: "m1", clientID: "c", clientHost: "/h", sessionTimeout: 10_000, subscription: ByteBuffer(),
            assignment: ByteBuffer())
        #expect(
            try self.decode(key: Self.groupMetadataKey, value: value)
                == .groupMetadata(
                    GroupMetadataKey(group: "g1"),
                    GroupMetadataValue(protocolType: "consumer", generation: 1, protocol: nil, leader: nil, members: [member])))
    }

    // MARK: Consumer groups (KIP-848)

    @Test func consumerGroupMetadataGolden() throws {
        let key = annotatedBytes("""
            00 03          # key version 3: consumer group metadata
            00 02 67 31    # GroupId: classic string "g1" (keys are never flexible)
            """)
        let value = annotatedBytes("""
            00 00          # value version 0 (flexible)
            00 00 00 0a    # Epoch: 10
            00             # no tagged fields
            """)
        try self.expectGolden(
            .consumerGroupMetadata(ConsumerGroupMetadataKey(groupID: "g1"), ConsumerGroupMetadataValue(epoch: 10)),
            key: key, value: value)
    }

    @Test func currentMemberAssignmentGolden() throws {
        let key = annotatedBytes("""
            00 08          # key version 8: current member assignment
            00 02 67 31    # GroupId: "g1"
            00 02 6d 31    # MemberId: "m1"
            """)
        let value = annotatedBytes("""
            00 00                                             # value version 0
            00 00 00 04                                       # MemberEpoch: 4
            00 00 00 03                                       # PreviousMemberEpoch: 3
            01                                                # State: int8 1
            02                                                # AssignedPartitions: compact array, 1 element
            00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02   #   TopicId
            03 00 00 00 00 00 00 00 01                        #   Partitions: compact array [0, 1]
            00                                                #   no tagged fields
            01                                                # PartitionsPendingRevocation: empty compact array
            00                                                # no tagged fields
            """)
        let topic = KafkaUUID(high: 1, low: 2)
        try self.expectGolden(
            .consumerGroupCurrentMemberAssignment(
                ConsumerGroupCurrentMemberAssignmentKey(groupID: "g1", memberID: "m1"),
                ConsumerGroupCurrentMemberAssignmentValue(
                    memberEpoch: 4, previousMemberEpoch: 3, state: 1,
                    assignedPartitions: [.init(topicID: topic, partitions: [0, 1])], partitionsPendingRevocation: [])),
            key: key, value: value)
    }

    // MARK: Every case

    static var everyCase: [GroupCoordinatorRecord] {
        let topic = KafkaUUID(high: 0x1234, low: 0x5678)
        let records: [GroupCoordinatorRecord] = [
            .offsetCommit(
                OffsetCommitKey(group: "g", topic: "t", partition: 1),
                OffsetCommitValue(offset: 9, leaderEpoch: 2, metadata: "x", commitTimestamp: 3)),
            .groupMetadata(
                GroupMetadataKey(group: "g"),
                GroupMetadataValue(
                    protocolType: "consumer", generation: 2, protocol: nil, leader: nil, currentStateTimestamp: 5,
                    members: [
                        .init(
                            memberID: "m", groupInstanceID: "i", clientID: "c", clientHost: "h", rebalanceTimeout: 1,
                            sessionTimeout: 2, subscription: ByteBuffer(bytes: [3]), assignment: ByteBuffer(bytes: [4]))
                    ])),
            .consumerGroupMetadata(ConsumerGroupMetadataKey(groupID: "g"), ConsumerGroupMetadataValue(epoch: 3)),
            .consumerGroupPartitionMetadata(
                ConsumerGroupPartitionMetadataKey(groupID: "g"),
                ConsumerGroupPartitionMetadataValue(topics: [
                    .init(topicID: topic, topicName: "t", numPartitions: 6, partitionMetadata: [.init(partition: 0, racks: ["r"])])
                ])),
            .consumerGroupMemberMetadata(
                ConsumerGroupMemberMetadataKey(groupID: "g", memberID: "m"),
                ConsumerGroupMemberMetadataValue(
                    instanceID: "i", rackID: nil, clientID: "c", clientHost: "/h", subscribedTopicNames: ["a", "b"],
                    subscribedTopicRegex: "t.*", rebalanceTimeoutMs: 300, serverAssignor: "range",
                    classicMemberMetadata: .init(sessionTimeoutMs: 10, supportedProtocols: [.init(name: "range", metadata: ByteBuffer(bytes: [1]))]))),
            .consumerGroupTargetAssignmentMetadata(
                ConsumerGroupTargetAssignmentMetadataKey(groupID: "g"),
                ConsumerGroupTargetAssignmentMetadataValue(assignmentEpoch: 3)),
            .consumerGroupTargetAssignmentMember(
                ConsumerGroupTargetAssignmentMemberKey(groupID: "g", memberID: "m"),
                ConsumerGroupTargetAssignmentMemberValue(topicPartitions: [.init(topicID: topic, partitions: [0, 2])])),
            .consumerGroupCurrentMemberAssignment(
                ConsumerGroupCurrentMemberAssignmentKey(groupID: "g", memberID: "m"),
                ConsumerGroupCurrentMemberAssignmentValue(
                    memberEpoch: 3, previousMemberEpoch: 2, state: 0, assignedPartitions: [.init(topicID: topic, partitions: [0])],
                    partitionsPendingRevocation: [.init(topicID: topic, partitions: [2])])),
        ]
        return records
    }

    static func tombstone(_ record: GroupCoordinatorRecord) -> GroupCoordinatorRecord {
        switch record {
        case .offsetCommit(let k, _): .offsetCommit(k, nil)
        case .groupMetadata(let k, _): .groupMetadata(k, nil)
        case .consumerGroupMetadata(let k, _): .consumerGroupMetadata(k, nil)
        case .consumerGroupPartitionMetadata(let k, _): .consumerGroupPartitionMetadata(k, nil)
        case .consumerGroupMemberMetadata(let k, _): .consumerGroupMemberMetadata(k, nil)
        case .consumerGroupTargetAssignmentMetadata(let k, _): .consumerGroupTargetAssignmentMetadata(k, nil)
        case .consumerGroupTargetAssignmentMember(let k, _): .consumerGroupTargetAssignmentMember(k, nil)
        case .consumerGroupCurrentMemberAssignment(let k, _): .consumerGroupCurrentMemberAssignment(k, nil)
        }
    }

    @Test func everyCaseRoundTrips() throws {
        let records = Self.everyCase
        #expect(Set(records.map(\.recordType)) == Set(1...8))
        for record in records + records.map(Self.tombstone) {
            let encoded = try record.encoded()
            #expect(try GroupCoordinatorRecord(decoding: encoded) == record, "\(record)")
            #expect(record.groupID == "g")
            #expect(encoded.value == nil || !record.isTombstone)
        }
    }

    @Test func unknownTypesAndVersionsAreReported() throws {
        // Key type 9 (a share-group record, which Spate does not implement): callers skip it, as Kafka does.
        #expect(throws: GroupCoordinatorRecord.DecodingError.unknownRecordType(9)) {
            try self.decode(key: [0x00, 0x09, 0x00, 0x01, 0x67], value: nil)
        }
        #expect(throws: GroupCoordinatorRecord.DecodingError.unsupportedValueVersion(recordType: 3, version: 1)) {
            try self.decode(key: [0x00, 0x03, 0x00, 0x01, 0x67], value: [0x00, 0x01, 0, 0, 0, 1, 0])
        }
        // Leftover bytes after the key or the value are an error, never ignored.
        #expect(throws: GroupCoordinatorRecord.DecodingError.malformed(.leftoverBytes(1))) {
            try self.decode(key: [0x00, 0x03, 0x00, 0x01, 0x67, 0xff], value: nil)
        }
        #expect(throws: GroupCoordinatorRecord.DecodingError.malformed(.truncated)) {
            try self.decode(key: [0x00], value: nil)
        }
    }
}
