import Foundation

/// A runtime value: the Python objects a jinja2 template manipulates. It extends `Value` with the
/// things only templates create (undefined, tuples, iterators, namespaces, callables, `loop`).
/// Lists are values here; the sandbox that transformers uses forbids mutating them anyway.
indirect enum Obj {
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Obj])
    case tuple([Obj])
    case dict(OrderedMap<Obj>)
    /// Lazy Python objects a filter or method returns (generators, dict views, range): they iterate
    /// like lists but print, test and measure differently.
    case seq(SeqKind, [Obj])
    case namespace(Namespace)
    case callable(Callable)
    case loop(LoopContext)

    init(_ v: Value) {
        switch v {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(Obj.init))
        case .object(let o): self = .dict(o.mapValues(Obj.init))
        }
    }

    static func undefinedName(_ name: String) -> Obj {
        .undefined(Undefined(name: .string(name)))
    }

    static func undefined(hint: String) -> Obj {
        .undefined(Undefined(hint: hint))
    }

    /// The undefined value jinja2 returns for a missing attribute or item of `container`.
    static func missing(_ key: Obj, of container: Obj) -> Obj {
        .undefined(Undefined(container: container.typeRepr, name: key))
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// Python's `type(x).__name__`.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .seq(let k, _): return k.typeName
        case .namespace: return "Namespace"
        case .callable(let c): return c.kind == .macro ? "Macro" : "builtin_function_or_method"
        case .loop: return "LoopContext"
        }
    }

    /// jinja2's `object_type_repr`, used in "has no attribute" messages.
    var typeRepr: String {
        switch self {
        case .none: return "None"
        case .namespace: return "jinja2.utils.Namespace object"
        case .loop: return "jinja2.runtime.LoopContext object"
        case .callable(let c) where c.kind == .macro: return "jinja2.runtime.Macro object"
        default: return "\(typeName) object"
        }
    }
}

enum SeqKind: Equatable {
    case generator
    case reverseIterator
    case dictKeys, dictValues, dictItems
    case range(Int, Int, Int)

    var typeName: String {
        switch self {
        case .generator: return "generator"
        case .reverseIterator: return "list_reverseiterator"
        case .dictKeys: return "dict_keys"
        case .dictValues: return "dict_values"
        case .dictItems: return "dict_items"
        case .range: return "range"
        }
    }

    /// Whether `len()` works on it (generators and iterators have no length).
    var hasLength: Bool {
        switch self {
        case .generator, .reverseIterator: return false
        default: return true
        }
    }
}

/// Why a value is undefined. The message is what jinja2 reports when the template then uses it.
struct Undefined {
    var hint: String? = nil
    var container: String? = nil
    var name: Obj = .none
    var kind: TemplateError.Kind = .undefined

    init(hint: String? = nil, container: String? = nil, name: Obj = .none, kind: TemplateError.Kind = .undefined) {
        self.hint = hint
        self.container = container
        self.name = name
        self.kind = kind
    }

    var message: String {
        if let hint { return hint }
        guard let container else { return "\(pyRepr(name)) is undefined" }
        if case .string = name { return "'\(container)' has no attribute \(pyRepr(name))" }
        return "\(container) has no element \(pyRepr(name))"
    }

    var error: TemplateError { TemplateError(kind, message) }
}

/// `namespace(...)`: the one mutable object templates may assign attributes on.
final class Namespace {
    var attrs: OrderedMap<Obj>
    init(_ attrs: OrderedMap<Obj>) { self.attrs = attrs }
}

/// Positional and keyword arguments of a call, after evaluation.
struct Arguments {
    var positional: [Obj] = []
    var keywords: [(String, Obj)] = []

    init(_ positional: [Obj] = [], _ keywords: [(String, Obj)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    func keyword(_ name: String) -> Obj? { keywords.first { $0.0 == name }?.1 }

    /// Binds to a Python-style signature: `params` are names with optional defaults (nil means
    /// required). Returns one value per parameter.
    func bind(_ function: String, _ params: [(String, Obj?)]) throws -> [Obj] {
        if positional.count > params.count {
            throw TemplateError(.type, "\(function)() takes at most \(params.count) argument\(params.count == 1 ? "" : "s") (\(positional.count) given)")
        }
        var out = [Obj?](repeating: nil, count: params.count)
        for (i, v) in positional.enumerated() { out[i] = v }
        for (k, v) in keywords {
            guard let i = params.firstIndex(where: { $0.0 == k }) else {
                throw TemplateError(.type, "\(function)() got an unexpected keyword argument '\(k)'")
            }
            if out[i] != nil { throw TemplateError(.type, "\(function)() got multiple values for argument '\(k)'") }
            out[i] = v
        }
        return try params.indices.map { i in
            if let v = out[i] { return v }
            if let d = params[i].1 { return d }
            throw TemplateError(.type, "\(function)() missing required argument '\(params[i].0)'")
        }
    }
}

/// Something a template can call: builtins, bound methods, macros, `caller`, `loop.cycle`.
final class Callable {
    enum Kind { case function, method, macro }
    let name: String
    let kind: Kind
    let body: (Arguments) throws -> Obj

    init(_ name: String, kind: Kind = .function, _ body: @escaping (Arguments) throws -> Obj) {
        self.name = name
        self.kind = kind
        self.body = body
    }
}

/// The `loop` variable of a for loop.
final class LoopContext {
    let items: [Obj]
    var index0 = 0
    let depth0: Int
    var lastChanged: [Obj]? = nil
    /// `loop(...)` in a `recursive` loop.
    let recurse: Callable?

    init(items: [Obj], depth0: Int, recurse: Callable?) {
        self.items = items
        self.depth0 = depth0
        self.recurse = recurse
    }

    var length: Int { items.count }

    func attribute(_ name: String) -> Obj? {
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(length - index0)
        case "revindex0": return .int(length - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == length - 1)
        case "length": return .int(length)
        case "depth": return .int(depth0 + 1)
        case "depth0": return .int(depth0)
        case "previtem":
            return index0 > 0 ? items[index0 - 1] : .undefined(hint: "there is no previous item")
        case "nextitem":
            return index0 + 1 < length ? items[index0 + 1] : .undefined(hint: "there is no next item")
        case "cycle":
            return .callable(Callable("cycle", kind: .method) { [unowned self] args in
                guard !args.positional.isEmpty else { throw TemplateError(.type, "no items for cycling given") }
                return args.positional[self.index0 % args.positional.count]
            })
        case "changed":
            return .callable(Callable("changed", kind: .method) { [unowned self] args in
                if let last = self.lastChanged, pyEqual(.list(last), .list(args.positional)) { return .bool(false) }
                self.lastChanged = args.positional
                return .bool(true)
            })
        default: return nil
        }
    }
}

/// A lexical scope. For-loop iterations, macro calls and `with` blocks get a child scope, so a
/// `set` inside them does not leak out, exactly as jinja2's scoping rules require.
final class Scope {
    var vars: [String: Obj] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> Obj? {
        var s: Scope? = self
        while let c = s {
            if let v = c.vars[name] { return v }
            s = c.parent
        }
        return nil
    }
}
