/// A token of template source. Positions are 1-based line and column (in Unicode scalars).
struct Token {
    enum Kind: Equatable {
        case data, variableBegin, variableEnd, blockBegin, blockEnd
        case name, string, integer, float, op, eof
    }
    var kind: Kind
    var text: String = ""
    var int: Int = 0
    var double: Double = 0
    var line: Int
    var column: Int
}

/// Splits template source into tokens the way jinja2's `Lexer.tokeniter` does, including its
/// whitespace rules: `-` strips all whitespace on that side of a tag, `+` keeps it, `trim_blocks`
/// drops the first newline after a block or comment tag, and `lstrip_blocks` drops the spaces and
/// tabs between the start of a line and a block or comment tag.
struct Lexer {
    private let src: [Unicode.Scalar]
    private let trimBlocks: Bool
    private let lstripBlocks: Bool
    private var lineStarts: [Int] = [0]
    private var tokens: [Token] = []

    init(_ source: String, trimBlocks: Bool, lstripBlocks: Bool, keepTrailingNewline: Bool) {
        // jinja2 normalizes \r\n and \r to \n and, unless keep_trailing_newline, drops one final newline.
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending = it.next()
        while let c = pending {
            pending = it.next()
            if c == "\r" {
                out.append("\n")
                if pending == "\n" { pending = it.next() }
            } else {
                out.append(c)
            }
        }
        if !keepTrailingNewline, out.last == "\n" { out.removeLast() }
        src = out
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
        for (i, c) in src.enumerated() where c == "\n" { lineStarts.append(i + 1) }
    }

    private func position(_ offset: Int) -> (line: Int, column: Int) {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return (lo + 1, offset - lineStarts[lo] + 1)
    }

    private func error(_ message: String, at offset: Int) -> TemplateError {
        let p = position(offset)
        return TemplateError(.syntax, message, line: p.line, column: p.column)
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < src.count ? src[i] : nil }

    private func starts(_ s: String, at i: Int) -> Bool {
        var j = i
        for c in s.unicodeScalars {
            guard j < src.count, src[j] == c else { return false }
            j += 1
        }
        return true
    }

    private func skipSpace(from i: Int) -> Int {
        var j = i
        while j < src.count, isPySpace(src[j]) { j += 1 }
        return j
    }

    private mutating func emit(_ kind: Token.Kind, at offset: Int, text: String = "") {
        let p = position(offset)
        tokens.append(Token(kind: kind, text: text, line: p.line, column: p.column))
    }

    mutating func tokenize() throws -> [Token] {
        var pos = 0
        var lineStarting = true
        while pos < src.count {
            // Find the next "{{", "{%" or "{#".
            var p = pos
            var tag: Unicode.Scalar? = nil
            while p + 1 < src.count {
                if src[p] == "{", src[p + 1] == "{" || src[p + 1] == "%" || src[p + 1] == "#" {
                    tag = src[p + 1]
                    break
                }
                p += 1
            }
            guard let tag else {
                emitData(pos, src.count)
                break
            }
            let raw = tag == "%" ? rawBegin(at: p) : nil
            let sign: Unicode.Scalar? = at(p + 2).flatMap { $0 == "-" || $0 == "+" ? $0 : nil }
            let textEnd = strippedTextEnd(from: pos, to: p, sign: sign, isVariable: tag == "{",
                                          lineStarting: lineStarting)
            emitData(pos, textEnd)
            if let raw {
                pos = try lexRaw(bodyStart: raw)
                lineStarting = src[pos - 1] == "\n"
                continue
            }
            let inner = p + 2 + (sign == nil ? 0 : 1)
            switch tag {
            case "#":
                pos = try lexComment(from: inner, tagStart: p)
            case "%":
                emit(.blockBegin, at: p)
                pos = try lexTag(from: inner, isBlock: true, tagStart: p)
            default:
                emit(.variableBegin, at: p)
                pos = try lexTag(from: inner, isBlock: false, tagStart: p)
            }
            lineStarting = src[pos - 1] == "\n"
        }
        emit(.eof, at: src.count)
        return tokens
    }

    private mutating func emitData(_ from: Int, _ to: Int) {
        guard to > from else { return }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[from..<to])
        emit(.data, at: from, text: String(s))
    }

    /// Where the literal text before a tag ends once whitespace control has been applied.
    private func strippedTextEnd(from: Int, to: Int, sign: Unicode.Scalar?, isVariable: Bool,
                                 lineStarting: Bool) -> Int {
        if sign == "-" {
            var e = to
            while e > from, isPySpace(src[e - 1]) { e -= 1 }
            return e
        }
        guard sign != "+", lstripBlocks, !isVariable else { return to }
        var lpos = to
        while lpos > from, src[lpos - 1] != "\n" { lpos -= 1 }
        guard lpos > from || lineStarting, lpos < to else { return to }
        for i in lpos..<to where !isPySpace(src[i]) { return to }
        return lpos
    }

    /// `{%[-+]? raw [-]%}`: returns the offset just past it, or nil when this block is not `raw`.
    private func rawBegin(at p: Int) -> Int? {
        var i = p + 2
        if let c = at(i), c == "-" || c == "+" { i += 1 }
        i = skipSpace(from: i)
        guard starts("raw", at: i) else { return nil }
        i = skipSpace(from: i + 3)
        if starts("-%}", at: i) { return skipSpace(from: i + 3) }
        if starts("%}", at: i) { return i + 2 }
        return nil
    }

    private mutating func lexRaw(bodyStart: Int) throws -> Int {
        var q = bodyStart
        while q < src.count {
            if starts("{%", at: q) {
                var i = q + 2
                var sign: Unicode.Scalar? = nil
                if let c = at(i), c == "-" || c == "+" { sign = c; i += 1 }
                i = skipSpace(from: i)
                if starts("endraw", at: i) {
                    i = skipSpace(from: i + 6)
                    if let end = blockEnd(at: i) {
                        let textEnd = strippedTextEnd(from: bodyStart, to: q, sign: sign, isVariable: false,
                                                      lineStarting: src[bodyStart - 1] == "\n")
                        emitData(bodyStart, textEnd)
                        return end
                    }
                }
            }
            q += 1
        }
        throw error("Missing end of raw directive", at: bodyStart)
    }

    /// Matches `+%}`, `-%}\s*` or `%}\n?` (the newline only with trim_blocks).
    private func blockEnd(at i: Int) -> Int? {
        if starts("+%}", at: i) { return i + 3 }
        if starts("-%}", at: i) { return skipSpace(from: i + 3) }
        if starts("%}", at: i) { return trimBlocks && at(i + 2) == "\n" ? i + 3 : i + 2 }
        return nil
    }

    private func lexComment(from start: Int, tagStart: Int) throws -> Int {
        var q = start
        while q < src.count {
            if starts("+#}", at: q) { return q + 3 }
            if starts("-#}", at: q) { return skipSpace(from: q + 3) }
            if starts("#}", at: q) { return trimBlocks && at(q + 2) == "\n" ? q + 3 : q + 2 }
            q += 1
        }
        throw error("Missing end of comment tag", at: tagStart)
    }

    private mutating func lexTag(from start: Int, isBlock: Bool, tagStart: Int) throws -> Int {
        var i = start
        var balance: [Unicode.Scalar] = []
        while true {
            // Like jinja2, stop at the end of input and let the parser report what it expected.
            guard i < src.count else { return i }
            if balance.isEmpty {
                if isBlock, let end = blockEnd(at: i) {
                    emit(.blockEnd, at: i)
                    return end
                }
                if !isBlock {
                    if starts("-}}", at: i) { emit(.variableEnd, at: i); return skipSpace(from: i + 3) }
                    if starts("}}", at: i) { emit(.variableEnd, at: i); return i + 2 }
                }
            }
            let c = src[i]
            if isPySpace(c) { i = skipSpace(from: i); continue }
            if let end = matchFloat(at: i) {
                let text = scalarsString(i, end).replacingOccurrences(of: "_", with: "")
                guard let d = Double(text) else { throw error("invalid float literal '\(text)'", at: i) }
                var t = token(.float, at: i, text: text)
                t.double = d
                tokens.append(t)
                i = end
                continue
            }
            if let (end, value) = try matchInteger(at: i) {
                var t = token(.integer, at: i, text: scalarsString(i, end))
                t.int = value
                tokens.append(t)
                i = end
                continue
            }
            if isIdentStart(c) {
                var e = i + 1
                while e < src.count, isIdentContinue(src[e]) { e += 1 }
                tokens.append(token(.name, at: i, text: scalarsString(i, e)))
                i = e
                continue
            }
            if c == "'" || c == "\"" {
                var e = i + 1
                while e < src.count, src[e] != c {
                    e += src[e] == "\\" ? 2 : 1
                }
                guard e < src.count else { throw error("unexpected char \(pyRepr(String(c))) at \(i)", at: i) }
                let body = Array(src[(i + 1)..<e])
                do {
                    tokens.append(token(.string, at: i, text: try decodeStringLiteral(body)))
                } catch let message as LiteralError {
                    throw error(message.text, at: i)
                }
                i = e + 1
                continue
            }
            if let op = matchOperator(at: i) {
                if op == "{" || op == "(" || op == "[" {
                    balance.append(op == "{" ? "}" : op == "(" ? ")" : "]")
                } else if op == "}" || op == ")" || op == "]" {
                    guard let expected = balance.popLast() else { throw error("unexpected '\(op)'", at: i) }
                    if String(expected) != op { throw error("unexpected '\(op)', expected '\(expected)'", at: i) }
                }
                tokens.append(token(.op, at: i, text: op))
                i += op.unicodeScalars.count
                continue
            }
            throw error("unexpected char \(pyRepr(String(c))) at \(i)", at: i)
        }
    }

    private func token(_ kind: Token.Kind, at offset: Int, text: String) -> Token {
        let p = position(offset)
        return Token(kind: kind, text: text, line: p.line, column: p.column)
    }

    private func scalarsString(_ a: Int, _ b: Int) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[a..<b])
        return String(s)
    }

    private func isDigit(_ i: Int) -> Bool {
        guard let c = at(i) else { return false }
        return c.value >= 48 && c.value <= 57
    }

    /// `(\d+_)*\d+` starting at i; returns the end offset.
    private func digitRun(at i: Int) -> Int? {
        guard isDigit(i) else { return nil }
        var e = i
        while isDigit(e) { e += 1 }
        while at(e) == "_", isDigit(e + 1) {
            e += 1
            while isDigit(e) { e += 1 }
        }
        return e
    }

    /// jinja2's float_re: digits with a fractional part and/or an exponent, not preceded by '.'.
    private func matchFloat(at i: Int) -> Int? {
        if i > 0, src[i - 1] == "." { return nil }
        guard let intEnd = digitRun(at: i) else { return nil }
        var e = intEnd
        var hasFraction = false
        if at(e) == ".", let f = digitRun(at: e + 1) {
            e = f
            hasFraction = true
        }
        if let c = at(e), c == "e" || c == "E" {
            var x = e + 1
            if let s = at(x), s == "+" || s == "-" { x += 1 }
            if let xe = digitRun(at: x) { return xe }
        }
        return hasFraction ? e : nil
    }

    /// jinja2's integer_re: 0b/0o/0x literals, decimal, or zeros; underscores allowed between digits.
    private func matchInteger(at i: Int) throws -> (Int, Int)? {
        guard isDigit(i) else { return nil }
        func run(_ start: Int, _ ok: (Unicode.Scalar) -> Bool) -> Int {
            var e = start
            while true {
                if let c = at(e), ok(c) { e += 1; continue }
                if at(e) == "_", let c = at(e + 1), ok(c) { e += 2; continue }
                return e
            }
        }
        let body: String
        let radix: Int
        let end: Int
        if src[i] == "0", let p = at(i + 1) {
            let prefixes: [(Unicode.Scalar, Int, (Unicode.Scalar) -> Bool)] = [
                ("b", 2, { $0 == "0" || $0 == "1" }),
                ("o", 8, { $0.value >= 48 && $0.value <= 55 }),
                ("x", 16, { $0.properties.isASCIIHexDigit }),
            ]
            for (letter, r, ok) in prefixes where p == letter || p.properties.lowercaseMapping == String(letter) {
                let e = run(i + 2, ok)
                if e > i + 2 {
                    return try finishInteger(scalarsString(i + 2, e), radix: r, at: i, end: e)
                }
            }
        }
        if src[i] == "0" {
            end = run(i + 1) { $0 == "0" }
            body = "0"
            radix = 10
        } else {
            end = run(i + 1) { $0.value >= 48 && $0.value <= 57 }
            body = scalarsString(i, end)
            radix = 10
        }
        return try finishInteger(body, radix: radix, at: i, end: end)
    }

    private func finishInteger(_ text: String, radix: Int, at i: Int, end: Int) throws -> (Int, Int) {
        guard let v = Int(text.replacingOccurrences(of: "_", with: ""), radix: radix) else {
            throw error("integer literal too large", at: i)
        }
        return (end, v)
    }

    private static let operators: [String] = [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private func matchOperator(at i: Int) -> String? {
        Lexer.operators.first { starts($0, at: i) }
    }
}

/// Python's `str.isspace` (what `\s` and `str.strip()` use).
func isPySpace(_ c: Unicode.Scalar) -> Bool {
    if c.value < 128 { return c == " " || (c.value >= 9 && c.value <= 13) || (c.value >= 0x1c && c.value <= 0x1f) }
    return c.properties.isWhitespace
}

private func isIdentStart(_ c: Unicode.Scalar) -> Bool {
    if c.value < 128 { return c == "_" || (c.value >= 65 && c.value <= 90) || (c.value >= 97 && c.value <= 122) }
    return c.properties.isXIDStart
}

private func isIdentContinue(_ c: Unicode.Scalar) -> Bool {
    if c.value < 128 { return isIdentStart(c) || (c.value >= 48 && c.value <= 57) }
    return c.properties.isXIDContinue
}

struct LiteralError: Error { let text: String }

/// Decodes a string literal body exactly like jinja2: `body.encode("ascii", "backslashreplace")
/// .decode("unicode-escape")`. Non-ASCII characters are first turned into `\x..`/`\u....`
/// escapes, which is why a backslash right before a non-ASCII character behaves as in Python.
func decodeStringLiteral(_ body: [Unicode.Scalar]) throws -> String {
    var ascii: [UInt8] = []
    ascii.reserveCapacity(body.count)
    for c in body {
        if c.value < 128 {
            ascii.append(UInt8(c.value))
        } else {
            let (prefix, width) = c.value < 0x100 ? ("x", 2) : c.value < 0x10000 ? ("u", 4) : ("U", 8)
            let hex = String(c.value, radix: 16)
            let esc = "\\" + prefix + String(repeating: "0", count: width - hex.count) + hex
            ascii.append(contentsOf: Array(esc.utf8))
        }
    }
    var out = String.UnicodeScalarView()
    var i = 0
    func hexValue(_ from: Int, _ n: Int, _ what: String) throws -> UInt32 {
        guard from + n <= ascii.count else { throw LiteralError(text: "truncated \(what) escape") }
        var v: UInt32 = 0
        for k in from..<(from + n) {
            guard let d = Int(String(UnicodeScalar(ascii[k])), radix: 16) else {
                throw LiteralError(text: "truncated \(what) escape")
            }
            v = v * 16 + UInt32(d)
        }
        return v
    }
    while i < ascii.count {
        let b = ascii[i]
        guard b == UInt8(ascii: "\\") else {
            out.append(UnicodeScalar(b))
            i += 1
            continue
        }
        guard i + 1 < ascii.count else { throw LiteralError(text: "\\ at end of string") }
        let e = ascii[i + 1]
        i += 2
        switch e {
        case UInt8(ascii: "\n"): break
        case UInt8(ascii: "\\"): out.append("\\")
        case UInt8(ascii: "'"): out.append("'")
        case UInt8(ascii: "\""): out.append("\"")
        case UInt8(ascii: "a"): out.append("\u{07}")
        case UInt8(ascii: "b"): out.append("\u{08}")
        case UInt8(ascii: "f"): out.append("\u{0C}")
        case UInt8(ascii: "n"): out.append("\n")
        case UInt8(ascii: "r"): out.append("\r")
        case UInt8(ascii: "t"): out.append("\t")
        case UInt8(ascii: "v"): out.append("\u{0B}")
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v = UInt32(e - 48)
            var n = 1
            while n < 3, i < ascii.count, ascii[i] >= 48, ascii[i] <= 55 {
                v = v * 8 + UInt32(ascii[i] - 48)
                i += 1
                n += 1
            }
            out.append(UnicodeScalar(v)!)
        case UInt8(ascii: "x"):
            let v = try hexValue(i, 2, "\\xXX")
            out.append(UnicodeScalar(v)!)
            i += 2
        case UInt8(ascii: "u"):
            let v = try hexValue(i, 4, "\\uXXXX")
            guard let s = UnicodeScalar(v) else { throw LiteralError(text: "surrogate code points are not supported") }
            out.append(s)
            i += 4
        case UInt8(ascii: "U"):
            let v = try hexValue(i, 8, "\\UXXXXXXXX")
            guard let s = UnicodeScalar(v) else { throw LiteralError(text: "illegal Unicode character") }
            out.append(s)
            i += 8
        case UInt8(ascii: "N"):
            guard i < ascii.count, ascii[i] == UInt8(ascii: "{"),
                  let close = ascii[i...].firstIndex(of: UInt8(ascii: "}")), close > i + 1 else {
                throw LiteralError(text: "malformed \\N character escape")
            }
            let name = String(decoding: ascii[(i + 1)..<close], as: UTF8.self).uppercased()
            guard let scalar = unicodeNames[name] else { throw LiteralError(text: "unknown Unicode character name") }
            out.append(scalar)
            i = close + 1
        default:
            // Unknown escapes stay as written (Python keeps the backslash).
            out.append("\\")
            out.append(UnicodeScalar(e))
        }
    }
    return String(out)
}

/// Unicode character names for `\N{...}` escapes, built on first use (Swift offers only the
/// scalar-to-name direction; building the reverse map takes a fraction of a second).
private let unicodeNames: [String: Unicode.Scalar] = {
    var table: [String: Unicode.Scalar] = [:]
    for v in UInt32(0)...0x10FFFF {
        guard let s = Unicode.Scalar(v) else { continue }
        if let n = s.properties.name { table[n] = s }
        if let a = s.properties.nameAlias { table[a] = s }
    }
    return table
}()
