/// Source position of a node, for error messages.
struct Loc: Sendable {
    var line: Int
    var column: Int
}

/// A literal known at parse time.
enum Literal: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
}

/// Call arguments as written: `f(a, b, key=c, *args, **kwargs)`.
struct CallArgs: Sendable {
    var positional: [Expr] = []
    var keywords: [(String, Expr)] = []
    var starArgs: Expr? = nil
    var starKwargs: Expr? = nil
}

enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", floorDiv = "//", mod = "%", pow = "**"
}

enum CompareOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in` = "in", notIn = "not in"
}

struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(Literal)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case getattr(Expr, String)
        case getitem(Expr, Expr)
        case slice(Expr?, Expr?, Expr?)
        case call(Expr, CallArgs)
        /// `base | name(args)`; base is nil inside `{% filter %}` and `{% set x | f %}` heads.
        case filter(Expr?, String, CallArgs)
        case test(Expr, String, CallArgs)
        case not(Expr)
        case negate(Expr)
        case plus(Expr)
        case binary(BinaryOp, Expr, Expr)
        case concat([Expr])
        case compare(Expr, [(CompareOp, Expr)])
        case and(Expr, Expr)
        case or(Expr, Expr)
        case conditional(test: Expr, then: Expr, otherwise: Expr?)
    }
    var kind: Kind
    var loc: Loc
}

/// Left-hand side of `set` and `for`.
indirect enum Target: Sendable {
    case name(String)
    case tuple([Target])
    case namespaceAttr(String, String)
}

struct MacroParam: Sendable {
    var name: String
    var defaultValue: Expr?
}

struct Stmt: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(Expr)
        case `if`([(Expr, [Stmt])], otherwise: [Stmt])
        case `for`(target: Target, iter: Expr, filter: Expr?, body: [Stmt], otherwise: [Stmt], recursive: Bool)
        case set(Target, Expr)
        case setBlock(Target, filter: Expr?, body: [Stmt])
        case macro(name: String, params: [MacroParam], body: [Stmt])
        case callBlock(call: Expr, params: [MacroParam], body: [Stmt])
        case filterBlock(filter: Expr, body: [Stmt])
        case with(assignments: [(Target, Expr)], body: [Stmt])
        /// transformers' `{% generation %}` tag: renders its body and records where it landed.
        case generation([Stmt])
        case `break`
        case `continue`
    }
    var kind: Kind
    var loc: Loc
}
