import Foundation

/// jinja2's builtin filters, with transformers' `tojson` (json.dumps with ensure_ascii=False).
/// Each follows jinja2/filters.py; results that are generators in Python are `.seq(.generator, ...)`
/// so that `length`, truthiness and printing behave as they do there.
enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "first", "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list",
        "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate",
        "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, _ v: Obj, _ args: Arguments, _ ip: Interpreter) throws -> Obj {
        func bind(_ params: [(String, Obj?)]) throws -> [Obj] { try args.bind(name, params) }
        switch name {
        case "abs":
            _ = try bind([])
            try failUndefined(v)
            switch Number(v) {
            case .int(let i)?:
                guard i != Int.min else { throw TemplateError(.type, "integer overflow in abs()") }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw TemplateError(.type, "bad operand type for abs(): '\(v.typeName)'")
            }
        case "attr":
            let a = try bind([("name", nil)])
            try failUndefined(v)
            guard case .string(let attr) = a[0] else { return .missing(a[0], of: v) }
            switch v {
            case .namespace, .loop: return try ip.getAttr(v, attr)
            default: return Methods.bound(v, attr) ?? .missing(a[0], of: v)
            }
        case "batch":
            let a = try bind([("linecount", nil), ("fill_with", Obj.none)])
            let n = try intArg(a[0], "linecount")
            guard n > 0 else { throw TemplateError(.type, "batch size must be positive") }
            var out: [Obj] = []
            var tmp: [Obj] = []
            for item in try pyIterate(v) {
                if tmp.count == n { out.append(.list(tmp)); tmp = [] }
                tmp.append(item)
            }
            if !tmp.isEmpty {
                if !a[1].isNone, tmp.count < n { tmp += Array(repeating: a[1], count: n - tmp.count) }
                out.append(.list(tmp))
            }
            return .seq(.generator, out)
        case "capitalize":
            _ = try bind([])
            return .string(pyCapitalize(pyStr(v)))
        case "center":
            let a = try bind([("width", .int(80))])
            return try Methods.stringMethod(pyStr(v), "center", Arguments([a[0]]))
        case "count", "length":
            _ = try bind([])
            return .int(try pyLength(v))
        case "d", "default":
            let a = try bind([("default_value", .string("")), ("boolean", .bool(false))])
            if v.isUndefined || (pyTruthy(a[1]) && !pyTruthy(v)) { return a[0] }
            return v
        case "dictsort":
            let a = try bind([("case_sensitive", .bool(false)), ("by", .string("key")), ("reverse", .bool(false))])
            try failUndefined(v)
            guard case .dict(let d) = v else {
                throw TemplateError(.runtime, "'\(v.typeName)' object has no attribute 'items'")
            }
            let pos: Int
            switch a[1] {
            case .string(let s) where s == "key": pos = 0
            case .string(let s) where s == "value": pos = 1
            default: throw TemplateError(.runtime, "You can only sort by either \"key\" or \"value\"")
            }
            let caseSensitive = pyTruthy(a[0])
            let pairs: [Obj] = zip(d.keys, d.values).map { .tuple([.string($0), $1]) }
            return .list(try stableSorted(pairs, reverse: pyTruthy(a[2])) { item in
                guard case .tuple(let kv) = item else { return item }
                return caseSensitive ? kv[pos] : ignoreCase(kv[pos])
            })
        case "e", "escape", "forceescape":
            _ = try bind([])
            return .string(htmlEscape(pyStr(v)))
        case "first":
            _ = try bind([])
            return try pyIterate(v).first ?? .undefined(hint: "No first item, sequence was empty.")
        case "float":
            let a = try bind([("default", .double(0))])
            return try toFloat(v) ?? a[0]
        case "format":
            if !args.positional.isEmpty && !args.keywords.isEmpty {
                throw TemplateError(.runtime, "can't handle positional and keyword arguments at the same time")
            }
            let operand: Obj = args.keywords.isEmpty ? .tuple(args.positional) : .dict(OrderedMap(args.keywords))
            return .string(try percentFormat(pyStr(v), operand))
        case "indent":
            let a = try bind([("width", .int(4)), ("first", .bool(false)), ("blank", .bool(false))])
            try failUndefined(v)
            guard case .string(let s) = v else {
                throw TemplateError(.type, "unsupported operand type(s) for +=: '\(v.typeName)' and 'str'")
            }
            let indention: String
            if case .string(let w) = a[0] { indention = w } else { indention = String(repeating: " ", count: max(try intArg(a[0], "width"), 0)) }
            let lines = pySplitLines(s + "\n")
            var rv: String
            if pyTruthy(a[2]) {
                rv = lines.joined(separator: "\n" + indention)
            } else {
                rv = lines.first ?? ""
                if lines.count > 1 {
                    rv += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
                }
            }
            if pyTruthy(a[1]) { rv = indention + rv }
            return .string(rv)
        case "int":
            let a = try bind([("default", .int(0)), ("base", .int(10))])
            return try toInt(v, base: try intArg(a[1], "base")) ?? a[0]
        case "items":
            _ = try bind([])
            if v.isUndefined { return .seq(.generator, []) }
            guard case .dict(let d) = v else { throw TemplateError(.type, "Can only get item pairs from a mapping.") }
            return .seq(.generator, zip(d.keys, d.values).map { .tuple([.string($0), $1]) })
        case "join":
            let a = try bind([("d", .string("")), ("attribute", Obj.none)])
            var items = try pyIterate(v)
            if !a[1].isNone {
                let get = attrGetter(a[1], ip)
                items = try items.map(get)
            }
            return .string(items.map(pyStr).joined(separator: pyStr(a[0])))
        case "last":
            _ = try bind([])
            if case .seq(let k, _) = v, !k.hasLength {
                throw TemplateError(.type, "'\(v.typeName)' object is not reversible")
            }
            return try pyIterate(v).last ?? .undefined(hint: "No last item, sequence was empty.")
        case "list":
            _ = try bind([])
            return .list(try pyIterate(v))
        case "lower":
            _ = try bind([])
            return .string(pyLower(pyStr(v)))
        case "upper":
            _ = try bind([])
            return .string(pyUpper(pyStr(v)))
        case "map":
            guard pyTruthy(v) else { return .seq(.generator, []) }
            let f = try prepareMap(args, ip)
            return .seq(.generator, try pyIterate(v).map(f))
        case "max", "min":
            let a = try bind([("case_sensitive", .bool(false)), ("attribute", Obj.none)])
            let items = try pyIterate(v)
            guard var best = items.first else {
                return .undefined(hint: "No aggregated item, sequence was empty.")
            }
            let get = attrGetter(a[1], ip, lower: !pyTruthy(a[0]))
            var bestKey = try get(best)
            for item in items.dropFirst() {
                let key = try get(item)
                let c = try pyCompareOrder(key, bestKey, name == "max" ? ">" : "<")
                if name == "max" ? c > 0 : c < 0 { best = item; bestKey = key }
            }
            return best
        case "select", "reject", "selectattr", "rejectattr":
            guard pyTruthy(v) else { return .seq(.generator, []) }
            let keep = try prepareSelect(args, lookupAttr: name.hasSuffix("attr"), ip)
            let wanted = name.hasPrefix("select")
            return .seq(.generator, try pyIterate(v).filter { try keep($0) == wanted })
        case "replace":
            let a = try bind([("old", nil), ("new", nil), ("count", Obj.none)])
            let count = a[2].isNone ? -1 : try intArg(a[2], "count")
            return .string(pyReplace(pyStr(v), pyStr(a[0]), pyStr(a[1]), count))
        case "reverse":
            _ = try bind([])
            switch v {
            case .string(let s): return .string(String(scalars: s.scalars.reversed()))
            case .seq(let k, let items) where !k.hasLength: return .list(items.reversed())
            case .undefined, .list, .tuple, .dict, .seq:
                return .seq(.reverseIterator, try pyIterate(v).reversed())
            default: throw TemplateError(.runtime, "argument must be iterable")
            }
        case "round":
            let a = try bind([("precision", .int(0)), ("method", .string("common"))])
            guard case .string(let method) = a[1], ["common", "ceil", "floor"].contains(method) else {
                throw TemplateError(.runtime, "method must be common, ceil or floor")
            }
            return try round(v, precision: try intArg(a[0], "precision"), method: method)
        case "safe":
            _ = try bind([])
            return .string(pyStr(v))
        case "slice":
            let a = try bind([("slices", nil), ("fill_with", Obj.none)])
            let slices = try intArg(a[0], "slices")
            guard slices > 0 else { throw TemplateError(.type, "slices must be positive") }
            let seq = try pyIterate(v)
            let per = seq.count / slices, extra = seq.count % slices
            var offset = 0
            var out: [Obj] = []
            for n in 0..<slices {
                let start = offset + n * per
                if n < extra { offset += 1 }
                let end = offset + (n + 1) * per
                var tmp = Array(seq[start..<end])
                if !a[1].isNone, n >= extra { tmp.append(a[1]) }
                out.append(.list(tmp))
            }
            return .seq(.generator, out)
        case "sort":
            let a = try bind([("reverse", .bool(false)), ("case_sensitive", .bool(false)), ("attribute", Obj.none)])
            let get = multiAttrGetter(a[2], ip, lower: !pyTruthy(a[1]))
            return .list(try stableSorted(try pyIterate(v), reverse: pyTruthy(a[0]), key: get))
        case "string":
            _ = try bind([])
            return .string(pyStr(v))
        case "striptags":
            _ = try bind([])
            return .string(stripTags(pyStr(v)))
        case "sum":
            let a = try bind([("attribute", Obj.none), ("start", .int(0))])
            var items = try pyIterate(v)
            if !a[0].isNone { items = try items.map(attrGetter(a[0], ip)) }
            var total = a[1]
            for item in items {
                if case .string = item { throw TemplateError(.type, "sum() can't sum strings [use ''.join(seq) instead]") }
                total = try pyBinary(.add, total, item)
            }
            return total
        case "title":
            _ = try bind([])
            return .string(jinjaTitle(pyStr(v)))
        case "tojson":
            let a = try bind([("ensure_ascii", .bool(false)), ("indent", Obj.none), ("separators", Obj.none),
                              ("sort_keys", .bool(false))])
            var indent: String? = nil
            switch a[1] {
            case .none: break
            case .string(let s): indent = s
            default: indent = String(repeating: " ", count: max(try intArg(a[1], "indent"), 0))
            }
            var separators: (String, String)? = nil
            if !a[2].isNone {
                let parts = try pyIterate(a[2])
                guard parts.count == 2, case .string(let item) = parts[0], case .string(let key) = parts[1] else {
                    throw TemplateError(.type, "separators must be a pair of strings")
                }
                separators = (item, key)
            }
            let writer = JSONWriter(indent: indent, sortKeys: pyTruthy(a[3]), ensureASCII: pyTruthy(a[0]),
                                    separators: separators)
            return .string(try writer.write(v))
        case "trim":
            let a = try bind([("chars", Obj.none)])
            return .string(pyStrip(pyStr(v), a[0].isNone ? nil : pyStr(a[0]), left: true, right: true))
        case "truncate":
            let a = try bind([("length", .int(255)), ("killwords", .bool(false)), ("end", .string("...")),
                              ("leeway", Obj.none)])
            let s = pyStr(v).scalars
            let length = try intArg(a[0], "length")
            let end = pyStr(a[2])
            let leeway = a[3].isNone ? 5 : try intArg(a[3], "leeway")
            guard length >= end.pyLength else { throw TemplateError(.runtime, "expected length >= \(end.pyLength), got \(length)") }
            if s.count <= length + leeway { return .string(String(scalars: s)) }
            let head = String(scalars: s.prefix(length - end.pyLength))
            if pyTruthy(a[1]) { return .string(head + end) }
            let cut = try pyRSplit(head, " ", 1).first ?? head
            return .string(cut + end)
        case "unique":
            let a = try bind([("case_sensitive", .bool(false)), ("attribute", Obj.none)])
            let get = attrGetter(a[1], ip, lower: !pyTruthy(a[0]))
            var seen: [Obj] = []
            var out: [Obj] = []
            for item in try pyIterate(v) {
                let key = try get(item)
                try requireHashable(key)
                if !seen.contains(where: { pyEqual($0, key) }) {
                    seen.append(key)
                    out.append(item)
                }
            }
            return .seq(.generator, out)
        case "wordcount":
            _ = try bind([])
            var n = 0
            var inWord = false
            for c in pyStr(v).unicodeScalars {
                let w = isPyWordChar(c)
                if w && !inWord { n += 1 }
                inWord = w
            }
            return .int(n)
        default:
            throw TemplateError(.runtime, "No filter named '\(name)'.")
        }
    }

    // MARK: helpers

    static func intArg(_ v: Obj, _ what: String) throws -> Int {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default:
            try failUndefined(v)
            throw TemplateError(.type, "'\(v.typeName)' object cannot be interpreted as an integer (\(what))")
        }
    }

    private static func ignoreCase(_ v: Obj) -> Obj {
        if case .string(let s) = v { return .string(pyLower(s)) }
        return v
    }

    private static func requireHashable(_ v: Obj) throws {
        switch v {
        case .list, .dict, .seq(.dictKeys, _), .seq(.dictValues, _), .seq(.dictItems, _):
            throw TemplateError(.type, "unhashable type: '\(v.typeName)'")
        case .tuple(let items): try items.forEach(requireHashable)
        default: break
        }
    }

    /// Python's `sorted(items, key=key, reverse=reverse)`: stable in both directions.
    static func stableSorted(_ items: [Obj], reverse: Bool, key: (Obj) throws -> Obj) throws -> [Obj] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        let sorted = try keyed.sorted { a, b in
            let c = reverse ? try pyCompareOrder(b.1, a.1) : try pyCompareOrder(a.1, b.1)
            return c != 0 ? c < 0 : a.0 < b.0
        }
        return sorted.map(\.2)
    }

    /// Splits "a.b.0" into lookups; digit parts are integer indices (jinja2's _prepare_attribute_parts).
    private static func attributeParts(_ attribute: Obj) -> [Obj] {
        switch attribute {
        case .none: return []
        case .string(let s):
            return s.split(separator: ".", omittingEmptySubsequences: false).map { part in
                if !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let i = Int(part) { return .int(i) }
                return .string(String(part))
            }
        default: return [attribute]
        }
    }

    /// jinja2's make_attrgetter: item lookups along a dotted path, optional lower-casing, default.
    static func attrGetter(_ attribute: Obj, _ ip: Interpreter, lower: Bool = false,
                           default dflt: Obj? = nil) -> (Obj) throws -> Obj {
        let parts = attributeParts(attribute)
        return { item in
            var x = item
            for p in parts {
                x = try ip.getItem(x, p)
                if let dflt, !dflt.isNone, x.isUndefined { x = dflt }
            }
            return lower ? ignoreCase(x) : x
        }
    }

    /// jinja2's make_multi_attrgetter ("age,name" sorts by a list of keys).
    private static func multiAttrGetter(_ attribute: Obj, _ ip: Interpreter, lower: Bool) -> (Obj) throws -> Obj {
        guard case .string(let s) = attribute, s.contains(",") else {
            let single = attrGetter(attribute, ip, lower: lower)
            if attribute.isNone { return single }
            return { .list([try single($0)]) }
        }
        let getters = s.split(separator: ",", omittingEmptySubsequences: false).map {
            attrGetter(.string(String($0)), ip, lower: lower)
        }
        return { item in .list(try getters.map { try $0(item) }) }
    }

    private static func prepareMap(_ args: Arguments, _ ip: Interpreter) throws -> (Obj) throws -> Obj {
        if args.positional.isEmpty, let attribute = args.keyword("attribute") {
            let dflt = args.keyword("default")
            if let other = args.keywords.first(where: { $0.0 != "attribute" && $0.0 != "default" }) {
                throw TemplateError(.runtime, "Unexpected keyword argument '\(other.0)'")
            }
            return attrGetter(attribute, ip, default: dflt)
        }
        guard let first = args.positional.first, case .string(let filter) = first else {
            throw TemplateError(.runtime, "map requires a filter argument")
        }
        let rest = Arguments(Array(args.positional.dropFirst()), args.keywords)
        return { item in try apply(filter, item, rest, ip) }
    }

    private static func prepareSelect(_ args: Arguments, lookupAttr: Bool, _ ip: Interpreter) throws -> (Obj) throws -> Bool {
        var positional = args.positional
        var transform: (Obj) throws -> Obj = { $0 }
        if lookupAttr {
            guard !positional.isEmpty else { throw TemplateError(.runtime, "Missing parameter for attribute name") }
            transform = attrGetter(positional.removeFirst(), ip)
        }
        guard !positional.isEmpty else { return { pyTruthy(try transform($0)) } }
        let test = pyStr(positional.removeFirst())
        let rest = Arguments(positional, args.keywords)
        return { try Tests.apply(test, try transform($0), rest, ip) }
    }

    private static func round(_ v: Obj, precision: Int, method: String) throws -> Obj {
        try failUndefined(v)
        guard let n = Number(v) else {
            throw TemplateError(.type, "type \(v.typeName) doesn't define __round__ method")
        }
        if method != "common" {
            let scale = pow(10.0, Double(precision))
            let x = n.double * scale
            return .double((method == "ceil" ? x.rounded(.up) : x.rounded(.down)) / scale)
        }
        switch n {
        case .int(let i):
            guard precision < 0 else { return .int(i) }
            let scale = pow(10.0, Double(-precision))
            guard let r = Int(exactly: (Double(i) / scale).rounded(.toNearestOrEven) * scale) else {
                throw TemplateError(.type, "integer overflow in round()")
            }
            return .int(r)
        case .double(let d):
            guard d.isFinite else { return .double(d) }
            if precision >= 0 {
                // printf rounds the exact binary value half-to-even, as Python's round() does.
                return .double(Double(String(format: "%.\(min(precision, 340))f", d)) ?? d)
            }
            let scale = pow(10.0, Double(-precision))
            return .double((d / scale).rounded(.toNearestOrEven) * scale)
        }
    }

    /// `int(value)` with jinja2's fallbacks; nil means "use the default".
    private static func toInt(_ v: Obj, base: Int) throws -> Obj? {
        switch v {
        case .undefined(let u): throw u.error
        case .bool(let b): return .int(b ? 1 : 0)
        case .int: return v
        case .double(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { return nil }
            return .int(Int(d))
        case .string(let s):
            if let i = parsePythonInt(s, base: base) { return .int(i) }
            if let d = parsePythonFloat(s), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return nil
        default: return nil
        }
    }

    private static func toFloat(_ v: Obj) throws -> Obj? {
        switch v {
        case .undefined(let u): throw u.error
        case .bool(let b): return .double(b ? 1 : 0)
        case .int(let i): return .double(Double(i))
        case .double: return v
        case .string(let s): return parsePythonFloat(s).map { .double($0) }
        default: return nil
        }
    }

    /// Removes '_' only where Python allows it: between two digits.
    private static func stripUnderscores(_ s: [Character]) -> String? {
        var out = ""
        for (i, c) in s.enumerated() {
            if c == "_" {
                guard i > 0, i + 1 < s.count, s[i - 1].isHexDigit, s[i + 1].isHexDigit else { return nil }
                continue
            }
            out.append(c)
        }
        return out
    }

    static func parsePythonInt(_ text: String, base: Int) -> Int? {
        var s = pyStrip(text, nil, left: true, right: true)
        var negative = false
        if let f = s.first, f == "+" || f == "-" { negative = f == "-"; s.removeFirst() }
        var radix = base
        let lower = s.lowercased()
        for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) && (base == r || base == 0) {
            s.removeFirst(2)
            if s.first == "_" { s.removeFirst() }
            radix = r
        }
        if radix == 0 { radix = 10 }
        guard !s.isEmpty, let clean = stripUnderscores(Array(s)), let m = Int(clean, radix: radix) else { return nil }
        return negative ? -m : m
    }

    static func parsePythonFloat(_ text: String) -> Double? {
        let s = pyStrip(text, nil, left: true, right: true)
        let lower = s.lowercased()
        var body = lower
        var sign = 1.0
        if let f = body.first, f == "+" || f == "-" { sign = f == "-" ? -1 : 1; body.removeFirst() }
        if body == "inf" || body == "infinity" { return sign * .infinity }
        if body == "nan" { return .nan }
        guard !body.isEmpty, body.allSatisfy({ "0123456789._e+-".contains($0) }),
              let clean = stripUnderscores(Array(body)) else { return nil }
        guard let d = Double(clean) else { return nil }
        return sign * d
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// jinja2's title filter: words start after runs of `-`, whitespace, `(`, `{`, `[` or `<`.
    private static func jinjaTitle(_ s: String) -> String {
        func isSep(_ c: Unicode.Scalar) -> Bool { "-({[<".unicodeScalars.contains(c) || isPySpace(c) }
        var out = ""
        var item: [Unicode.Scalar] = []
        func flush() {
            guard let first = item.first else { return }
            out += String(first).uppercased() + String(scalars: item.dropFirst()).lowercased()
            item = []
        }
        var inSep: Bool? = nil
        for c in s.unicodeScalars {
            let sep = isSep(c)
            if let prev = inSep, prev != sep { flush() }
            item.append(c)
            inSep = sep
        }
        flush()
        return out
    }

    /// markupsafe's striptags: drop comments and tags, collapse whitespace, unescape entities.
    private static func stripTags(_ s: String) -> String {
        var text = s
        while let start = text.range(of: "<!--"), let end = text.range(of: "-->", range: start.upperBound..<text.endIndex) {
            text.removeSubrange(start.lowerBound..<end.upperBound)
        }
        var out = ""
        var inTag = false
        for c in text {
            if c == "<" { inTag = true; continue }
            if c == ">" && inTag { inTag = false; continue }
            if !inTag { out.append(c) }
        }
        let collapsed = (try? pySplit(out, nil, -1))?.joined(separator: " ") ?? out
        return collapsed
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }
}
