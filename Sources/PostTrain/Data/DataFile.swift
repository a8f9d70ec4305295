import Foundation
import Jinja

/// A data row with where it came from, for error messages.
public struct DataRow: Sendable {
    public var value: Value
    public var file: String
    /// 1-based line for JSONL, 1-based element index for a JSON array.
    public var line: Int
    public var location: String { "\(file):\(line)" }
}

/// A problem with one row: named by file, line and field.
public struct DataError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var field: String?
    public var message: String

    public init(file: String, line: Int? = nil, field: String? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" }
        if let field { where_ += " field \"\(field)\"" }
        return "\(where_): \(message)"
    }
}

/// What to do with a malformed row.
public enum BadRowPolicy: String, Codable, Sendable {
    /// Stop before training, listing the first problems.
    case fail
    /// Skip the row, report how many were skipped and why, and train on the rest.
    case skip
}

/// Reads `.jsonl` (one object per line) and `.json` (an array of objects, or an object with a
/// "data"/"train" array) files, keeping key order (templates render keys in file order).
public enum DataFile {
    public static func read(_ path: String, policy: BadRowPolicy, problems: inout [DataError]) throws -> [DataRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read the file (does it exist?)")
        }
        let isJSONL = path.hasSuffix(".jsonl") || (!path.hasSuffix(".json") && looksLikeJSONL(data))
        if isJSONL {
            var rows: [DataRow] = []
            var lineNo = 0
            for lineSub in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNo += 1
                let line = Data(lineSub)
                if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
                do {
                    let v = try Value(jsonData: line)
                    guard case .object = v else { throw DataError(file: path, line: lineNo, "expected a JSON object, got \(kind(v))") }
                    rows.append(DataRow(value: v, file: path, line: lineNo))
                } catch let e as DataError {
                    try handle(e, policy, &problems)
                } catch {
                    try handle(DataError(file: path, line: lineNo, "invalid JSON: \(error)"), policy, &problems)
                }
            }
            return rows
        }
        let root: Value
        do { root = try Value(jsonData: data) } catch { throw DataError(file: path, "invalid JSON: \(error)") }
        var items: [Value]
        switch root {
        case .array(let a): items = a
        case .object:
            if case .array(let a)? = root["data"] ?? root["train"] { items = a } else { items = [root] }
        default: throw DataError(file: path, "expected an array of objects")
        }
        var rows: [DataRow] = []
        for (i, v) in items.enumerated() {
            guard case .object = v else {
                try handle(DataError(file: path, line: i + 1, "element \(i + 1) is \(kind(v)), not an object"), policy, &problems)
                continue
            }
            rows.append(DataRow(value: v, file: path, line: i + 1))
        }
        return rows
    }

    static func handle(_ e: DataError, _ policy: BadRowPolicy, _ problems: inout [DataError]) throws {
        problems.append(e)
        if policy == .fail { throw e }
    }

    static func looksLikeJSONL(_ data: Data) -> Bool {
        guard let first = data.first(where: { $0 != 32 && $0 != 10 && $0 != 13 && $0 != 9 }) else { return false }
        return first == UInt8(ascii: "{")
    }

    static func kind(_ v: Value) -> String {
        switch v {
        case .none: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
