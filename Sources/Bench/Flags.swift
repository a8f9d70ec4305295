/// Reads `--flag value` and `--flag=value` arguments for the benchmark modes, with the checks
/// they share (positive integers, lists of them, seconds).
struct Flags {
    private var it: ArraySlice<String>.Iterator
    private var inline: String?
    /// The current flag, for messages.
    private(set) var flag = ""

    init(_ args: ArraySlice<String>) { it = args.makeIterator() }

    /// The next flag's name, or nil at the end.
    mutating func next() -> String? {
        guard let arg = it.next() else { return nil }
        let parts = arg.split(separator: "=", maxSplits: 1).map(String.init)
        flag = parts[0]
        inline = parts.count == 2 ? parts[1] : nil
        return flag
    }

    mutating func value() throws -> String {
        if let inline { return inline }
        guard let v = it.next() else { throw UsageError(description: "\(flag) needs a value") }
        return v
    }

    mutating func positive(allowZero: Bool = false) throws -> Int { try Self.positive(flag, try value(), allowZero: allowZero) }

    mutating func positiveList() throws -> [Int] {
        let list = try value().split(separator: ",").map { try Self.positive(flag, String($0)) }
        if list.isEmpty { throw UsageError(description: "\(flag): no values given") }
        return list
    }

    mutating func seconds() throws -> Double {
        let v = try value()
        guard let t = Double(v), t >= 0, t.isFinite else {
            throw UsageError(description: "\(flag): expected seconds (a non-negative number), got '\(v)'")
        }
        return t
    }

    func unknown() -> UsageError { UsageError(description: "unknown option '\(flag)'") }

    static func positive(_ flag: String, _ s: String, allowZero: Bool = false) throws -> Int {
        guard let n = Int(s), n > 0 || (allowZero && n == 0) else {
            throw UsageError(description: "\(flag): expected a \(allowZero ? "non-negative" : "positive") integer, got '\(s)'")
        }
        return n
    }
}
