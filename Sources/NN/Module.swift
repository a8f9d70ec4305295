import Foundation
import Tensor

/// A learnable tensor held by a module. A reference box, so that parameter trees can be updated
/// in place by path (optimizers, checkpoint loading, adapters) while layer code reads it as a
/// plain `Tensor` property: `@Parameter var weight: Tensor`.
@propertyWrapper
public final class Parameter: @unchecked Sendable {
    public var value: Tensor
    /// The name in checkpoints when it differs from the Swift property name.
    public let key: String?

    public init(wrappedValue: Tensor, key: String? = nil) {
        self.value = wrappedValue
        self.key = key
    }

    public var wrappedValue: Tensor {
        get { value }
        set { value = newValue }
    }
}

/// A child module stored under a checkpoint name that differs from the Swift property name,
/// e.g. `@Child(key: "q_proj") var qProj: Linear`.
@propertyWrapper
public final class Child<M>: @unchecked Sendable {
    public var value: M
    public let key: String

    public init(wrappedValue: M, key: String) {
        self.value = wrappedValue
        self.key = key
    }

    public var wrappedValue: M {
        get { value }
        set { value = newValue }
    }
}

/// The base of every layer and model.
///
/// Parameters (`@Parameter` tensors) and children (stored `Module`s, arrays of modules and
/// optionals) are found by reflection, so a model is plain Swift: declare properties, write
/// `callAsFunction`. Paths join names with dots, arrays by index: `layers.3.mlp.up_proj.weight`.
open class Module: @unchecked Sendable {
    /// Whether the module is training (dropout on) or evaluating.
    public private(set) var training = true
    /// Local parameter names that optimizers must not touch.
    public private(set) var frozenNames: Set<String> = []

    public init() {}

    // MARK: Structure

    /// Direct parameters and children, in declaration order.
    public func items() -> (parameters: [(String, Parameter)], children: [(String, Module)]) {
        var params: [(String, Parameter)] = []
        var children: [(String, Module)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var chain: [Mirror] = []
        while let m = mirror {
            chain.append(m)
            mirror = m.superclassMirror
        }
        // Superclass properties first, as declared.
        for m in chain.reversed() {
            for case (let label?, let value) in m.children {
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                collect(name, value, &params, &children)
            }
        }
        return (params, children)
    }

    private func collect(_ name: String, _ value: Any, _ params: inout [(String, Parameter)], _ children: inout [(String, Module)]) {
        switch value {
        case let p as Parameter:
            params.append((p.key ?? name, p))
        case let m as Module:
            children.append((name, m))
        case let ms as [Module]:
            for (i, m) in ms.enumerated() { children.append(("\(name).\(i)", m)) }
        case let c as ChildKeyed:
            collect(c.childKey, c.childValue, &params, &children)
        case let o as OptionalValue:
            if let inner = o.wrapped { collect(name, inner, &params, &children) }
        default:
            break
        }
    }

    /// Every module in the tree with its path ("" for self), parents before children.
    public func modules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (name, child) in items().children {
            out += child.modules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return out
    }

    /// Every parameter box with its full path.
    public func parameterBoxes() -> [(String, Parameter)] {
        var out: [(String, Parameter)] = []
        for (path, module) in modules() {
            for (name, p) in module.items().parameters {
                out.append((path.isEmpty ? name : "\(path).\(name)", p))
            }
        }
        return out
    }

    /// All parameters as a flat map from path to tensor.
    public func parameters() -> [String: Tensor] {
        Dictionary(parameterBoxes().map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Parameters an optimizer should update: everything not frozen.
    public func trainableParameters() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (path, module) in modules() {
            for (name, p) in module.items().parameters where !module.frozenNames.contains(name) {
                out[path.isEmpty ? name : "\(path).\(name)"] = p.value
            }
        }
        return out
    }

    public func parameterCount() -> Int { parameters().values.reduce(0) { $0 + $1.size } }
    public func trainableParameterCount() -> Int { trainableParameters().values.reduce(0) { $0 + $1.size } }

    // MARK: Updating

    /// Replaces parameters by path. With `strict`, every key must name an existing parameter and
    /// shapes must agree; the error names the offending key.
    public func update(parameters new: [String: Tensor], strict: Bool = true) throws {
        let boxes = Dictionary(parameterBoxes(), uniquingKeysWith: { a, _ in a })
        // Check everything before changing anything: a rejected update leaves the model as it was.
        var accepted: [(Parameter, Tensor)] = []
        for key in new.keys.sorted() {
            let value = new[key]!
            guard let box = boxes[key] else {
                if strict { throw ModuleError.unknownParameter(key) }
                continue
            }
            if strict, box.value.shape != value.shape {
                throw ModuleError.shapeMismatch(key, expected: box.value.shape, got: value.shape)
            }
            accepted.append((box, value))
        }
        for (box, value) in accepted { box.value = value }
    }

    /// Replaces the child at `path` (e.g. "layers.3.self_attn.q_proj") with `module`: how
    /// adapters wrap layers. Works for plain properties, `@Child` properties and array elements.
    public func replaceModule(at path: String, with module: Module) throws {
        var parts = path.split(separator: ".").map(String.init)
        guard let last = parts.popLast() else { throw ModuleError.unknownModule(path) }
        let all = modules()
        guard all.contains(where: { $0.0 == path }) else { throw ModuleError.unknownModule(path) }
        // An array element ("layers.3") lives in an array property of the grandparent.
        if let idx = Int(last), let arrayName = parts.last,
           let holder = all.first(where: { $0.0 == parts.dropLast().joined(separator: ".") })?.1 {
            guard holder.setArrayElement(arrayName, idx, module) else { throw ModuleError.notReplaceable(path) }
            return
        }
        guard let parent = all.first(where: { $0.0 == parts.joined(separator: ".") })?.1,
              parent.setChild(last, module) else {
            throw ModuleError.notReplaceable(path)
        }
    }

    /// Sets a child by name. Subclasses holding children in `let` or plain `var` properties that
    /// adapters must replace expose them through `@Child` (a reference box) or override this.
    open func setChild(_ name: String, _ module: Module) -> Bool {
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            for case (_, let value) in m.children {
                if let c = value as? ChildKeyed, c.childKey == name, c.setChildValue(module) { return true }
            }
            mirror = m.superclassMirror
        }
        return false
    }

    /// Sets element `index` of a module-array property; arrays are values, so layers that hold
    /// one override this to allow replacing their elements.
    open func setArrayElement(_ name: String, _ index: Int, _ module: Module) -> Bool { false }

    // MARK: Freezing and modes

    /// Freezes parameters whose full path matches any pattern (all when `patterns` is empty).
    /// Patterns are path globs: `*` matches within a name, `**` across dots; a plain name such as
    /// "embed_tokens" matches any path containing that component.
    public func freeze(_ patterns: [String] = []) { setFrozen(true, patterns) }
    public func unfreeze(_ patterns: [String] = []) { setFrozen(false, patterns) }

    private func setFrozen(_ frozen: Bool, _ patterns: [String]) {
        for (path, module) in modules() {
            for (name, _) in module.items().parameters {
                let full = path.isEmpty ? name : "\(path).\(name)"
                guard patterns.isEmpty || patterns.contains(where: { PathPattern.matches($0, full) }) else { continue }
                if frozen { module.frozenNames.insert(name) } else { module.frozenNames.remove(name) }
            }
        }
    }

    /// Training mode for this module and its children.
    public func train(_ on: Bool = true) {
        for (_, m) in modules() { m.training = on }
    }

    public func eval() { train(false) }
}

public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case unknownParameter(String)
    case unknownModule(String)
    case notReplaceable(String)
    case shapeMismatch(String, expected: [Int], got: [Int])
    case missingParameter(String)

    public var description: String {
        switch self {
        case .unknownParameter(let k): "no parameter named \(k) in the model"
        case .unknownModule(let k): "no module at \(k)"
        case .notReplaceable(let k): "module at \(k) is not held in a replaceable property (use @Child, or override setArrayElement)"
        case .shapeMismatch(let k, let e, let g): "parameter \(k): expected shape \(e), got \(g)"
        case .missingParameter(let k): "missing parameter \(k)"
        }
    }
}

// Type-erasure helpers for reflection over generic wrappers and optionals.
protocol ChildKeyed {
    var childKey: String { get }
    var childValue: Any { get }
    func setChildValue(_ value: Any) -> Bool
}

extension Child: ChildKeyed {
    var childKey: String { key }
    var childValue: Any { value }
    func setChildValue(_ v: Any) -> Bool {
        guard let m = v as? M else { return false }
        value = m
        return true
    }
}

protocol OptionalValue { var wrapped: Any? { get } }
extension Optional: OptionalValue {
    var wrapped: Any? { if case .some(let v) = self { v } else { nil } }
}

/// Glob matching on dotted parameter paths.
public enum PathPattern {
    public static func matches(_ pattern: String, _ path: String) -> Bool {
        if !pattern.contains("*") && !pattern.contains("?") {
            // A bare name or dotted fragment matches whole components anywhere in the path.
            return path == pattern || path.hasPrefix(pattern + ".") || path.hasSuffix("." + pattern)
                || path.contains("." + pattern + ".")
        }
        return glob(Array(pattern), 0, Array(path), 0)
    }

    private static func glob(_ p: [Character], _ i: Int, _ s: [Character], _ j: Int) -> Bool {
        if i == p.count { return j == s.count }
        if p[i] == "*" {
            let deep = i + 1 < p.count && p[i + 1] == "*"
            let next = deep ? i + 2 : i + 1
            var k = j
            while true {
                if glob(p, next, s, k) { return true }
                if k == s.count || (!deep && s[k] == ".") { return false }
                k += 1
            }
        }
        if j < s.count, p[i] == "?" || p[i] == s[j] { return glob(p, i + 1, s, j + 1) }
        return false
    }
}
