import Foundation

/// Data handed to a template: the JSON-like values a chat template sees (messages, tools, special
/// tokens, flags). Objects keep their keys in insertion order, as Python dicts do, because
/// `tojson` and `for k, v in d.items()` print keys in that order.
public enum Value: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(OrderedMap<Value>)

    /// Builds an object from key/value pairs, keeping their order (a later duplicate key replaces
    /// the earlier value in place, as in a Python dict literal).
    public static func object(_ pairs: [(String, Value)]) -> Value {
        .object(OrderedMap(pairs))
    }

    public subscript(key: String) -> Value? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public subscript(index: Int) -> Value? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    /// Dictionary literals arrive in source order, so `["role": "user", "content": "hi"]` keeps it.
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(OrderedMap(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension Value {
    /// Converts Foundation values (`String`, `Int`, `Double`, `Bool`, `NSNumber`, `NSNull`, arrays,
    /// `[String: Any]`, `KeyValuePairs`) into a `Value`. Swift dictionaries have no order, so their
    /// keys are sorted to keep renders deterministic; use `Value(jsonData:)` or dictionary literals
    /// when key order matters (it does for `tojson`).
    public init(any: Any?) throws {
        guard let any else { self = .none; return }
        switch any {
        case let v as Value: self = v
        case is NSNull: self = .none
        case let s as String: self = .string(s)
        case let s as Substring: self = .string(String(s))
        case let b as Bool where type(of: any) == Bool.self: self = .bool(b)
        case let i as Int where type(of: any) == Int.self: self = .int(i)
        case let d as Double where type(of: any) == Double.self: self = .double(d)
        case let n as NSNumber: self = Value.fromNumber(n)
        case let i as Int32: self = .int(Int(i))
        case let i as Int64: self = .int(Int(i))
        case let f as Float: self = .double(Double(f))
        case let a as [Any?]: self = .array(try a.map { try Value(any: $0) })
        case let a as [Any]: self = .array(try a.map { try Value(any: $0) })
        case let kv as KeyValuePairs<String, Any>:
            self = .object(OrderedMap(try kv.map { ($0.key, try Value(any: $0.value)) }))
        case let d as [String: Any?]:
            self = .object(OrderedMap(try d.keys.sorted().map { ($0, try Value(any: d[$0] ?? nil)) }))
        case let d as [String: Any]:
            self = .object(OrderedMap(try d.keys.sorted().map { ($0, try Value(any: d[$0]!)) }))
        default:
            throw TemplateError(.type, "cannot convert a value of type \(type(of: any)) to a template value")
        }
    }

    private static func fromNumber(_ n: NSNumber) -> Value {
        // JSONSerialization hands out NSNumbers; "c" is how a boxed Bool reports itself.
        switch String(cString: n.objCType) {
        case "c", "B": return .bool(n.boolValue)
        case "f", "d": return .double(n.doubleValue)
        default: return .int(n.intValue)
        }
    }

    /// Parses JSON text keeping object key order and the int/float distinction (`1` vs `1.0`), as
    /// Python's `json.loads` does.
    public init(jsonData: Data) throws {
        self = try JSONReader.parse(Array(jsonData))
    }

    public init(jsonString: String) throws {
        self = try JSONReader.parse(Array(jsonString.utf8))
    }

    /// Serializes like Python's `json.dumps(value, ensure_ascii=False, indent=indent)`.
    public func jsonString(indent: Int? = nil, sortKeys: Bool = false) -> String {
        // Plain data always serializes; the force-try cannot fire.
        try! JSONWriter(indent: indent.map { String(repeating: " ", count: max($0, 0)) },
                        sortKeys: sortKeys).write(Obj(self))
    }
}

extension Value: CustomStringConvertible {
    /// The value as JSON (Python's `json.dumps` formatting).
    public var description: String { jsonString() }
}

/// An insertion-ordered dictionary with string keys. Keys compare by Unicode scalars, not by
/// canonical equivalence, because Python dict keys do (`"é"` and `"e\u{301}"` are different keys).
public struct OrderedMap<Element> {
    public private(set) var keys: [String] = []
    public private(set) var values: [Element] = []
    private var index: [ScalarKey: Int] = [:]

    public init() {}

    public init(_ pairs: some Sequence<(String, Element)>) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> Element? {
        get { index[ScalarKey(key)].map { values[$0] } }
        set {
            let k = ScalarKey(key)
            if let i = index[k] {
                if let newValue { values[i] = newValue } else { remove(at: i) }
            } else if let newValue {
                index[k] = keys.count
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    public func contains(_ key: String) -> Bool { index[ScalarKey(key)] != nil }

    public var pairs: [(key: String, value: Element)] {
        zip(keys, values).map { (key: $0.0, value: $0.1) }
    }

    private mutating func remove(at i: Int) {
        keys.remove(at: i)
        values.remove(at: i)
        index = [:]
        for (j, k) in keys.enumerated() { index[ScalarKey(k)] = j }
    }

    func mapValues<T>(_ f: (Element) throws -> T) rethrows -> OrderedMap<T> {
        var out = OrderedMap<T>()
        out.keys = keys
        out.values = try values.map(f)
        out.index = index
        return out
    }
}

extension OrderedMap: Sendable where Element: Sendable {}

extension OrderedMap: Equatable where Element: Equatable {
    /// Order-insensitive, like Python dict equality.
    public static func == (a: OrderedMap, b: OrderedMap) -> Bool {
        guard a.count == b.count else { return false }
        for (k, v) in zip(a.keys, a.values) {
            guard let w = b[k], w == v else { return false }
        }
        return true
    }
}

/// A String key hashed and compared by its Unicode scalars (Python `str` semantics).
struct ScalarKey: Hashable, Sendable {
    let s: String
    init(_ s: String) { self.s = s }
    static func == (a: ScalarKey, b: ScalarKey) -> Bool { a.s.utf8.elementsEqual(b.s.utf8) }
    func hash(into h: inout Hasher) {
        h.combine(s.utf8.count)
        for b in s.utf8 { h.combine(b) }
    }
}
