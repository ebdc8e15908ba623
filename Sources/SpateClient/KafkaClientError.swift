public import SpateWire

/// An error from ``KafkaClient``, ``Producer``, ``Consumer`` or ``Admin``.
///
/// ``code`` says what went wrong; errors the broker reported also carry its Kafka ``kafkaErrorCode``.
/// ``isRetriable`` tells whether trying the same operation again may succeed (the client already retried it within
/// its timeouts before giving up).
public struct KafkaClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public var code: Code
    /// The Kafka error code the broker answered with, for ``Code/broker`` and ``Code/unknownTopic`` errors.
    public var kafkaErrorCode: ErrorCode?
    /// A human-readable explanation.
    public var message: String

    public init(_ code: Code, _ message: String, kafkaErrorCode: ErrorCode? = nil) {
        self.code = code
        self.message = message
        self.kafkaErrorCode = kafkaErrorCode
    }

    /// An error the broker reported with a Kafka error code.
    public static func broker(_ errorCode: ErrorCode, _ context: String, message: String? = nil) -> Self {
        let code: Code = errorCode == .unknownTopicOrPartition ? .unknownTopic : .broker
        let detail = message.map { $0.isEmpty ? errorCode.message : $0 } ?? errorCode.message
        return Self(code, "\(context): \(errorCode.name): \(detail)", kafkaErrorCode: errorCode)
    }

    /// Whether the same operation may succeed if tried again: network failures, timeouts and the Kafka error codes
    /// Kafka marks retriable (`NOT_LEADER_OR_FOLLOWER`, `UNKNOWN_TOPIC_OR_PARTITION`, …).
    public var isRetriable: Bool {
        if let kafkaErrorCode { return kafkaErrorCode.isRetriable }
        switch self.code.base {
        case .connectionFailed, .connectionClosed, .timedOut: return true
        default: return false
        }
    }

    public var description: String { self.message }

    /// Whether the cached metadata may be stale after this error: a leader or topic error, or a failed connection.
    var invalidatesMetadata: Bool {
        if let kafkaErrorCode { return KafkaClient.invalidatesMetadata(kafkaErrorCode) }
        return self.code == .connectionFailed || self.code == .connectionClosed || self.code == .timedOut
    }

    /// The kinds of ``KafkaClientError``; an open set.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case connectionFailed, connectionClosed, timedOut, broker, unknownTopic, unsupportedVersion
            case protocolViolation, invalidArgument, shutDown, corruptRecords
        }

        let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { self.base.rawValue }

        /// No connection to any broker could be made (refused, unreachable, name not resolved).
        public static let connectionFailed = Self(.connectionFailed)
        /// The connection closed while a request was outstanding.
        public static let connectionClosed = Self(.connectionClosed)
        /// A request or an operation did not finish within its timeout.
        public static let timedOut = Self(.timedOut)
        /// The broker answered with an error code (see ``KafkaClientError/kafkaErrorCode``).
        public static let broker = Self(.broker)
        /// The topic or partition does not exist (`UNKNOWN_TOPIC_OR_PARTITION`).
        public static let unknownTopic = Self(.unknownTopic)
        /// The broker and the client share no version of an API the operation needs.
        public static let unsupportedVersion = Self(.unsupportedVersion)
        /// The broker sent something the client could not decode or did not expect.
        public static let protocolViolation = Self(.protocolViolation)
        /// The caller passed an invalid argument or configuration.
        public static let invalidArgument = Self(.invalidArgument)
        /// The client, producer or consumer was closed.
        public static let shutDown = Self(.shutDown)
        /// Fetched record batches could not be decoded or decompressed, or failed their CRC.
        public static let corruptRecords = Self(.corruptRecords)
    }
}
