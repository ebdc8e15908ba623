/// A storage failure. Appends that fail with one of these answer the producer with `KAFKA_STORAGE_ERROR`; the log
/// stays readable and consistent (no partial batch is ever visible).
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable { case io, noSpace, notFound, corrupt, closed, invalidArgument, recordTooLarge, offsetOutOfRange }
        let base: Base
        private init(_ base: Base) { self.base = base }
        /// An I/O error from the operating system.
        public static let io = Code(.io)
        /// The disk is full (ENOSPC).
        public static let noSpace = Code(.noSpace)
        /// A file or directory does not exist.
        public static let notFound = Code(.notFound)
        /// On-disk data failed validation.
        public static let corrupt = Code(.corrupt)
        /// The log or file was closed.
        public static let closed = Code(.closed)
        /// A caller passed an offset or size that the log cannot accept.
        public static let invalidArgument = Code(.invalidArgument)
        /// A batch is larger than the segment can hold.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// A read asked for an offset below the log start or above the log end (`OFFSET_OUT_OF_RANGE`).
        public static let offsetOutOfRange = Code(.offsetOutOfRange)
        public var description: String { "\(self.base)" }
    }

    public var code: Code
    public var message: String
    /// The `errno`, for I/O errors.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { "\(self.code): \(self.message)" }
}
