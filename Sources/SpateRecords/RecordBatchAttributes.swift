/// The `attributes` int16 of a v2 record batch.
///
/// Bits 0–2 hold the compression codec, bit 3 the timestamp type, bit 4 "transactional", bit 5 "control" and bit 6
/// "has delete horizon" (KIP-534: `baseTimestamp` is then the delete horizon). Other bits are kept as they are.
public struct RecordBatchAttributes: RawRepresentable, Hashable, Sendable {
    /// The attributes as stored.
    public var rawValue: Int16

    /// Wraps stored attributes.
    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// Builds attributes from their parts.
    public init(
        compression: CompressionType = .none,
        timestampType: TimestampType = .createTime,
        isTransactional: Bool = false,
        isControl: Bool = false,
        hasDeleteHorizon: Bool = false
    ) {
        self.rawValue = Int16(compression.rawValue)
        self.timestampType = timestampType
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.hasDeleteHorizon = hasDeleteHorizon
    }

    static let compressionMask: Int16 = 0x07
    static let timestampTypeBit: Int16 = 1 << 3
    static let transactionalBit: Int16 = 1 << 4
    static let controlBit: Int16 = 1 << 5
    static let deleteHorizonBit: Int16 = 1 << 6

    /// The raw codec ID in bits 0–2 (0–7; only 0–4 are defined).
    public var compressionID: UInt8 { UInt8(truncatingIfNeeded: self.rawValue & Self.compressionMask) }

    /// The codec in bits 0–2, or `nil` for an ID no codec has (5–7).
    public var compression: CompressionType? {
        get { CompressionType(rawValue: self.compressionID) }
        set {
            self.rawValue = (self.rawValue & ~Self.compressionMask) | Int16((newValue ?? .none).rawValue)
        }
    }

    /// The timestamp type in bit 3.
    public var timestampType: TimestampType {
        get { self.rawValue & Self.timestampTypeBit != 0 ? .logAppendTime : .createTime }
        set { self.set(Self.timestampTypeBit, newValue == .logAppendTime) }
    }

    /// Whether the batch belongs to a transaction (bit 4).
    public var isTransactional: Bool {
        get { self.rawValue & Self.transactionalBit != 0 }
        set { self.set(Self.transactionalBit, newValue) }
    }

    /// Whether the batch holds control records such as transaction markers (bit 5).
    public var isControl: Bool {
        get { self.rawValue & Self.controlBit != 0 }
        set { self.set(Self.controlBit, newValue) }
    }

    /// Whether `baseTimestamp` holds the delete horizon set by log compaction (bit 6, KIP-534).
    public var hasDeleteHorizon: Bool {
        get { self.rawValue & Self.deleteHorizonBit != 0 }
        set { self.set(Self.deleteHorizonBit, newValue) }
    }

    private mutating func set(_ bit: Int16, _ on: Bool) {
        if on {
            self.rawValue |= bit
        } else {
            self.rawValue &= ~bit
        }
    }
}
