import Foundation

/// jinja2's builtin tests (`x is defined`, `x is divisibleby 3`, ...), following jinja2/tests.py.
enum Tests {
    static let names: Set<String> = [
        "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false",
        "true", "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence", "iterable",
        "callable", "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan",
        "ge", ">=", "<", "lt", "lessthan", "<=", "le",
    ]

    static func apply(_ name: String, _ v: Obj, _ args: Arguments, _ ip: Interpreter) throws -> Bool {
        func one() throws -> Obj { try args.bind(name, [("other", nil)])[0] }
        func none() throws { _ = try args.bind(name, []) }
        switch name {
        case "defined": try none(); return !v.isUndefined
        case "undefined": try none(); return v.isUndefined
        case "none": try none(); return v.isNone
        case "boolean":
            try none()
            if case .bool = v { return true }
            return false
        case "true":
            try none()
            if case .bool(true) = v { return true }
            return false
        case "false":
            try none()
            if case .bool(false) = v { return true }
            return false
        case "integer":
            try none()
            if case .int = v { return true }
            return false
        case "float":
            try none()
            return v.isDoubleValue
        case "number":
            try none()
            return Number(v) != nil
        case "string":
            try none()
            return v.isString
        case "mapping":
            try none()
            if case .dict = v { return true }
            return false
        case "iterable":
            try none()
            switch v {
            case .undefined, .string, .list, .tuple, .dict, .seq: return true
            default: return false
            }
        case "sequence":
            // len() and __getitem__ both exist (jinja2's Undefined has both).
            try none()
            switch v {
            case .undefined, .string, .list, .tuple, .dict: return true
            case .seq(let k, _):
                if case .range = k { return true }
                return false
            default: return false
            }
        case "callable":
            try none()
            switch v {
            case .callable, .loop, .undefined: return true
            default: return false
            }
        case "sameas":
            let other = try one()
            switch (v, other) {
            case (.namespace(let a), .namespace(let b)): return a === b
            case (.callable(let a), .callable(let b)): return a === b
            case (.loop(let a), .loop(let b)): return a === b
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b
            case (.string(let a), .string(let b)): return a.pyEquals(b)
            default: return false
            }
        case "escaped": try none(); return false
        case "in": return try pyContains(try one(), v)
        case "==", "eq", "equalto": return pyEqual(v, try one())
        case "!=", "ne": return !pyEqual(v, try one())
        case ">", "gt", "greaterthan": return try pyCompare(v, try one(), ">")
        case ">=", "ge": return try pyCompare(v, try one(), ">=")
        case "<", "lt", "lessthan": return try pyCompare(v, try one(), "<")
        case "<=", "le": return try pyCompare(v, try one(), "<=")
        case "odd", "even":
            try none()
            let r = try pyBinary(.mod, v, .int(2))
            return pyEqual(r, .int(name == "odd" ? 1 : 0))
        case "divisibleby":
            let num = try args.bind(name, [("num", nil)])[0]
            return pyEqual(try pyBinary(.mod, v, num), .int(0))
        case "lower", "upper":
            try none()
            return try Methods.stringMethod(pyStr(v), name == "lower" ? "islower" : "isupper", Arguments())
                .isTrueBool
        case "filter":
            try none()
            if case .string(let s) = v { return Filters.names.contains(s) }
            return false
        case "test":
            try none()
            if case .string(let s) = v { return names.contains(s) }
            return false
        default:
            throw TemplateError(.runtime, "No test named '\(name)'.")
        }
    }
}

extension Obj {
    var isTrueBool: Bool {
        if case .bool(true) = self { return true }
        return false
    }
}
