import Foundation

/// Global functions a transformers chat template can call: jinja2's defaults (range, dict,
/// namespace, joiner) plus transformers' `raise_exception` and `strftime_now`.
enum Builtins {
    /// jinja2's sandbox refuses ranges longer than this.
    static let maxRange = 100_000

    static func globals(options: Template.Options) -> [String: Obj] {
        let now = options.now
        return [
            "range": .callable(Callable("range", range)),
            "dict": .callable(Callable("dict") { args in
                var d = OrderedMap<Obj>()
                guard args.positional.count <= 1 else {
                    throw TemplateError(.type, "dict expected at most 1 argument, got \(args.positional.count)")
                }
                if let src = args.positional.first { d = try mapping(src, "dict") }
                for (k, v) in args.keywords { d[k] = v }
                return .dict(d)
            }),
            "namespace": .callable(Callable("namespace") { args in
                var d = OrderedMap<Obj>()
                for p in args.positional {
                    for (k, v) in zip(try mapping(p, "namespace").keys, try mapping(p, "namespace").values) { d[k] = v }
                }
                for (k, v) in args.keywords { d[k] = v }
                return .namespace(Namespace(d))
            }),
            "joiner": .callable(Callable("joiner") { args in
                let sep = try args.bind("joiner", [("sep", .string(", "))])[0]
                let used = Namespace(OrderedMap())
                return .callable(Callable("joiner") { _ in
                    if used.attrs["used"] == nil {
                        used.attrs["used"] = .bool(true)
                        return .string("")
                    }
                    return sep
                })
            }),
            "raise_exception": .callable(Callable("raise_exception") { args in
                let message = try args.bind("raise_exception", [("message", nil)])[0]
                throw TemplateError(.raised, pyStr(message))
            }),
            "strftime_now": .callable(Callable("strftime_now") { args in
                let format = try args.bind("strftime_now", [("format", nil)])[0]
                guard case .string(let f) = format else {
                    throw TemplateError(.type, "strftime() argument 1 must be str, not \(format.typeName)")
                }
                return .string(strftime(f, now()))
            }),
        ]
    }

    private static func mapping(_ v: Obj, _ fn: String) throws -> OrderedMap<Obj> {
        switch v {
        case .dict(let d): return d
        case .namespace(let ns): return ns.attrs
        default:
            var d = OrderedMap<Obj>()
            for item in try pyIterate(v) {
                let pair = try pyIterate(item)
                guard pair.count == 2, case .string(let k) = pair[0] else {
                    throw TemplateError(.type, "\(fn)() needs a mapping or (str, value) pairs")
                }
                d[k] = pair[1]
            }
            return d
        }
    }

    private static func range(_ args: Arguments) throws -> Obj {
        let a = try args.positional.map { try Filters.intArg($0, "range") }
        guard args.keywords.isEmpty else { throw TemplateError(.type, "range() takes no keyword arguments") }
        var start = 0, stop = 0, step = 1
        switch a.count {
        case 1: stop = a[0]
        case 2: (start, stop) = (a[0], a[1])
        case 3: (start, stop, step) = (a[0], a[1], a[2])
        default: throw TemplateError(.type, "range expected 1 to 3 arguments, got \(a.count)")
        }
        guard step != 0 else { throw TemplateError(.type, "range() arg 3 must not be zero") }
        // Exact, overflow-free length: ceil((stop - start) / step), or 0 when the range is empty.
        var count = 0
        if (step > 0 && stop > start) || (step < 0 && stop < start) {
            let span = stop > start ? UInt(bitPattern: stop &- start) : UInt(bitPattern: start &- stop)
            let n = (span - 1) / step.magnitude + 1
            count = n > UInt(maxRange) ? maxRange + 1 : Int(n)
        }
        guard count <= maxRange else {
            throw TemplateError(.security, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .seq(.range(start, stop, step), (0..<count).map { .int(start + $0 * step) })
    }

    /// `datetime.now().strftime(format)` in the C locale, local time zone, with glibc's `%-d` style
    /// no-padding flag (Python on Linux passes it through to glibc).
    static func strftime(_ format: String, _ date: Date) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone.current
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond, .weekday], from: date)
        let year = c.year!, month = c.month!, day = c.day!, hour = c.hour!, minute = c.minute!, second = c.second!
        let weekday = c.weekday! - 1 // 0 = Sunday
        let dayOfYear = cal.ordinality(of: .day, in: .year, for: date) ?? 1
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let offset = TimeZone.current.secondsFromGMT(for: date)
        var out = ""
        let chars = Array(format)
        var i = 0
        func num(_ v: Int, _ width: Int, _ pad: Bool) -> String {
            let s = String(v)
            return pad && s.count < width ? String(repeating: "0", count: width - s.count) + s : s
        }
        while i < chars.count {
            guard chars[i] == "%", i + 1 < chars.count else { out.append(chars[i]); i += 1; continue }
            var j = i + 1
            var pad = true
            if chars[j] == "-", j + 1 < chars.count { pad = false; j += 1 }
            let d = chars[j]
            i = j + 1
            switch d {
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "d": out += num(day, 2, pad)
            case "e": out += pad && day < 10 ? " \(day)" : String(day)
            case "H": out += num(hour, 2, pad)
            case "I": out += num(hour % 12 == 0 ? 12 : hour % 12, 2, pad)
            case "j": out += num(dayOfYear, 3, pad)
            case "m": out += num(month, 2, pad)
            case "M": out += num(minute, 2, pad)
            case "S": out += num(second, 2, pad)
            case "f": out += num((c.nanosecond ?? 0) / 1000, 6, true)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "y": out += num(year % 100, 2, pad)
            case "Y": out += String(year)
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "z":
                let m = abs(offset) / 60
                out += (offset < 0 ? "-" : "+") + num(m / 60, 2, true) + num(m % 60, 2, true)
            case "Z": out += TimeZone.current.abbreviation(for: date) ?? ""
            case "D": out += num(month, 2, true) + "/" + num(day, 2, true) + "/" + num(year % 100, 2, true)
            case "F": out += String(year) + "-" + num(month, 2, true) + "-" + num(day, 2, true)
            case "T": out += num(hour, 2, true) + ":" + num(minute, 2, true) + ":" + num(second, 2, true)
            case "R": out += num(hour, 2, true) + ":" + num(minute, 2, true)
            case "c":
                out += String(days[weekday].prefix(3)) + " " + String(months[month - 1].prefix(3)) + " "
                    + (day < 10 ? " \(day)" : String(day)) + " " + num(hour, 2, true) + ":" + num(minute, 2, true)
                    + ":" + num(second, 2, true) + " " + String(year)
            case "x": out += num(month, 2, true) + "/" + num(day, 2, true) + "/" + num(year % 100, 2, true)
            case "X": out += num(hour, 2, true) + ":" + num(minute, 2, true) + ":" + num(second, 2, true)
            case "n": out += "\n"
            case "t": out += "\t"
            case "%": out += "%"
            default:
                out.append("%")
                if !pad { out.append("-") }
                out.append(d)
            }
        }
        return out
    }
}
