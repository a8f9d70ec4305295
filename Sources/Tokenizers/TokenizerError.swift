import Foundation

/// Errors raised while loading a tokenizer. Each names the source (file path) and the field at fault.
public enum TokenizerError: Error, Equatable, Sendable {
    /// A required field is absent.
    case missingField(source: String, field: String)
    /// A field is present but holds something unusable (wrong type, out-of-range id, bad merge...).
    case invalidField(source: String, field: String, reason: String)
    /// The source asks for a model, pre-tokenizer, normalizer or decoder this library does not implement.
    case unsupported(source: String, field: String, value: String)
    /// The file cannot be read or parsed at all.
    case unreadable(source: String, reason: String)
}

extension TokenizerError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case let .missingField(source, field):
            return "\(source): missing field '\(field)'"
        case let .invalidField(source, field, reason):
            return "\(source): invalid '\(field)': \(reason)"
        case let .unsupported(source, field, value):
            return "\(source): unsupported \(field) '\(value)'"
        case let .unreadable(source, reason):
            return "\(source): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
