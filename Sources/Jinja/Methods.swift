import Foundation

/// Python methods of str, dict, list and tuple that templates call (`s.strip()`, `d.items()`, ...).
/// Mutating methods resolve to an undefined value that raises a security error when called, as
/// jinja2's ImmutableSandboxedEnvironment (what transformers uses) does.
enum Methods {
    static let unsafeList: Set<String> = ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"]
    static let unsafeDict: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]

    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
        "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind",
        "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "swapcase", "title", "upper", "zfill",
    ]

    static func bound(_ obj: Obj, _ name: String) -> Obj? {
        switch obj {
        case .string(let s):
            guard stringMethods.contains(name) else { return nil }
            return method(name) { args in try stringMethod(s, name, args) }
        case .dict(let d):
            if unsafeDict.contains(name) { return unsafe(name, obj) }
            switch name {
            case "items":
                return method(name) { _ in .seq(.dictItems, zip(d.keys, d.values).map { .tuple([.string($0), $1]) }) }
            case "keys": return method(name) { _ in .seq(.dictKeys, d.keys.map { .string($0) }) }
            case "values": return method(name) { _ in .seq(.dictValues, d.values) }
            case "copy": return method(name) { _ in .dict(d) }
            case "get":
                return method(name) { args in
                    let a = try args.bind("get", [("key", nil), ("default", Obj.none)])
                    guard case .string(let k) = a[0] else { return a[1] }
                    return d[k] ?? a[1]
                }
            default: return nil
            }
        case .list(let items), .tuple(let items):
            if case .list = obj, unsafeList.contains(name) { return unsafe(name, obj) }
            switch name {
            case "count":
                return method(name) { args in
                    let a = try args.bind("count", [("value", nil)])
                    return .int(items.filter { pyEqual($0, a[0]) }.count)
                }
            case "index":
                return method(name) { args in
                    let a = try args.bind("index", [("value", nil)])
                    guard let i = items.firstIndex(where: { pyEqual($0, a[0]) }) else {
                        throw TemplateError(.runtime, "\(pyRepr(a[0])) is not in \(obj.typeName)")
                    }
                    return .int(i)
                }
            case "copy" where obj.isList: return method(name) { _ in obj }
            default: return nil
            }
        default:
            return nil
        }
    }

    private static func method(_ name: String, _ body: @escaping (Arguments) throws -> Obj) -> Obj {
        .callable(Callable(name, kind: .method, body))
    }

    private static func unsafe(_ name: String, _ obj: Obj) -> Obj {
        .undefined(Undefined(hint: "access to attribute '\(name)' of '\(obj.typeName)' object is unsafe.",
                             kind: .security))
    }

    private static func str(_ v: Obj, _ what: String) throws -> String {
        guard case .string(let s) = v else {
            try failUndefined(v)
            throw TemplateError(.type, "\(what) must be str, not \(v.typeName)")
        }
        return s
    }

    private static func optionalStr(_ v: Obj, _ what: String) throws -> String? {
        v.isNone ? nil : try str(v, what)
    }

    private static func int(_ v: Obj, _ what: String) throws -> Int {
        guard case .int(let i)? = Number(v), !(v.isDoubleValue) else {
            try failUndefined(v)
            throw TemplateError(.type, "'\(v.typeName)' object cannot be interpreted as an integer")
        }
        return i
    }

    /// Python slice-style start/end for find/count/startswith.
    private static func bounds(_ a: [Obj], _ n: Int) throws -> (Int, Int) {
        func norm(_ v: Obj, _ dflt: Int) throws -> Int {
            if v.isNone { return dflt }
            var i = try int(v, "index")
            if i < 0 { i = max(i + n, 0) }
            return min(i, n)
        }
        return (try norm(a[0], 0), try norm(a[1], n))
    }

    private static func prefixes(_ v: Obj, _ fname: String) throws -> [String] {
        if case .tuple(let items) = v { return try items.map { try str($0, "\(fname) arg") } }
        guard case .string(let s) = v else {
            throw TemplateError(.type, "\(fname) first arg must be str or a tuple of str, not \(v.typeName)")
        }
        return [s]
    }

    static func stringMethod(_ s: String, _ name: String, _ args: Arguments) throws -> Obj {
        let a = s.scalars
        switch name {
        case "upper": _ = try args.bind(name, []); return .string(pyUpper(s))
        case "lower": _ = try args.bind(name, []); return .string(pyLower(s))
        case "casefold": _ = try args.bind(name, []); return .string(s.lowercased())
        case "title": _ = try args.bind(name, []); return .string(pyTitle(s))
        case "capitalize": _ = try args.bind(name, []); return .string(pyCapitalize(s))
        case "swapcase":
            _ = try args.bind(name, [])
            return .string(s.unicodeScalars.map { c in
                c.properties.isUppercase ? c.properties.lowercaseMapping
                    : c.properties.isLowercase ? c.properties.uppercaseMapping : String(c)
            }.joined())
        case "strip", "lstrip", "rstrip":
            let p = try args.bind(name, [("chars", Obj.none)])
            return .string(pyStrip(s, try optionalStr(p[0], "chars"), left: name != "rstrip", right: name != "lstrip"))
        case "split", "rsplit":
            let p = try args.bind(name, [("sep", Obj.none), ("maxsplit", .int(-1))])
            let sep = try optionalStr(p[0], "sep")
            let max = try int(p[1], "maxsplit")
            let parts = name == "split" ? try pySplit(s, sep, max) : try pyRSplit(s, sep, max)
            return .list(parts.map { .string($0) })
        case "splitlines":
            _ = try args.bind(name, [("keepends", .bool(false))])
            return .list(pySplitLines(s).map { .string($0) })
        case "startswith", "endswith":
            let p = try args.bind(name, [("prefix", nil), ("start", Obj.none), ("end", Obj.none)])
            let (lo, hi) = try bounds([p[1], p[2]], a.count)
            let window = lo <= hi ? Array(a[lo..<hi]) : []
            for x in try prefixes(p[0], name) {
                let q = x.scalars
                if q.count <= window.count {
                    let part = name == "startswith" ? window.prefix(q.count) : window.suffix(q.count)
                    if part.elementsEqual(q) { return .bool(true) }
                }
            }
            return .bool(false)
        case "find", "rfind", "index", "rindex":
            let p = try args.bind(name, [("sub", nil), ("start", Obj.none), ("end", Obj.none)])
            let (lo, hi) = try bounds([p[1], p[2]], a.count)
            let r = pyFind(a, try str(p[0], "sub").scalars, from: lo, to: hi, reverse: name.hasPrefix("r"))
            if r < 0 && name.hasSuffix("index") { throw TemplateError(.runtime, "substring not found") }
            return .int(r)
        case "count":
            let p = try args.bind(name, [("sub", nil), ("start", Obj.none), ("end", Obj.none)])
            let (lo, hi) = try bounds([p[1], p[2]], a.count)
            return .int(lo <= hi ? pyCount(Array(a[lo..<hi]), try str(p[0], "sub").scalars) : 0)
        case "replace":
            let p = try args.bind(name, [("old", nil), ("new", nil), ("count", .int(-1))])
            return .string(pyReplace(s, try str(p[0], "old"), try str(p[1], "new"), try int(p[2], "count")))
        case "join":
            let p = try args.bind(name, [("iterable", nil)])
            let parts = try pyIterate(p[0]).enumerated().map { i, v -> String in
                guard case .string(let x) = v else {
                    throw TemplateError(.type, "sequence item \(i): expected str instance, \(v.typeName) found")
                }
                return x
            }
            return .string(parts.joined(separator: s))
        case "removeprefix", "removesuffix":
            let p = try args.bind(name, [("affix", nil)])
            let x = try str(p[0], name).scalars
            if name == "removeprefix", a.starts(with: x) { return .string(String(scalars: a.dropFirst(x.count))) }
            if name == "removesuffix", !x.isEmpty, a.count >= x.count, a.suffix(x.count).elementsEqual(x) {
                return .string(String(scalars: a.dropLast(x.count)))
            }
            return .string(s)
        case "partition", "rpartition":
            let p = try args.bind(name, [("sep", nil)])
            let sep = try str(p[0], "sep").scalars
            if sep.isEmpty { throw TemplateError(.runtime, "empty separator") }
            let i = pyFind(a, sep, reverse: name == "rpartition")
            if i < 0 {
                return name == "partition" ? .tuple([.string(s), .string(""), .string("")])
                    : .tuple([.string(""), .string(""), .string(s)])
            }
            return .tuple([.string(String(scalars: a[..<i])), .string(String(scalars: sep)),
                           .string(String(scalars: a[(i + sep.count)...]))])
        case "center", "ljust", "rjust":
            let p = try args.bind(name, [("width", nil), ("fillchar", .string(" "))])
            let width = try int(p[0], "width")
            let fill = try str(p[1], "fillchar")
            guard fill.pyLength == 1 else { throw TemplateError(.type, "The fill character must be exactly one character long") }
            let padding = width - a.count
            guard padding > 0 else { return .string(s) }
            switch name {
            case "ljust": return .string(s + String(repeating: fill, count: padding))
            case "rjust": return .string(String(repeating: fill, count: padding) + s)
            default:
                // CPython puts the extra space on the left when both the padding and width are odd.
                let left = padding / 2 + (padding & width & 1)
                return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: padding - left))
            }
        case "zfill":
            let p = try args.bind(name, [("width", nil)])
            let width = try int(p[0], "width")
            guard width > a.count else { return .string(s) }
            let zeros = String(repeating: "0", count: width - a.count)
            if let first = a.first, first == "+" || first == "-" {
                return .string(String(first) + zeros + String(scalars: a.dropFirst()))
            }
            return .string(zeros + s)
        case "format":
            return .string(try pyStrFormat(s, args) { obj, key, isAttr in
                switch (obj, key) {
                case (.dict(let d), .string(let k)) where !isAttr:
                    guard let v = d[k] else { throw TemplateError(.runtime, "KeyError: \(pyRepr(k))") }
                    return v
                case (.list(let items), .int(let i)), (.tuple(let items), .int(let i)):
                    guard items.indices.contains(i) else { throw TemplateError(.runtime, "IndexError: list index out of range") }
                    return items[i]
                case (_, .string(let k)):
                    if case .dict(let d) = obj, isAttr, let m = bound(obj, k) ?? d[k] { return m }
                    guard let m = bound(obj, k) else {
                        throw TemplateError(.runtime, "'\(obj.typeName)' object has no attribute \(pyRepr(k))")
                    }
                    return m
                default:
                    throw TemplateError(.type, "'\(obj.typeName)' object is not subscriptable")
                }
            })
        case "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isnumeric", "isspace", "islower",
             "isupper", "istitle":
            _ = try args.bind(name, [])
            return .bool(stringPredicate(name, a))
        default:
            throw TemplateError(.runtime, "'str' object has no attribute '\(name)'")
        }
    }

    private static func stringPredicate(_ name: String, _ a: [Unicode.Scalar]) -> Bool {
        func category(_ c: Unicode.Scalar) -> Unicode.GeneralCategory { c.properties.generalCategory }
        func isAlpha(_ c: Unicode.Scalar) -> Bool {
            [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter].contains(category(c))
        }
        func isDecimal(_ c: Unicode.Scalar) -> Bool { category(c) == .decimalNumber }
        func isDigit(_ c: Unicode.Scalar) -> Bool {
            c.properties.numericType == .decimal || c.properties.numericType == .digit
        }
        func isNumeric(_ c: Unicode.Scalar) -> Bool { c.properties.numericType != nil }
        switch name {
        case "isascii": return a.allSatisfy { $0.isASCII }
        case "isalnum": return !a.isEmpty && a.allSatisfy { isAlpha($0) || isNumeric($0) }
        case "isalpha": return !a.isEmpty && a.allSatisfy(isAlpha)
        case "isdecimal": return !a.isEmpty && a.allSatisfy(isDecimal)
        case "isdigit": return !a.isEmpty && a.allSatisfy(isDigit)
        case "isnumeric": return !a.isEmpty && a.allSatisfy(isNumeric)
        case "isspace": return !a.isEmpty && a.allSatisfy(isPySpace)
        case "islower", "isupper":
            var cased = false
            for c in a {
                if c.properties.isCased {
                    cased = true
                    let ok = name == "islower" ? !c.properties.changesWhenLowercased : !c.properties.changesWhenUppercased
                    if !ok { return false }
                }
            }
            return cased
        case "istitle":
            return pyTitle(String(scalars: a)).unicodeScalars.elementsEqual(a) && a.contains { $0.properties.isCased }
        default: return false
        }
    }
}

extension Obj {
    var isDoubleValue: Bool {
        if case .double = self { return true }
        return false
    }
}
