import Foundation

// Python semantics of truth, equality, ordering, arithmetic and iteration for runtime values.

/// `bool(x)`.
func pyTruthy(_ v: Obj) -> Bool {
    switch v {
    case .undefined, .none: return false
    case .bool(let b): return b
    case .int(let i): return i != 0
    case .double(let d): return d != 0
    case .string(let s): return !s.isEmpty
    case .list(let a), .tuple(let a): return !a.isEmpty
    case .dict(let d): return !d.isEmpty
    case .seq(let k, let items): return k.hasLength ? !items.isEmpty : true
    case .namespace, .callable, .loop: return true
    }
}

/// A number as Python sees it (bool is an int subclass).
enum Number {
    case int(Int)
    case double(Double)

    init?(_ v: Obj) {
        switch v {
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        default: return nil
        }
    }

    var double: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }
}

/// `a == b`.
func pyEqual(_ a: Obj, _ b: Obj) -> Bool {
    switch (a, b) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.string(let x), .string(let y)): return x.pyEquals(y)
    case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { pyEqual($0, $1) }
    case (.dict(let x), .dict(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in zip(x.keys, x.values) {
            guard let w = y[k], pyEqual(v, w) else { return false }
        }
        return true
    case (.seq(let k1, let x), .seq(let k2, let y)):
        guard k1 == k2, k1.hasLength else { return false }
        return x.count == y.count && zip(x, y).allSatisfy { pyEqual($0, $1) }
    case (.namespace(let x), .namespace(let y)): return x === y
    case (.callable(let x), .callable(let y)): return x === y
    case (.loop(let x), .loop(let y)): return x === y
    default:
        if let x = Number(a), let y = Number(b) {
            switch (x, y) {
            case (.int(let i), .int(let j)): return i == j
            default: return x.double == y.double
            }
        }
        return false
    }
}

func failUndefined(_ v: Obj) throws {
    if case .undefined(let u) = v { throw u.error }
}

/// `a < b` (and, through `op`, the other orderings). Raises TypeError for unorderable pairs.
func pyCompare(_ a: Obj, _ b: Obj, _ op: String) throws -> Bool {
    try failUndefined(a)
    try failUndefined(b)
    func order(_ r: Int) -> Bool {
        switch op {
        case "<": return r < 0
        case "<=": return r <= 0
        case ">": return r > 0
        default: return r >= 0
        }
    }
    if let x = Number(a), let y = Number(b) {
        switch (x, y) {
        case (.int(let i), .int(let j)): return order(i < j ? -1 : i == j ? 0 : 1)
        default:
            let (p, q) = (x.double, y.double)
            if p.isNaN || q.isNaN { return false }
            return order(p < q ? -1 : p == q ? 0 : 1)
        }
    }
    return order(try pyCompareOrder(a, b, op))
}

/// Three-way comparison for sorting; TypeError when Python could not order the pair.
func pyCompareOrder(_ a: Obj, _ b: Obj, _ op: String = "<") throws -> Int {
    if let x = Number(a), let y = Number(b) {
        let (p, q) = (x.double, y.double)
        if case .int(let i) = x, case .int(let j) = y { return i < j ? -1 : i == j ? 0 : 1 }
        return p < q ? -1 : p == q ? 0 : 1
    }
    switch (a, b) {
    case (.string(let x), .string(let y)):
        return lexicographic(x.unicodeScalars.map(\.value), y.unicodeScalars.map(\.value))
    case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
        for (p, q) in zip(x, y) where !pyEqual(p, q) {
            return try pyCompareOrder(p, q, op)
        }
        return x.count < y.count ? -1 : x.count == y.count ? 0 : 1
    default:
        throw TemplateError(.type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
    }
}

private func lexicographic(_ x: [UInt32], _ y: [UInt32]) -> Int {
    for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
    return x.count < y.count ? -1 : x.count == y.count ? 0 : 1
}

/// `list(x)`: the items a for loop or filter sees. Undefined iterates as empty (jinja2's Undefined).
func pyIterate(_ v: Obj) throws -> [Obj] {
    switch v {
    case .undefined: return []
    case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
    case .list(let a), .tuple(let a): return a
    case .dict(let d): return d.keys.map { .string($0) }
    case .seq(_, let items): return items
    case .namespace, .none, .bool, .int, .double, .callable, .loop:
        throw TemplateError(.type, "'\(v.typeName)' object is not iterable")
    }
}

/// `len(x)`.
func pyLength(_ v: Obj) throws -> Int {
    switch v {
    case .undefined: return 0
    case .string(let s): return s.pyLength
    case .list(let a), .tuple(let a): return a.count
    case .dict(let d): return d.count
    case .seq(let k, let items) where k.hasLength: return items.count
    case .loop(let l): return l.length
    default: throw TemplateError(.type, "object of type '\(v.typeName)' has no len()")
    }
}

/// `needle in haystack`.
func pyContains(_ haystack: Obj, _ needle: Obj) throws -> Bool {
    switch haystack {
    case .string(let s):
        guard case .string(let n) = needle else {
            try failUndefined(needle)
            throw TemplateError(.type, "'in <string>' requires string as left operand, not \(needle.typeName)")
        }
        return pyFind(s.scalars, n.scalars) >= 0
    case .dict(let d):
        if case .string(let k) = needle { return d.contains(k) }
        return false
    case .undefined, .list, .tuple, .seq:
        return try pyIterate(haystack).contains { pyEqual($0, needle) }
    default:
        throw TemplateError(.type, "argument of type '\(haystack.typeName)' is not iterable")
    }
}

private func overflow(_ op: String) -> TemplateError {
    TemplateError(.type, "integer overflow in '\(op)' (Python integers are unbounded; this engine uses 64-bit)")
}

private func unsupported(_ op: String, _ a: Obj, _ b: Obj) -> TemplateError {
    TemplateError(.type, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
}

/// Python's float floor division and modulo (results take the sign of the divisor).
private func floatDivMod(_ x: Double, _ y: Double) -> (Double, Double) {
    var mod = fmod(x, y)
    var div = (x - mod) / y
    if mod != 0 {
        if (y < 0) != (mod < 0) {
            mod += y
            div -= 1
        }
    } else {
        mod = copysign(0, y)
    }
    var floordiv: Double
    if div != 0 {
        floordiv = div.rounded(.down)
        if div - floordiv > 0.5 { floordiv += 1 }
    } else {
        floordiv = copysign(0, x / y)
    }
    return (floordiv, mod)
}

func pyBinary(_ op: BinaryOp, _ a: Obj, _ b: Obj) throws -> Obj {
    try failUndefined(a)
    try failUndefined(b)
    if let x = Number(a), let y = Number(b) {
        switch (x, y) {
        case (.int(let i), .int(let j)):
            switch op {
            case .add:
                let (r, o) = i.addingReportingOverflow(j)
                if o { throw overflow("+") }
                return .int(r)
            case .sub:
                let (r, o) = i.subtractingReportingOverflow(j)
                if o { throw overflow("-") }
                return .int(r)
            case .mul:
                let (r, o) = i.multipliedReportingOverflow(by: j)
                if o { throw overflow("*") }
                return .int(r)
            case .div:
                if j == 0 { throw TemplateError(.type, "division by zero") }
                return .double(Double(i) / Double(j))
            case .floorDiv:
                if j == 0 { throw TemplateError(.type, "integer division or modulo by zero") }
                if i == Int.min && j == -1 { throw overflow("//") }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }
                return .int(q)
            case .mod:
                if j == 0 { throw TemplateError(.type, "integer modulo by zero") }
                if j == -1 { return .int(0) }
                var r = i % j
                if r != 0 && ((r < 0) != (j < 0)) { r += j }
                return .int(r)
            case .pow:
                if j < 0 { return .double(pow(Double(i), Double(j))) }
                var result = 1, base = i, e = j
                while e > 0 {
                    if e & 1 == 1 {
                        let (r, o) = result.multipliedReportingOverflow(by: base)
                        if o { throw overflow("**") }
                        result = r
                    }
                    e >>= 1
                    if e > 0 {
                        let (sq, o) = base.multipliedReportingOverflow(by: base)
                        if o { throw overflow("**") }
                        base = sq
                    }
                }
                return .int(result)
            }
        default:
            let (p, q) = (x.double, y.double)
            switch op {
            case .add: return .double(p + q)
            case .sub: return .double(p - q)
            case .mul: return .double(p * q)
            case .div:
                if q == 0 { throw TemplateError(.type, "float division by zero") }
                return .double(p / q)
            case .floorDiv:
                if q == 0 { throw TemplateError(.type, "float floor division by zero") }
                return .double(floatDivMod(p, q).0)
            case .mod:
                if q == 0 { throw TemplateError(.type, "float modulo") }
                return .double(floatDivMod(p, q).1)
            case .pow:
                if p == 0 && q < 0 { throw TemplateError(.type, "0.0 cannot be raised to a negative power") }
                let r = pow(p, q)
                if r.isNaN && !p.isNaN && !q.isNaN {
                    throw TemplateError(.type, "negative number cannot be raised to a fractional power (complex results are not supported)")
                }
                return .double(r)
            }
        }
    }
    switch (op, a, b) {
    case (.add, .string(let x), .string(let y)): return .string(x + y)
    case (.add, .list(let x), .list(let y)): return .list(x + y)
    case (.add, .tuple(let x), .tuple(let y)): return .tuple(x + y)
    case (.add, .string, _):
        throw TemplateError(.type, "can only concatenate str (not \"\(b.typeName)\") to str")
    case (.add, .list, _):
        throw TemplateError(.type, "can only concatenate list (not \"\(b.typeName)\") to list")
    case (.mul, .string(let s), _), (.mul, _, .string(let s)):
        guard case .int(let n) = Number(a.isString ? b : a) else { throw unsupported("*", a, b) }
        try checkRepetition(s.utf8.count, n)
        return .string(n > 0 ? String(repeating: s, count: n) : "")
    case (.mul, .list(let l), _), (.mul, _, .list(let l)):
        guard case .int(let n) = Number(a.isList ? b : a) else { throw unsupported("*", a, b) }
        try checkRepetition(l.count, n)
        return .list(n > 0 ? Array([[Obj]](repeating: l, count: n).joined()) : [])
    case (.mod, .string(let fmt), _):
        return .string(try percentFormat(fmt, b))
    default:
        let symbol = op == .pow ? "** or pow()" : op.rawValue
        throw unsupported(symbol, a, b)
    }
}

/// Refuses repetitions whose result could not fit in memory (Python would raise MemoryError).
private func checkRepetition(_ size: Int, _ times: Int) throws {
    let (total, o) = size.multipliedReportingOverflow(by: max(times, 0))
    if o || total > 1 << 30 { throw TemplateError(.runtime, "repetition result too large") }
}

extension Obj {
    var isString: Bool {
        if case .string = self { return true }
        return false
    }

    var isList: Bool {
        if case .list = self { return true }
        return false
    }
}
