import Foundation

// Python's str() and repr() of runtime values, so that `{{ value }}` prints what jinja2 prints.

/// `str(x)`: what `{{ x }}` outputs.
func pyStr(_ v: Obj) -> String {
    switch v {
    case .undefined: return ""
    case .string(let s): return s
    default: return pyRepr(v)
    }
}

/// `repr(x)`.
func pyRepr(_ v: Obj) -> String {
    switch v {
    case .undefined: return "Undefined"
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .double(let d): return pyFloatRepr(d)
    case .string(let s): return pyRepr(s)
    case .list(let items): return "[" + items.map(pyRepr).joined(separator: ", ") + "]"
    case .tuple(let items):
        return items.count == 1 ? "(" + pyRepr(items[0]) + ",)" : "(" + items.map(pyRepr).joined(separator: ", ") + ")"
    case .dict(let d): return dictRepr(d)
    case .seq(let kind, let items):
        switch kind {
        case .dictKeys, .dictValues, .dictItems:
            return kind.typeName + "([" + items.map(pyRepr).joined(separator: ", ") + "])"
        case .range(let a, let b, let s): return s == 1 ? "range(\(a), \(b))" : "range(\(a), \(b), \(s))"
        case .generator: return "<generator object>"
        case .reverseIterator: return "<list_reverseiterator object>"
        }
    case .namespace(let ns): return "<Namespace " + dictRepr(ns.attrs) + ">"
    case .callable(let c): return c.kind == .macro ? "<Macro '\(c.name)'>" : "<built-in function \(c.name)>"
    case .loop(let l): return "<LoopContext \(l.index0 + 1)/\(l.length)>"
    }
}

private func dictRepr(_ d: OrderedMap<Obj>) -> String {
    "{" + zip(d.keys, d.values).map { pyRepr($0.0) + ": " + pyRepr($0.1) }.joined(separator: ", ") + "}"
}

/// Python's string repr: single quotes unless the text has a single quote and no double quote;
/// escapes for backslash, the quote, \t \n \r, and non-printable characters.
func pyRepr(_ s: String) -> String {
    let hasSingle = s.unicodeScalars.contains("'")
    let hasDouble = s.unicodeScalars.contains("\"")
    let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
    var out = String.UnicodeScalarView()
    out.append(quote)
    for c in s.unicodeScalars {
        switch c {
        case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
        case "\t": out.append(contentsOf: "\\t".unicodeScalars)
        case "\n": out.append(contentsOf: "\\n".unicodeScalars)
        case "\r": out.append(contentsOf: "\\r".unicodeScalars)
        case quote: out.append("\\"); out.append(c)
        default:
            if isPyPrintable(c) {
                out.append(c)
            } else {
                let hex = String(c.value, radix: 16)
                let (p, w) = c.value < 0x100 ? ("\\x", 2) : c.value < 0x10000 ? ("\\u", 4) : ("\\U", 8)
                out.append(contentsOf: (p + String(repeating: "0", count: w - hex.count) + hex).unicodeScalars)
            }
        }
    }
    out.append(quote)
    return String(out)
}

/// Python's `str.isprintable` for one character: not a control, format, surrogate, private-use,
/// unassigned or separator character, except the plain space.
private func isPyPrintable(_ c: Unicode.Scalar) -> Bool {
    if c == " " { return true }
    if c.value < 0x7f { return c.value >= 0x20 }
    switch c.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
         .spaceSeparator:
        return false
    default:
        return true
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in [-4, 16), otherwise in exponent notation ("1e-05", "1e+16").
func pyFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    let (negative, digits, exponent) = shortestDigits(d)
    // value = 0.d1d2...dn * 10^exponent
    let n = digits.count
    var body: String
    if exponent > -4 && exponent <= 16 {
        if exponent <= 0 {
            body = "0." + String(repeating: "0", count: -exponent) + digits
        } else if exponent >= n {
            body = digits + String(repeating: "0", count: exponent - n) + ".0"
        } else {
            let i = digits.index(digits.startIndex, offsetBy: exponent)
            body = digits[..<i] + "." + digits[i...]
        }
    } else {
        let e = exponent - 1
        let mantissa = n == 1 ? digits : String(digits.prefix(1)) + "." + digits.dropFirst()
        let ae = abs(e)
        body = mantissa + "e" + (e < 0 ? "-" : "+") + (ae < 10 ? "0" : "") + String(ae)
    }
    return negative ? "-" + body : body
}

/// Shortest round-trip decimal digits of a finite nonzero double, from Swift's own shortest
/// formatting (which, like Python's repr, prints the shortest string that parses back exactly).
private func shortestDigits(_ d: Double) -> (Bool, String, Int) {
    var s = "\(d.magnitude)"
    var exp = 0
    if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exp = Int(s[s.index(after: e)...])!
        s = String(s[..<e])
    }
    var intPart = s
    var frac = ""
    if let dot = s.firstIndex(of: ".") {
        intPart = String(s[..<dot])
        frac = String(s[s.index(after: dot)...])
    }
    var digits = intPart + frac
    var point = intPart.count + exp
    while digits.hasPrefix("0") {
        digits.removeFirst()
        point -= 1
    }
    while digits.hasSuffix("0") { digits.removeLast() }
    return (d < 0, digits, point)
}

// MARK: - Python string helpers (indices and lengths count Unicode scalars, as Python does)

extension String {
    var scalars: [Unicode.Scalar] { Array(unicodeScalars) }

    init(scalars: some Sequence<Unicode.Scalar>) {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: scalars)
        self = String(v)
    }

    var pyLength: Int { unicodeScalars.count }

    /// Scalar-exact equality (Swift's `==` would also equate canonically equivalent strings).
    func pyEquals(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}

func pyStrip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
    let a = s.scalars
    let set: Set<UInt32>? = chars.map { Set($0.unicodeScalars.map(\.value)) }
    func strip(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c.value) } ?? isPySpace(c) }
    var lo = 0, hi = a.count
    if left { while lo < hi, strip(a[lo]) { lo += 1 } }
    if right { while hi > lo, strip(a[hi - 1]) { hi -= 1 } }
    return String(scalars: a[lo..<hi])
}

/// `str.split(sep=None, maxsplit=-1)`.
func pySplit(_ s: String, _ sep: String?, _ maxsplit: Int) throws -> [String] {
    let a = s.scalars
    guard let sep else {
        var out: [String] = []
        var i = 0
        var splits = 0
        while i < a.count {
            while i < a.count, isPySpace(a[i]) { i += 1 }
            if i == a.count { break }
            if maxsplit >= 0, splits == maxsplit {
                var end = a.count
                while end > i, isPySpace(a[end - 1]) { end -= 1 }
                out.append(String(scalars: a[i..<end]))
                return out
            }
            var j = i
            while j < a.count, !isPySpace(a[j]) { j += 1 }
            out.append(String(scalars: a[i..<j]))
            splits += 1
            i = j
        }
        return out
    }
    let p = sep.scalars
    guard !p.isEmpty else { throw TemplateError(.type, "empty separator") }
    var out: [String] = []
    var start = 0
    var i = 0
    while i + p.count <= a.count {
        if maxsplit >= 0, out.count == maxsplit { break }
        if a[i..<(i + p.count)].elementsEqual(p) {
            out.append(String(scalars: a[start..<i]))
            i += p.count
            start = i
        } else {
            i += 1
        }
    }
    out.append(String(scalars: a[start...]))
    return out
}

/// `str.rsplit(sep=None, maxsplit=-1)`.
func pyRSplit(_ s: String, _ sep: String?, _ maxsplit: Int) throws -> [String] {
    if maxsplit < 0 { return try pySplit(s, sep, maxsplit) }
    let reversedParts = try pySplit(String(scalars: s.scalars.reversed()),
                                    sep.map { String(scalars: $0.scalars.reversed()) }, maxsplit)
    return reversedParts.reversed().map { String(scalars: $0.scalars.reversed()) }
}

/// `str.find(sub, start, end)` on scalar offsets; -1 when absent.
func pyFind(_ s: [Unicode.Scalar], _ sub: [Unicode.Scalar], from: Int = 0, to: Int? = nil, reverse: Bool = false) -> Int {
    let end = min(to ?? s.count, s.count)
    let start = max(from, 0)
    guard end - start >= sub.count else { return -1 }
    let candidates = Array(start...(end - sub.count))
    for i in reverse ? candidates.reversed() : candidates where s[i..<(i + sub.count)].elementsEqual(sub) {
        return i
    }
    return -1
}

func pyCount(_ s: [Unicode.Scalar], _ sub: [Unicode.Scalar]) -> Int {
    if sub.isEmpty { return s.count + 1 }
    var n = 0, i = 0
    while i + sub.count <= s.count {
        if s[i..<(i + sub.count)].elementsEqual(sub) { n += 1; i += sub.count } else { i += 1 }
    }
    return n
}

func pyReplace(_ s: String, _ old: String, _ new: String, _ count: Int) -> String {
    let a = s.scalars, o = old.scalars, n = new.scalars
    var out: [Unicode.Scalar] = []
    var done = 0
    if o.isEmpty {
        // Python inserts `new` before every character and at the end.
        for c in a {
            if count < 0 || done < count { out += n; done += 1 }
            out.append(c)
        }
        if count < 0 || done < count { out += n }
        return String(scalars: out)
    }
    var i = 0
    while i < a.count {
        if (count < 0 || done < count), i + o.count <= a.count, a[i..<(i + o.count)].elementsEqual(o) {
            out += n
            i += o.count
            done += 1
        } else {
            out.append(a[i])
            i += 1
        }
    }
    return String(scalars: out)
}

func pyUpper(_ s: String) -> String { s.uppercased() }
func pyLower(_ s: String) -> String { s.lowercased() }

private func titlecase(_ c: Unicode.Scalar) -> String { c.properties.titlecaseMapping }

/// `str.capitalize()`: first character title-cased, the rest lower-cased.
func pyCapitalize(_ s: String) -> String {
    guard let first = s.unicodeScalars.first else { return s }
    return titlecase(first) + String(scalars: s.unicodeScalars.dropFirst()).lowercased()
}

/// `str.title()`: a cased character after an uncased one starts a word.
func pyTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for c in s.unicodeScalars {
        let p = c.properties
        if previousCased {
            out += p.lowercaseMapping
        } else {
            out += p.titlecaseMapping
        }
        previousCased = p.isCased
    }
    return out
}

/// Python's `\w` for str patterns: letters, digits, numerics and underscore.
func isPyWordChar(_ c: Unicode.Scalar) -> Bool {
    if c == "_" { return true }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
         .decimalNumber, .letterNumber, .otherNumber:
        return true
    default:
        return false
    }
}

/// `str.splitlines()` (without keepends).
func pySplitLines(_ s: String) -> [String] {
    let a = s.scalars
    var out: [String] = []
    var start = 0
    var i = 0
    while i < a.count {
        let c = a[i].value
        let isBreak = (c >= 0x0a && c <= 0x0d) || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85
            || c == 0x2028 || c == 0x2029
        if isBreak {
            out.append(String(scalars: a[start..<i]))
            if c == 0x0d, i + 1 < a.count, a[i + 1] == "\n" { i += 1 }
            start = i + 1
        }
        i += 1
    }
    if start < a.count { out.append(String(scalars: a[start...])) }
    return out
}
