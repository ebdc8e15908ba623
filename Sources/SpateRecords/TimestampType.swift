/// What a batch's timestamps mean: bit 3 of the v2 batch `attributes`.
public enum TimestampType: Int8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The producer's timestamps (`message.timestamp.type=CreateTime`).
    case createTime = 0
    /// The broker's append time, stamped into `maxTimestamp` (`message.timestamp.type=LogAppendTime`).
    case logAppendTime = 1

    public var description: String {
        switch self {
        case .createTime: "CreateTime"
        case .logAppendTime: "LogAppendTime"
        }
    }
}
