/// An error from compressing or decompressing a record batch.
///
/// Switch on ``code``; ``message`` is for humans and may change between releases.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure: an open set of static codes, so new ones can be added without breaking the API.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable {
            case corrupt
            case outputTooLarge
            case unsupported
            case invalidConfiguration
            case libraryFailure
        }

        let base: Base

        init(_ base: Base) { self.base = base }

        /// The input is malformed or truncated: it is not a valid stream of this format.
        public static let corrupt = Self(.corrupt)
        /// The decompressed output would exceed the caller's `maxSize`.
        public static let outputTooLarge = Self(.outputTooLarge)
        /// The input is well formed but needs something this codec refuses (a preset dictionary, an unknown codec).
        public static let unsupported = Self(.unsupported)
        /// The codec was configured with a value its library rejects, such as an out-of-range compression level.
        public static let invalidConfiguration = Self(.invalidConfiguration)
        /// The C library failed for a reason unrelated to the input, such as failing to allocate its state.
        public static let libraryFailure = Self(.libraryFailure)

        /// The code's name, such as `outputTooLarge`.
        public var description: String {
            switch self.base {
            case .corrupt: "corrupt"
            case .outputTooLarge: "outputTooLarge"
            case .unsupported: "unsupported"
            case .invalidConfiguration: "invalidConfiguration"
            case .libraryFailure: "libraryFailure"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, naming the codec and, where there is one, the library's own message.
    public var message: String

    /// Creates an error with a code and a message.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(self.code): \(self.message)" }

    static func corrupt(_ message: String) -> Self { Self(code: .corrupt, message: message) }
    static func unsupported(_ message: String) -> Self { Self(code: .unsupported, message: message) }
    static func invalidConfiguration(_ message: String) -> Self { Self(code: .invalidConfiguration, message: message) }
    static func libraryFailure(_ message: String) -> Self { Self(code: .libraryFailure, message: message) }
    static func outputTooLarge(codec: String, maxSize: Int) -> Self {
        Self(code: .outputTooLarge, message: "\(codec): decompressed size exceeds the limit of \(maxSize) bytes")
    }
}
