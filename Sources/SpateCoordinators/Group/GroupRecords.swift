import NIOCore
public import SpateWire

/// One record of `__consumer_offsets`, in Kafka's own formats, typed.
///
/// On disk a record's key is an `int16` *key version*, which is really the record type (0–1 an offset commit,
/// 2 classic group metadata, 3–8 the KIP-848 consumer-group records), followed by the key message at that version.
/// The value is an `int16` value version followed by the value message; a nil value is a tombstone, which removes
/// the key when the topic is compacted. The key and value structs are generated from `Schemas/Records/`.
public enum GroupCoordinatorRecord: Hashable, Sendable {
    /// A committed offset (key types 0 and 1).
    case offsetCommit(OffsetCommitKey, OffsetCommitValue?)
    /// A classic group's metadata and members (key type 2).
    case groupMetadata(GroupMetadataKey, GroupMetadataValue?)
    /// A consumer group's epoch (key type 3).
    case consumerGroupMetadata(ConsumerGroupMetadataKey, ConsumerGroupMetadataValue?)
    /// The metadata of the topics a consumer group subscribes to (key type 4).
    case consumerGroupPartitionMetadata(ConsumerGroupPartitionMetadataKey, ConsumerGroupPartitionMetadataValue?)
    /// A consumer group member's subscription and client details (key type 5).
    case consumerGroupMemberMetadata(ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue?)
    /// The epoch of a consumer group's target assignment (key type 6).
    case consumerGroupTargetAssignmentMetadata(
        ConsumerGroupTargetAssignmentMetadataKey, ConsumerGroupTargetAssignmentMetadataValue?)
    /// One member's partitions in a consumer group's target assignment (key type 7).
    case consumerGroupTargetAssignmentMember(
        ConsumerGroupTargetAssignmentMemberKey, ConsumerGroupTargetAssignmentMemberValue?)
    /// A consumer group member's current epochs, assigned partitions and partitions pending revocation (key type 8).
    case consumerGroupCurrentMemberAssignment(
        ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue?)

    /// Why a record of `__consumer_offsets` could not be read.
    public enum DecodingError: Error, Hashable, Sendable {
        /// A key type this coordinator does not know (Kafka skips these when loading: they may be left over from a
        /// newer version or an aborted upgrade, e.g. share-group records).
        case unknownRecordType(Int16)
        /// A value version outside what the record's value message defines.
        case unsupportedValueVersion(recordType: Int16, version: Int16)
        /// The key or value bytes do not decode.
        case malformed(WireError)
    }

    // MARK: Record types and versions

    /// The key version Kafka writes for each record type.
    enum RecordType {
        static let offsetCommit: Int16 = 1  // 0 is also an offset commit (same layout)
        static let groupMetadata: Int16 = 2
        static let consumerGroupMetadata: Int16 = 3
        static let consumerGroupPartitionMetadata: Int16 = 4
        static let consumerGroupMemberMetadata: Int16 = 5
        static let consumerGroupTargetAssignmentMetadata: Int16 = 6
        static let consumerGroupTargetAssignmentMember: Int16 = 7
        static let consumerGroupCurrentMemberAssignment: Int16 = 8
    }

    /// The key type (the key's version): 1 for offset commits, 2 for group metadata, 3–8 for consumer groups.
    public var recordType: Int16 {
        switch self {
        case .offsetCommit: RecordType.offsetCommit
        case .groupMetadata: RecordType.groupMetadata
        case .consumerGroupMetadata: RecordType.consumerGroupMetadata
        case .consumerGroupPartitionMetadata: RecordType.consumerGroupPartitionMetadata
        case .consumerGroupMemberMetadata: RecordType.consumerGroupMemberMetadata
        case .consumerGroupTargetAssignmentMetadata: RecordType.consumerGroupTargetAssignmentMetadata
        case .consumerGroupTargetAssignmentMember: RecordType.consumerGroupTargetAssignmentMember
        case .consumerGroupCurrentMemberAssignment: RecordType.consumerGroupCurrentMemberAssignment
        }
    }

    /// The group the record belongs to.
    public var groupID: String {
        switch self {
        case .offsetCommit(let key, _): key.group
        case .groupMetadata(let key, _): key.group
        case .consumerGroupMetadata(let key, _): key.groupID
        case .consumerGroupPartitionMetadata(let key, _): key.groupID
        case .consumerGroupMemberMetadata(let key, _): key.groupID
        case .consumerGroupTargetAssignmentMetadata(let key, _): key.groupID
        case .consumerGroupTargetAssignmentMember(let key, _): key.groupID
        case .consumerGroupCurrentMemberAssignment(let key, _): key.groupID
        }
    }

    /// Whether the record deletes its key (it has no value).
    public var isTombstone: Bool {
        switch self {
        case .offsetCommit(_, let value): value == nil
        case .groupMetadata(_, let value): value == nil
        case .consumerGroupMetadata(_, let value): value == nil
        case .consumerGroupPartitionMetadata(_, let value): value == nil
        case .consumerGroupMemberMetadata(_, let value): value == nil
        case .consumerGroupTargetAssignmentMetadata(_, let value): value == nil
        case .consumerGroupTargetAssignmentMember(_, let value): value == nil
        case .consumerGroupCurrentMemberAssignment(_, let value): value == nil
        }
    }

    /// The value version Kafka 4 writes for an offset commit: 1 when the commit carries an explicit expiry (the only
    /// version with `expireTimestamp`), otherwise 3 (`MetadataVersion.offsetCommitValueVersion`).
    static func offsetCommitValueVersion(_ value: OffsetCommitValue) -> Int16 {
        value.expireTimestamp != -1 ? 1 : 3
    }

    /// The value version Kafka 4 writes for classic group metadata (`MetadataVersion.groupMetadataValueVersion`).
    static let groupMetadataValueVersion: Int16 = 3

    // MARK: Encoding

    /// The record's key and value bytes, at the versions Kafka 4 writes.
    public func encoded() throws -> CoordinatorRecord {
        var key = ByteBuffer()
        key.writeInteger(self.recordType)
        var value: ByteBuffer? = nil
        func write<Value>(_ message: Value?, version: Int16, _ encode: (Value, inout ByteBuffer) throws(WireError) -> Void)
            throws(WireError)
        {
            guard let message else { return }
            var buffer = ByteBuffer()
            buffer.writeInteger(version)
            try encode(message, &buffer)
            value = buffer
        }
        let version = self.recordType
        switch self {
        case .offsetCommit(let k, let v):
            try k.encode(into: &key, version: version)
            let valueVersion = v.map(Self.offsetCommitValueVersion) ?? 0
            try write(v, version: valueVersion) { (m, b) throws(WireError) in try m.encode(into: &b, version: valueVersion) }
        case .groupMetadata(let k, let v):
            try k.encode(into: &key, version: version)
            let valueVersion = Self.groupMetadataValueVersion
            try write(v, version: valueVersion) { (m, b) throws(WireError) in try m.encode(into: &b, version: valueVersion) }
        case .consumerGroupMetadata(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        case .consumerGroupPartitionMetadata(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        case .consumerGroupMemberMetadata(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        case .consumerGroupTargetAssignmentMetadata(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        case .consumerGroupTargetAssignmentMember(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        case .consumerGroupCurrentMemberAssignment(let k, let v):
            try k.encode(into: &key, version: version)
            try write(v, version: 0) { (m, b) throws(WireError) in try m.encode(into: &b, version: 0) }
        }
        return CoordinatorRecord(key: key, value: value)
    }

    // MARK: Decoding

    /// Reads a record of `__consumer_offsets`, accepting every key and value version Kafka defines.
    ///
    /// - Throws: ``DecodingError/unknownRecordType(_:)`` for a key type this coordinator does not know (callers
    ///   loading a partition skip those, as Kafka does), other ``DecodingError``s for malformed bytes.
    public init(decoding record: CoordinatorRecord) throws(DecodingError) {
        var key = record.key
        let type: Int16
        do {
            type = try key.readKafkaInteger(as: Int16.self)
        } catch {
            throw .malformed(error)
        }
        func value<Value>(
            _ supported: ClosedRange<Int16>, _ decode: (inout ByteBuffer, Int16) throws(WireError) -> Value
        ) throws(DecodingError) -> Value? {
            guard var buffer = record.value else { return nil }
            let version: Int16
            do {
                version = try buffer.readKafkaInteger(as: Int16.self)
            } catch {
                throw .malformed(error)
            }
            guard supported.contains(version) else {
                throw .unsupportedValueVersion(recordType: type, version: version)
            }
            do {
                let message = try decode(&buffer, version)
                try buffer.expectFullyConsumed()
                return message
            } catch {
                throw .malformed(error)
            }
        }
        func keyMessage<Key>(_ decode: (inout ByteBuffer, Int16) throws(WireError) -> Key) throws(DecodingError) -> Key {
            do {
                let message = try decode(&key, type)
                try key.expectFullyConsumed()
                return message
            } catch {
                throw .malformed(error)
            }
        }
        switch type {
        case 0, 1:
            self = .offsetCommit(
                try keyMessage { (b, v) throws(WireError) in try OffsetCommitKey(from: &b, version: v) },
                try value(OffsetCommitValue.supportedVersions) { (b, v) throws(WireError) in
                    try OffsetCommitValue(from: &b, version: v)
                })
        case 2:
            self = .groupMetadata(
                try keyMessage { (b, v) throws(WireError) in try GroupMetadataKey(from: &b, version: v) },
                try value(GroupMetadataValue.supportedVersions) { (b, v) throws(WireError) in
                    try GroupMetadataValue(from: &b, version: v)
                })
        case 3:
            self = .consumerGroupMetadata(
                try keyMessage { (b, v) throws(WireError) in try ConsumerGroupMetadataKey(from: &b, version: v) },
                try value(ConsumerGroupMetadataValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupMetadataValue(from: &b, version: v)
                })
        case 4:
            self = .consumerGroupPartitionMetadata(
                try keyMessage { (b, v) throws(WireError) in
                    try ConsumerGroupPartitionMetadataKey(from: &b, version: v)
                },
                try value(ConsumerGroupPartitionMetadataValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupPartitionMetadataValue(from: &b, version: v)
                })
        case 5:
            self = .consumerGroupMemberMetadata(
                try keyMessage { (b, v) throws(WireError) in try ConsumerGroupMemberMetadataKey(from: &b, version: v) },
                try value(ConsumerGroupMemberMetadataValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupMemberMetadataValue(from: &b, version: v)
                })
        case 6:
            self = .consumerGroupTargetAssignmentMetadata(
                try keyMessage { (b, v) throws(WireError) in
                    try ConsumerGroupTargetAssignmentMetadataKey(from: &b, version: v)
                },
                try value(ConsumerGroupTargetAssignmentMetadataValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupTargetAssignmentMetadataValue(from: &b, version: v)
                })
        case 7:
            self = .consumerGroupTargetAssignmentMember(
                try keyMessage { (b, v) throws(WireError) in
                    try ConsumerGroupTargetAssignmentMemberKey(from: &b, version: v)
                },
                try value(ConsumerGroupTargetAssignmentMemberValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupTargetAssignmentMemberValue(from: &b, version: v)
                })
        case 8:
            self = .consumerGroupCurrentMemberAssignment(
                try keyMessage { (b, v) throws(WireError) in
                    try ConsumerGroupCurrentMemberAssignmentKey(from: &b, version: v)
                },
                try value(ConsumerGroupCurrentMemberAssignmentValue.supportedVersions) { (b, v) throws(WireError) in
                    try ConsumerGroupCurrentMemberAssignmentValue(from: &b, version: v)
                })
        default:
            throw .unknownRecordType(type)
        }
    }
}
