public import NIOCore

/// The type in a control record's key: an open set, since newer brokers write types this code does not know.
///
/// Key layout: `version: int16` (0), `type: int16`. Transaction markers are ``abort`` and ``commit``.
public struct ControlRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type as stored.
    public var rawValue: Int16

    /// Wraps a stored type.
    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// A transaction abort marker.
    public static let abort = Self(rawValue: 0)
    /// A transaction commit marker.
    public static let commit = Self(rawValue: 1)

    /// The current control-record key version.
    public static let currentKeyVersion: Int16 = 0
    /// The size of a version-0 control-record key.
    public static let keySize = 4

    public var description: String {
        switch self {
        case .abort: "ABORT"
        case .commit: "COMMIT"
        default: "ControlRecordType(\(self.rawValue))"
        }
    }

    /// Parses a control record's key.
    ///
    /// Newer key versions are accepted as long as they begin with the version-0 fields, as Kafka does.
    /// - Throws: ``RecordBatchError/Code/invalidControlRecord`` for a missing, short or negative-version key.
    public init(key: ByteBuffer?) throws(RecordBatchError) {
        guard var key else {
            throw RecordBatchError(.invalidControlRecord, "a control record has a null key")
        }
        guard let (version, type) = key.readMultipleIntegers(as: (Int16, Int16).self) else {
            throw RecordBatchError(.invalidControlRecord, "a control record key needs 4 bytes")
        }
        guard version >= 0 else {
            throw RecordBatchError(.invalidControlRecord, "control record key version \(version) is negative")
        }
        self.init(rawValue: type)
    }

    /// Writes the version-0 key of a control record of this type.
    public func makeKey() -> ByteBuffer {
        var key = ByteBuffer()
        key.reserveCapacity(Self.keySize)
        key.writeMultipleIntegers(Self.currentKeyVersion, self.rawValue)
        return key
    }
}

/// A transaction marker: the control record a transaction coordinator writes to end a transaction in a partition.
///
/// Value layout: `version: int16` (0), `coordinatorEpoch: int32`.
public struct EndTransactionMarker: Hashable, Sendable {
    /// ``ControlRecordType/commit`` or ``ControlRecordType/abort``.
    public var type: ControlRecordType
    /// The epoch of the coordinator that wrote the marker.
    public var coordinatorEpoch: Int32

    /// The current marker value version.
    public static let currentValueVersion: Int16 = 0
    /// The size of a version-0 marker value.
    public static let valueSize = 6

    /// Creates a marker.
    public init(type: ControlRecordType, coordinatorEpoch: Int32) {
        self.type = type
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// Parses a marker from a control record's key and value.
    /// - Throws: ``RecordBatchError/Code/invalidControlRecord`` if the key is not a commit or abort, or the value is
    ///   missing, short or has a negative version.
    public init(key: ByteBuffer?, value: ByteBuffer?) throws(RecordBatchError) {
        let type = try ControlRecordType(key: key)
        guard type == .commit || type == .abort else {
            throw RecordBatchError(.invalidControlRecord, "\(type) is not a transaction marker")
        }
        guard var value else {
            throw RecordBatchError(.invalidControlRecord, "a transaction marker has a null value")
        }
        guard let (version, coordinatorEpoch) = value.readMultipleIntegers(as: (Int16, Int32).self) else {
            throw RecordBatchError(.invalidControlRecord, "a transaction marker value needs 6 bytes")
        }
        guard version >= 0 else {
            throw RecordBatchError(.invalidControlRecord, "transaction marker version \(version) is negative")
        }
        self.init(type: type, coordinatorEpoch: coordinatorEpoch)
    }

    /// Parses a marker from a decoded control record.
    public init(record: Record) throws(RecordBatchError) {
        try self.init(key: record.key, value: record.value)
    }

    /// Writes the control record key.
    public func makeKey() -> ByteBuffer { self.type.makeKey() }

    /// Writes the version-0 control record value.
    public func makeValue() -> ByteBuffer {
        var value = ByteBuffer()
        value.reserveCapacity(Self.valueSize)
        value.writeMultipleIntegers(Self.currentValueVersion, self.coordinatorEpoch)
        return value
    }
}
