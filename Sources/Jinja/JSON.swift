import Foundation

/// A small JSON parser that keeps object key order and tells integers from floats, like Python's
/// `json.loads` (JSONSerialization does neither). Accepts Python's NaN/Infinity extensions.
struct JSONReader {
    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    static func parse(_ bytes: [UInt8]) throws -> Value {
        var r = JSONReader(b: bytes)
        r.skipSpace()
        let v = try r.value()
        r.skipSpace()
        guard r.i == r.b.count else { throw r.error("extra data") }
        return v
    }

    private init(b: [UInt8]) { self.b = b }

    /// The message keeps the byte offset ("invalid JSON at byte N: why"); line and column (in
    /// characters) are set too.
    private func error(_ msg: String) -> TemplateError {
        let upTo = b[..<min(i, b.count)]
        let lineStart = (upTo.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        let line = upTo.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let column = String(decoding: b[lineStart..<min(i, b.count)], as: UTF8.self).count + 1
        return TemplateError(.runtime, "invalid JSON at byte \(i): \(msg)", line: line, column: column)
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 }
    }

    private mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { return false }
        i += w.count
        return true
    }

    private mutating func value() throws -> Value {
        guard i < b.count else { throw error("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw error("nesting too deep") }
            i += 1
            var obj = OrderedMap<Value>()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipSpace()
                obj[key] = try value()
                skipSpace()
                guard i < b.count else { throw error("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw error("nesting too deep") }
            i += 1
            var arr: [Value] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
            while true {
                skipSpace()
                arr.append(try value())
                skipSpace()
                guard i < b.count else { throw error("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            if literal("true") { return .bool(true) }
        case UInt8(ascii: "f"):
            if literal("false") { return .bool(false) }
        case UInt8(ascii: "n"):
            if literal("null") { return .none }
        case UInt8(ascii: "N"):
            if literal("NaN") { return .double(.nan) }
        case UInt8(ascii: "I"):
            if literal("Infinity") { return .double(.infinity) }
        default:
            if literal("-Infinity") { return .double(-.infinity) }
            return try number()
        }
        throw error("unexpected character")
    }

    private mutating func number() throws -> Value {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i - s
        }
        let intStart = i
        guard digits() > 0 else { throw error("expected a value") }
        if b[intStart] == 0x30, i - intStart > 1 { throw error("leading zero") }
        var isFloat = false
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw error("expected digits after '.'") }
            isFloat = true
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw error("expected exponent digits") }
            isFloat = true
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if !isFloat, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw error("bad number") }
        return .double(d)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        i += 4
        return v
    }

    private mutating func string() throws -> String {
        i += 1
        var out = [UInt8]()
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < b.count else { throw error("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if v >= 0xD800, v < 0xDC00, i + 6 <= b.count, b[i] == 0x5c, b[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let lo = try hex4()
                    if lo >= 0xDC00, lo < 0xE000 {
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        i = save
                    }
                }
                // A lone surrogate cannot live in a Swift string; use U+FFFD as Python's encoders do.
                let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw error("invalid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Serializes runtime values exactly like Python's `json.dumps` with transformers' defaults
/// (`ensure_ascii=False`): ", " and ": " separators (or "," and ": " with an indent), floats as
/// `repr` prints them, NaN/Infinity as Python writes them.
struct JSONWriter {
    var indent: String? = nil
    var sortKeys = false
    var ensureASCII = false
    var itemSeparator: String
    var keySeparator: String

    init(indent: String?, sortKeys: Bool = false, ensureASCII: Bool = false, separators: (String, String)? = nil) {
        self.indent = indent
        self.sortKeys = sortKeys
        self.ensureASCII = ensureASCII
        self.itemSeparator = separators?.0 ?? (indent == nil ? ", " : ",")
        self.keySeparator = separators?.1 ?? ": "
    }

    func write(_ v: Obj) throws -> String {
        var out = ""
        try write(v, level: 0, into: &out)
        return out
    }

    private func write(_ v: Obj, level: Int, into out: inout String) throws {
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += pyFloatRepr(d) }
        case .string(let s): writeString(s, into: &out)
        case .list(let items), .tuple(let items):
            try writeArray(items, level: level, into: &out)
        case .dict(let d):
            var pairs = Array(zip(d.keys, d.values))
            if sortKeys {
                pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) { $0.value < $1.value } }
            }
            if pairs.isEmpty { out += "{}"; return }
            out += "{"
            let inner = newline(level + 1)
            out += inner
            for (n, (k, value)) in pairs.enumerated() {
                if n > 0 { out += itemSeparator + inner }
                writeString(k, into: &out)
                out += keySeparator
                try write(value, level: level + 1, into: &out)
            }
            out += newline(level)
            out += "}"
        default:
            throw TemplateError(.type, "Object of type \(v.typeName) is not JSON serializable")
        }
    }

    private func writeArray(_ items: [Obj], level: Int, into out: inout String) throws {
        if items.isEmpty { out += "[]"; return }
        out += "["
        let inner = newline(level + 1)
        out += inner
        for (n, item) in items.enumerated() {
            if n > 0 { out += itemSeparator + inner }
            try write(item, level: level + 1, into: &out)
        }
        out += newline(level)
        out += "]"
    }

    private func newline(_ level: Int) -> String {
        guard let indent else { return "" }
        return "\n" + String(repeating: indent, count: level)
    }

    private func writeString(_ s: String, into out: inout String) {
        out += "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 {
                    out += hexEscape(c.value)
                } else if ensureASCII && c.value > 0x7e {
                    if c.value >= 0x10000 {
                        let v = c.value - 0x10000
                        out += hexEscape(0xD800 + (v >> 10)) + hexEscape(0xDC00 + (v & 0x3FF))
                    } else {
                        out += hexEscape(c.value)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
    }

    private func hexEscape(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - h.count) + h
    }
}
