import Foundation

// Python's two string-formatting languages: `"%s" % x` (also the `format` filter) and `str.format`.

private func cFormat(_ spec: String, _ d: Double) -> String {
    String(format: spec, d)
}

private func pad(_ s: String, width: Int, left: Bool, fill: Character = " ") -> String {
    let n = s.pyLength
    guard n < width else { return s }
    let padding = String(repeating: fill, count: width - n)
    return left ? s + padding : padding + s
}

private func integerArgument(_ v: Obj, _ type: Character) throws -> Int {
    switch v {
    case .bool(let b): return b ? 1 : 0
    case .int(let i): return i
    case .double(let d):
        if type == "x" || type == "X" || type == "o" || type == "c" {
            throw TemplateError(.type, "%\(type) format: an integer is required, not float")
        }
        guard d.isFinite, abs(d) < 9.2e18 else { throw TemplateError(.type, "cannot convert float \(pyFloatRepr(d)) to integer") }
        return Int(d)
    default:
        try failUndefined(v)
        throw TemplateError(.type, "%\(type) format: a real number is required, not \(v.typeName)")
    }
}

private func floatArgument(_ v: Obj, _ type: Character) throws -> Double {
    guard let n = Number(v) else {
        try failUndefined(v)
        throw TemplateError(.type, "must be real number, not \(v.typeName)")
    }
    return n.double
}

/// Formats a finite or non-finite double with a C conversion, spelling inf/nan the Python way.
private func formatFloat(_ d: Double, flags: String, precision: Int, type: Character) -> String {
    if !d.isFinite {
        var s = d.isNaN ? "nan" : (d < 0 ? "-inf" : "inf")
        if type.isUppercase { s = s.uppercased() }
        if d > 0 || d.isNaN {
            if flags.contains("+") { s = "+" + s } else if flags.contains(" ") { s = " " + s }
        }
        return s
    }
    let cflags = flags.filter { "+ #".contains($0) }
    return cFormat("%\(cflags).\(precision)\(type)", d)
}

/// `fmt % args` with Python's printf-style rules.
func percentFormat(_ fmt: String, _ args: Obj) throws -> String {
    let f = Array(fmt)
    var positional: [Obj]
    var mapping: OrderedMap<Obj>? = nil
    switch args {
    case .tuple(let items): positional = items
    case .dict(let d): positional = [args]; mapping = d
    default: positional = [args]
    }
    var next = 0
    var out = ""
    var i = 0
    func take() throws -> Obj {
        guard next < positional.count else { throw TemplateError(.type, "not enough arguments for format string") }
        defer { next += 1 }
        return positional[next]
    }
    while i < f.count {
        let c = f[i]
        guard c == "%" else { out.append(c); i += 1; continue }
        i += 1
        guard i < f.count else { throw TemplateError(.type, "incomplete format") }
        var value: Obj? = nil
        if f[i] == "(" {
            guard let mapping else { throw TemplateError(.type, "format requires a mapping") }
            var depth = 1
            var j = i + 1
            while j < f.count, depth > 0 {
                if f[j] == "(" { depth += 1 } else if f[j] == ")" { depth -= 1 }
                j += 1
            }
            let key = String(f[(i + 1)..<(j - 1)])
            guard let v = mapping[key] else { throw TemplateError(.type, "KeyError: \(pyRepr(key))") }
            value = v
            i = j
        }
        var flags = ""
        while i < f.count, "-+ #0".contains(f[i]) { flags.append(f[i]); i += 1 }
        var width = 0
        while i < f.count, let d = f[i].wholeNumberValue, f[i].isASCII { width = width * 10 + d; i += 1 }
        var precision: Int? = nil
        if i < f.count, f[i] == "." {
            i += 1
            var p = 0
            while i < f.count, let d = f[i].wholeNumberValue, f[i].isASCII { p = p * 10 + d; i += 1 }
            precision = p
        }
        while i < f.count, "hlL".contains(f[i]) { i += 1 }
        guard i < f.count else { throw TemplateError(.type, "incomplete format") }
        let type = f[i]
        i += 1
        if type == "%" { out += "%"; continue }
        let v = try value ?? take()
        var s: String
        var numeric = true
        switch type {
        case "s": s = pyStr(v); numeric = false
        case "r", "a": s = pyRepr(v); numeric = false
        case "d", "i", "u":
            let n = try integerArgument(v, type)
            s = String(n.magnitude)
            if let precision, s.count < precision { s = String(repeating: "0", count: precision - s.count) + s }
            s = (n < 0 ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : "") + s
        case "x", "X", "o":
            let n = try integerArgument(v, type)
            s = String(n.magnitude, radix: type == "o" ? 8 : 16, uppercase: type == "X")
            if flags.contains("#") { s = (type == "o" ? "0o" : type == "x" ? "0x" : "0X") + s }
            s = (n < 0 ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : "") + s
        case "f", "F", "e", "E", "g", "G":
            s = formatFloat(try floatArgument(v, type), flags: flags, precision: precision ?? 6, type: type)
        case "c":
            if case .string(let str) = v, str.pyLength == 1 { s = str } else {
                let n = try integerArgument(v, type)
                guard let u = Unicode.Scalar(UInt32(clamping: n)) else { throw TemplateError(.type, "%c arg not in range") }
                s = String(u)
            }
            numeric = false
        default:
            throw TemplateError(.type, "unsupported format character '\(type)'")
        }
        if !numeric, let precision { s = String(scalars: s.unicodeScalars.prefix(precision)) }
        if flags.contains("-") {
            s = pad(s, width: width, left: true)
        } else if numeric && flags.contains("0") && s.pyLength < width {
            let signed = s.first.map { "+- ".contains($0) } ?? false
            let sign = signed ? String(s.removeFirst()) : ""
            var prefix = ""
            if s.hasPrefix("0x") || s.hasPrefix("0X") || s.hasPrefix("0o") {
                prefix = String(s.prefix(2))
                s.removeFirst(2)
            }
            s = sign + prefix + String(repeating: "0", count: width - s.pyLength - sign.count - prefix.count) + s
        } else {
            s = pad(s, width: width, left: false)
        }
        out += s
    }
    // Python never complains about unused mapping arguments.
    if mapping == nil, next < positional.count {
        throw TemplateError(.type, "not all arguments converted during string formatting")
    }
    return out
}

/// `format(value, spec)`: Python's format-spec mini-language for str, int, float and bool.
func pyFormatValue(_ v: Obj, _ spec: String) throws -> String {
    if spec.isEmpty { return pyStr(v) }
    var s = Array(spec)
    var fill: Character = " "
    var align: Character? = nil
    if s.count >= 2, "<>=^".contains(s[1]) {
        fill = s[0]; align = s[1]; s.removeFirst(2)
    } else if let first = s.first, "<>=^".contains(first) {
        align = first; s.removeFirst()
    }
    var sign: Character = "-"
    if let first = s.first, "+- ".contains(first) { sign = first; s.removeFirst() }
    var alternate = false
    if s.first == "#" { alternate = true; s.removeFirst() }
    if s.first == "0" {
        if align == nil { fill = "0"; align = "=" }
        s.removeFirst()
    }
    var width = 0
    while let d = s.first?.wholeNumberValue, s.first!.isASCII { width = width * 10 + d; s.removeFirst() }
    var grouping: Character? = nil
    if let g = s.first, g == "," || g == "_" { grouping = g; s.removeFirst() }
    var precision: Int? = nil
    if s.first == "." {
        s.removeFirst()
        var p = 0
        var any = false
        while let d = s.first?.wholeNumberValue, s.first!.isASCII { p = p * 10 + d; s.removeFirst(); any = true }
        guard any else { throw TemplateError(.type, "Format specifier missing precision") }
        precision = p
    }
    let type: Character? = s.first
    if s.count > 1 { throw TemplateError(.type, "Invalid format specifier '\(spec)' for object of type '\(v.typeName)'") }

    var body: String
    var signText = ""
    var numeric = true
    func signFor(_ negative: Bool) -> String {
        negative ? "-" : sign == "+" ? "+" : sign == " " ? " " : ""
    }
    func group(_ digits: String) -> String {
        guard let grouping else { return digits }
        var out: [Character] = []
        for (n, c) in digits.reversed().enumerated() {
            if n > 0, n % 3 == 0 { out.append(grouping) }
            out.append(c)
        }
        return String(out.reversed())
    }
    let floatType = type.map { "eEfFgG%".contains($0) } ?? false
    switch v {
    case .string(let str):
        guard type == nil || type == "s" else {
            throw TemplateError(.type, "Unknown format code '\(type!)' for object of type 'str'")
        }
        body = precision.map { String(scalars: str.unicodeScalars.prefix($0)) } ?? str
        numeric = false
    case .int(_) where !floatType, .bool(_) where !floatType:
        guard case .int(let n) = Number(v) else { return pyStr(v) }
        switch type {
        case nil, "d", "n": body = group(String(n.magnitude))
        case "b": body = (alternate ? "0b" : "") + String(n.magnitude, radix: 2)
        case "o": body = (alternate ? "0o" : "") + String(n.magnitude, radix: 8)
        case "x": body = (alternate ? "0x" : "") + String(n.magnitude, radix: 16)
        case "X": body = (alternate ? "0X" : "") + String(n.magnitude, radix: 16, uppercase: true)
        case "c":
            guard let u = Unicode.Scalar(UInt32(clamping: n)) else { throw TemplateError(.type, "%c arg not in range") }
            body = String(u)
        default:
            throw TemplateError(.type, "Unknown format code '\(type!)' for object of type '\(v.typeName)'")
        }
        if precision != nil { throw TemplateError(.type, "Precision not allowed in integer format specifier") }
        signText = signFor(n < 0)
    case .int, .bool, .double:
        let d = Number(v)!.double
        var t = type ?? "g"
        var value = d
        var suffix = ""
        if t == "%" { value = d * 100; suffix = "%"; t = "f" }
        let p = precision ?? (type == nil ? -1 : 6)
        if p < 0 {
            // No type and no precision: like repr().
            body = pyFloatRepr(abs(value))
            if case .int(let i) = Number(v) { body = String(i.magnitude) }
        } else if type == nil {
            // 'g' semantics but always keeping a digit after the point for whole numbers.
            body = formatFloat(abs(value), flags: alternate ? "#" : "", precision: max(p, 1), type: "g")
            if value.isFinite, !body.contains("."), !body.contains("e") { body += ".0" }
        } else {
            body = formatFloat(abs(value), flags: alternate ? "#" : "", precision: p, type: t)
        }
        if grouping != nil, let dot = body.firstIndex(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            body = group(String(body[..<dot])) + body[dot...]
        } else if grouping != nil, body.allSatisfy(\.isNumber) {
            body = group(body)
        }
        body += suffix
        signText = signFor(value.sign == .minus && !value.isNaN)
    default:
        throw TemplateError(.type, "unsupported format string passed to \(v.typeName).__format__")
    }
    let total = signText.count + body.pyLength
    guard width > total else { return signText + body }
    let padding = width - total
    switch align ?? (numeric ? ">" : "<") {
    case "<": return signText + body + String(repeating: fill, count: padding)
    case "^":
        let left = padding / 2
        return String(repeating: fill, count: left) + signText + body + String(repeating: fill, count: padding - left)
    case "=": return signText + String(repeating: fill, count: padding) + body
    default: return String(repeating: fill, count: padding) + signText + body
    }
}

/// `str.format(*args, **kwargs)`. Field names may use `.attr` and `[key]` lookups.
func pyStrFormat(_ fmt: String, _ args: Arguments, lookup: (Obj, Obj, Bool) throws -> Obj) throws -> String {
    let f = Array(fmt)
    var out = ""
    var i = 0
    var auto = 0
    while i < f.count {
        let c = f[i]
        if c == "}" {
            guard i + 1 < f.count, f[i + 1] == "}" else { throw TemplateError(.type, "Single '}' encountered in format string") }
            out.append("}")
            i += 2
            continue
        }
        guard c == "{" else { out.append(c); i += 1; continue }
        if i + 1 < f.count, f[i + 1] == "{" { out.append("{"); i += 2; continue }
        var depth = 1
        var j = i + 1
        while j < f.count, depth > 0 {
            if f[j] == "{" { depth += 1 } else if f[j] == "}" { depth -= 1 }
            if depth > 0 { j += 1 }
        }
        guard j < f.count else { throw TemplateError(.type, "Single '{' encountered in format string") }
        let field = Array(f[(i + 1)..<j])
        i = j + 1
        let nameEnd = field.firstIndex { $0 == "!" || $0 == ":" } ?? field.count
        var conversion: Character? = nil
        var spec = ""
        if nameEnd < field.count, field[nameEnd] == "!" {
            guard nameEnd + 1 < field.count else { throw TemplateError(.type, "end of string while looking for conversion specifier") }
            conversion = field[nameEnd + 1]
            if nameEnd + 2 < field.count {
                guard field[nameEnd + 2] == ":" else { throw TemplateError(.type, "expected ':' after conversion specifier") }
                spec = String(field[(nameEnd + 3)...])
            }
        } else if nameEnd < field.count {
            spec = String(field[(nameEnd + 1)...])
        }
        let name = Array(field[..<nameEnd])
        // Split "first.attr[key]" into its head and accessors.
        var headEnd = name.firstIndex { $0 == "." || $0 == "[" } ?? name.count
        let head = String(name[..<headEnd])
        var value: Obj
        if head.isEmpty {
            guard auto < args.positional.count else { throw TemplateError(.type, "Replacement index \(auto) out of range for positional args tuple") }
            value = args.positional[auto]
            auto += 1
        } else if let n = Int(head) {
            guard n < args.positional.count else { throw TemplateError(.type, "Replacement index \(n) out of range for positional args tuple") }
            value = args.positional[n]
        } else {
            guard let v = args.keyword(head) else { throw TemplateError(.type, "KeyError: \(pyRepr(head))") }
            value = v
        }
        while headEnd < name.count {
            if name[headEnd] == "." {
                var e = headEnd + 1
                while e < name.count, name[e] != ".", name[e] != "[" { e += 1 }
                value = try lookup(value, .string(String(name[(headEnd + 1)..<e])), true)
                headEnd = e
            } else {
                guard let close = name[headEnd...].firstIndex(of: "]") else { throw TemplateError(.type, "Missing ']' in format string") }
                let key = String(name[(headEnd + 1)..<close])
                value = try lookup(value, Int(key).map { .int($0) } ?? .string(key), false)
                headEnd = close + 1
            }
        }
        switch conversion {
        case nil: break
        case "s": value = .string(pyStr(value))
        case "r", "a": value = .string(pyRepr(value))
        default: throw TemplateError(.type, "Unknown conversion specifier \(conversion!)")
        }
        if spec.contains("{") {
            spec = try pyStrFormat(spec, args, lookup: lookup)
        }
        out += try pyFormatValue(value, spec)
    }
    return out
}
