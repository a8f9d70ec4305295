import Foundation

/// A value inside a parsed JSON document that knows its path ("model.vocab") and file, so that
/// every loader error names both.
struct JSONField {
    let value: Any?
    let path: String
    let source: String

    init(_ value: Any?, path: String, source: String) {
        self.value = value
        self.path = path
        self.source = source
    }

    static func parse(_ data: Data, source: String) throws -> JSONField {
        do {
            return JSONField(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]), path: "", source: source)
        } catch {
            // Foundation's message is generic; its debug description says what and where.
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            throw TokenizerError.unreadable(source: source, reason: "not valid JSON (\(detail))")
        }
    }

    subscript(key: String) -> JSONField {
        let child = path.isEmpty ? key : "\(path).\(key)"
        return JSONField((value as? [String: Any])?[key], path: child, source: source)
    }

    /// Absent and JSON null both count as missing.
    var isNull: Bool { value == nil || value is NSNull }

    func invalid(_ reason: String) -> TokenizerError {
        TokenizerError.invalidField(source: source, field: path, reason: reason)
    }

    func missing() -> TokenizerError { TokenizerError.missingField(source: source, field: path) }

    func string() throws -> String {
        guard let s = try optionalString() else { throw missing() }
        return s
    }

    func optionalString() throws -> String? {
        if isNull { return nil }
        guard let s = value as? String else { throw invalid("expected a string") }
        return s
    }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        guard let b = value as? Bool else { throw invalid("expected true or false") }
        return b
    }

    func optionalBool() throws -> Bool? {
        isNull ? nil : try bool(default: false)
    }

    func int() throws -> Int {
        guard let i = try optionalInt() else { throw missing() }
        return i
    }

    func optionalInt() throws -> Int? {
        if isNull { return nil }
        if let i = value as? Int { return i }
        if let d = value as? Double, let i = Int(exactly: d) { return i }
        throw invalid("expected an integer")
    }

    func object() throws -> [String: Any] {
        if isNull { throw missing() }
        guard let o = value as? [String: Any] else { throw invalid("expected an object") }
        return o
    }

    func array() throws -> [JSONField] {
        if isNull { throw missing() }
        guard let a = value as? [Any] else { throw invalid("expected an array") }
        return a.enumerated().map { JSONField($1, path: "\(path)[\($0)]", source: source) }
    }

    /// The content of a token given either as a string or as an AddedToken object {"content": ...}.
    func tokenContent() throws -> String? {
        if isNull { return nil }
        if let s = value as? String { return s }
        if value is [String: Any] { return try self["content"].string() }
        throw invalid("expected a token string or an object with 'content'")
    }
}
