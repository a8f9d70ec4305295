import Foundation

/// Everything that can go wrong while reading a GGUF header or asking it for a value.
/// Every case names the file, so that a message read in a log says which checkpoint was at fault.
public enum GGUFError: Error, Equatable, Sendable {
    /// The file could not be opened or mapped (missing, a directory, no permission).
    case cannotOpen(file: String, reason: String)
    /// The first four bytes are not "GGUF".
    case badMagic(file: String, found: [UInt8])
    /// A GGUF version this reader does not understand (it reads versions 2 and 3).
    case unsupportedVersion(file: String, version: UInt32)
    /// The file (of `fileSize` bytes) ends before the `needed` bytes of `reading` at `offset`.
    case truncated(file: String, offset: Int, needed: Int, fileSize: Int, reading: String)
    /// The bytes are there but make no sense (unknown value type, duplicate key, bad tensor entry...).
    case corrupt(file: String, offset: Int, reason: String)
    /// A typed accessor was asked for a key the file does not have.
    case missingKey(file: String, key: String)
    /// A typed accessor found the key with a value of another type, or one out of range.
    case typeMismatch(file: String, key: String, expected: String, found: String)
}

extension GGUFError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open GGUF file: \(reason)"
        case let .badMagic(file, found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(file): not a GGUF file (bad magic: expected 47 47 55 46 \"GGUF\", found \(hex.isEmpty ? "nothing" : hex))"
        case let .unsupportedVersion(file, version):
            // A big-endian file shows its small version number in the high bytes.
            let hint = version != 0 && version & 0xFFFF == 0 ? "; this looks like a big-endian GGUF, which is not supported" : ""
            return "\(file): unsupported GGUF version \(version) (supported: 2, 3\(hint))"
        case let .truncated(file, offset, needed, fileSize, reading):
            return "\(file): truncated at offset \(offset): \(reading) needs \(needed) bytes but the file ends at \(fileSize)"
        case let .corrupt(file, offset, reason):
            return "\(file): corrupt GGUF at offset \(offset): \(reason)"
        case let .missingKey(file, key):
            return "\(file): metadata key '\(key)' not found"
        case let .typeMismatch(file, key, expected, found):
            return "\(file): metadata key '\(key)' is \(found), expected \(expected)"
        }
    }

    public var errorDescription: String? { description }
}
