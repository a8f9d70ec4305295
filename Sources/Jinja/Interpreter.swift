import Foundation

/// Executes a parsed template once. Not thread-safe and not reused: `Template.render` makes a new
/// one per call, so the `Template` itself stays immutable and Sendable.
final class Interpreter {
    let options: Template.Options
    private let globals: [String: Obj]
    private(set) var out = ""
    /// Unicode-scalar ranges of `{% generation %}` output, measured as transformers measures them.
    private(set) var generationRanges: [Range<Int>] = []
    /// Output buffers suspended while a macro, call or block `set` captures its own output.
    private var captureStack: [String] = []
    private var callDepth = 0
    /// Scopes captured by macros; cleared after rendering to break macro <-> scope cycles.
    private var macroScopes: [Scope] = []
    static let maxCallDepth = 100

    enum Flow { case normal, breakLoop, continueLoop }

    init(options: Template.Options, context: [String: Value]) {
        self.options = options
        var g = Builtins.globals(options: options)
        for (k, v) in context { g[k] = Obj(v) }
        globals = g
    }

    func run(_ body: [Stmt]) throws -> String {
        defer { for s in macroScopes { s.vars.removeAll() } }
        let top = Scope(parent: nil)
        _ = try exec(body, top)
        return out
    }

    // MARK: output

    func capture(_ body: () throws -> Void) rethrows -> String {
        captureStack.append(out)
        out = ""
        defer { out = captureStack.removeLast() }
        try body()
        return out
    }

    private func enterCall() throws {
        callDepth += 1
        if callDepth > Interpreter.maxCallDepth {
            callDepth -= 1
            throw TemplateError(.runtime, "maximum recursion depth exceeded (\(Interpreter.maxCallDepth) nested macro calls)")
        }
    }

    // MARK: statements

    func exec(_ stmts: [Stmt], _ scope: Scope) throws -> Flow {
        for s in stmts {
            let flow = try exec(s, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func exec(_ stmt: Stmt, _ scope: Scope) throws -> Flow {
        do {
            return try execUnlocated(stmt, scope)
        } catch var e as TemplateError where e.line == nil {
            e.line = stmt.loc.line
            e.column = stmt.loc.column
            throw e
        }
    }

    private func execUnlocated(_ stmt: Stmt, _ scope: Scope) throws -> Flow {
        switch stmt.kind {
        case .text(let t):
            out += t
        case .output(let e):
            out += pyStr(try eval(e, scope))
        case .if(let branches, let otherwise):
            for (test, body) in branches where pyTruthy(try eval(test, scope)) {
                return try exec(body, scope)
            }
            return try exec(otherwise, scope)
        case .for(let target, let iter, let filter, let body, let otherwise, let recursive):
            let items = try pyIterate(try eval(iter, scope))
            try runLoop(items, target: target, filter: filter, body: body, otherwise: otherwise,
                        recursive: recursive, depth0: 0, scope: scope)
        case .set(let target, let e):
            try assign(target, try eval(e, scope), scope)
        case .setBlock(let target, let filter, let body):
            // The body runs in an inner scope; a break/continue inside it leaves before assigning,
            // as in jinja2's inline compiled code.
            var flow = Flow.normal
            var value: Obj = .string(try capture { flow = try exec(body, Scope(parent: scope)) })
            if flow != .normal { return flow }
            if let filter { value = try applyFilterChain(filter, to: value, scope) }
            try assign(target, value, scope)
        case .macro(let name, let params, let body):
            scope.vars[name] = .callable(makeMacro(name: name, params: params, body: body, closure: scope))
        case .callBlock(let call, let params, let body):
            guard case .call(let callee, let args) = call.kind else { break }
            let caller = makeMacro(name: "caller", params: params, body: body, closure: scope)
            var evaluated = try evalArgs(args, scope)
            evaluated.keywords.append(("caller", .callable(caller)))
            out += pyStr(try callValue(try eval(callee, scope), evaluated))
        case .filterBlock(let filter, let body):
            var flow = Flow.normal
            let text = try capture { flow = try exec(body, Scope(parent: scope)) }
            if flow != .normal { return flow }
            out += pyStr(try applyFilterChain(filter, to: .string(text), scope))
        case .with(let assignments, let body):
            let inner = Scope(parent: scope)
            for (target, e) in assignments { try assign(target, try eval(e, scope), inner) }
            return try exec(body, inner)
        case .generation(let body):
            // transformers renders the body as a call block, so its `set`s stay inside it, and
            // records (length of the top-level output so far, + length of the body's output), even
            // when the block sits inside a macro.
            let text = try capture { _ = try exec(body, Scope(parent: scope)) }
            let base = (captureStack.first ?? out).unicodeScalars.count
            generationRanges.append(base..<(base + text.unicodeScalars.count))
            out += text
        case .break:
            return .breakLoop
        case .continue:
            return .continueLoop
        }
        return .normal
    }

    private func runLoop(_ all: [Obj], target: Target, filter: Expr?, body: [Stmt], otherwise: [Stmt],
                         recursive: Bool, depth0: Int, scope: Scope) throws {
        var items = all
        if let filter {
            items = try all.filter { item in
                let s = Scope(parent: scope)
                try assign(target, item, s)
                return pyTruthy(try eval(filter, s))
            }
        }
        if items.isEmpty {
            _ = try exec(otherwise, Scope(parent: scope))
            return
        }
        var recurse: Callable? = nil
        if recursive {
            recurse = Callable("loop") { [unowned self] args in
                guard args.positional.count == 1 else {
                    throw TemplateError(.type, "loop() takes exactly one argument")
                }
                try self.enterCall()
                defer { self.callDepth -= 1 }
                let inner = try pyIterate(args.positional[0])
                return .string(try self.capture {
                    try self.runLoop(inner, target: target, filter: filter, body: body, otherwise: otherwise,
                                     recursive: true, depth0: depth0 + 1, scope: scope)
                })
            }
        }
        let ctx = LoopContext(items: items, depth0: depth0, recurse: recurse)
        for (i, item) in items.enumerated() {
            ctx.index0 = i
            // Each iteration gets a fresh scope: jinja2 re-reads outer values at every iteration.
            let s = Scope(parent: scope)
            s.vars["loop"] = .loop(ctx)
            try assign(target, item, s)
            if try exec(body, s) == .breakLoop { break }
        }
    }

    func assign(_ target: Target, _ value: Obj, _ scope: Scope) throws {
        switch target {
        case .name(let n):
            scope.vars[n] = value
        case .tuple(let targets):
            let items = try pyIterate(value)
            guard items.count == targets.count else {
                if items.count > targets.count {
                    throw TemplateError(.type, "too many values to unpack (expected \(targets.count))")
                }
                throw TemplateError(.type, "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        case .namespaceAttr(let name, let attr):
            guard case .namespace(let ns) = lookup(name, scope) else {
                throw TemplateError(.runtime, "cannot assign attribute on non-namespace object")
            }
            ns.attrs[attr] = value
        }
    }

    private func makeMacro(name: String, params: [MacroParam], body: [Stmt], closure: Scope) -> Callable {
        macroScopes.append(closure)
        let referenced = collectNames(body)
        let usesVarargs = referenced.contains("varargs")
        let usesKwargs = referenced.contains("kwargs")
        let usesCaller = referenced.contains("caller")
        return Callable(name, kind: .macro) { [unowned self] args in
            try self.enterCall()
            defer { self.callDepth -= 1 }
            let s = Scope(parent: closure)
            var extraPositional: [Obj] = []
            for (i, v) in args.positional.enumerated() {
                if i < params.count { s.vars[params[i].name] = v } else { extraPositional.append(v) }
            }
            if !extraPositional.isEmpty && !usesVarargs {
                throw TemplateError(.type, "macro '\(name)' takes not more than \(params.count) argument(s)")
            }
            var extraKeywords = OrderedMap<Obj>()
            var callerValue: Obj? = nil
            for (k, v) in args.keywords {
                if params.contains(where: { $0.name == k }) {
                    if s.vars[k] != nil {
                        throw TemplateError(.type, "macro '\(name)' got multiple values for argument '\(k)'")
                    }
                    s.vars[k] = v
                } else if k == "caller" && usesCaller {
                    callerValue = v
                } else if usesKwargs {
                    extraKeywords[k] = v
                } else {
                    throw TemplateError(.type, "macro '\(name)' takes no keyword argument '\(k)'")
                }
            }
            for p in params where s.vars[p.name] == nil {
                if let d = p.defaultValue {
                    s.vars[p.name] = try self.eval(d, s)
                } else {
                    s.vars[p.name] = .undefined(hint: "parameter '\(p.name)' was not provided")
                }
            }
            s.vars["varargs"] = .tuple(extraPositional)
            s.vars["kwargs"] = .dict(extraKeywords)
            if let callerValue { s.vars["caller"] = callerValue }
            return .string(try self.capture { _ = try self.exec(body, s) })
        }
    }

    // MARK: expressions

    func lookup(_ name: String, _ scope: Scope) -> Obj {
        scope.lookup(name) ?? globals[name] ?? .undefinedName(name)
    }

    func eval(_ e: Expr, _ scope: Scope) throws -> Obj {
        do {
            return try evalUnlocated(e, scope)
        } catch var err as TemplateError where err.line == nil {
            err.line = e.loc.line
            err.column = e.loc.column
            throw err
        }
    }

    private func evalUnlocated(_ e: Expr, _ scope: Scope) throws -> Obj {
        switch e.kind {
        case .literal(let l):
            switch l {
            case .none: return .none
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            case .string(let s): return .string(s)
            }
        case .name(let n):
            return lookup(n, scope)
        case .list(let items):
            return .list(try items.map { try eval($0, scope) })
        case .tuple(let items):
            return .tuple(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var d = OrderedMap<Obj>()
            for (k, v) in pairs {
                let key = try eval(k, scope)
                guard case .string(let ks) = key else {
                    throw TemplateError(.type, "dict literal keys must be strings here (got \(key.typeName))")
                }
                d[ks] = try eval(v, scope)
            }
            return .dict(d)
        case .getattr(let base, let attr):
            return try getAttr(try eval(base, scope), attr)
        case .getitem(let base, let index):
            let b = try eval(base, scope)
            if case .slice(let lo, let hi, let step) = index.kind {
                return try slice(b, try lo.map { try eval($0, scope) }, try hi.map { try eval($0, scope) },
                                 try step.map { try eval($0, scope) })
            }
            return try getItem(b, try eval(index, scope))
        case .slice:
            throw TemplateError(.syntax, "slice outside of a subscript")
        case .call(let callee, let args):
            let f = try eval(callee, scope)
            return try callValue(f, try evalArgs(args, scope))
        case .filter(let base, let name, let args):
            // Only reachable inside `if` (see Parser.checkFilterAndTestNames); jinja2's wording.
            guard Filters.names.contains(name) else { throw TemplateError(.runtime, "No filter named '\(name)' found.") }
            let value = try base.map { try eval($0, scope) } ?? .undefined(hint: "filter without a value")
            return try Filters.apply(name, value, try evalArgs(args, scope), self)
        case .test(let base, let name, let args):
            guard Tests.names.contains(name) else { throw TemplateError(.runtime, "No test named '\(name)' found.") }
            let value = try eval(base, scope)
            return .bool(try Tests.apply(name, value, try evalArgs(args, scope), self))
        case .not(let x):
            return .bool(!pyTruthy(try eval(x, scope)))
        case .negate(let x):
            let v = try eval(x, scope)
            try failUndefined(v)
            switch Number(v) {
            case .int(let i)?:
                guard i != Int.min else { throw TemplateError(.type, "integer overflow in unary '-'") }
                return .int(-i)
            case .double(let d)?: return .double(-d)
            case nil: throw TemplateError(.type, "bad operand type for unary -: '\(v.typeName)'")
            }
        case .plus(let x):
            let v = try eval(x, scope)
            try failUndefined(v)
            switch Number(v) {
            case .int(let i)?: return .int(i)
            case .double(let d)?: return .double(d)
            case nil: throw TemplateError(.type, "bad operand type for unary +: '\(v.typeName)'")
            }
        case .binary(let op, let a, let b):
            return try pyBinary(op, try eval(a, scope), try eval(b, scope))
        case .concat(let items):
            var s = ""
            for item in items { s += pyStr(try eval(item, scope)) }
            return .string(s)
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr, scope)
                let ok: Bool
                switch op {
                case .eq: ok = pyEqual(left, right)
                case .ne: ok = !pyEqual(left, right)
                case .lt, .le, .gt, .ge: ok = try pyCompare(left, right, op.rawValue)
                case .in: ok = try pyContains(right, left)
                case .notIn: ok = try !pyContains(right, left)
                }
                if !ok { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let a, let b):
            let l = try eval(a, scope)
            return pyTruthy(l) ? try eval(b, scope) : l
        case .or(let a, let b):
            let l = try eval(a, scope)
            return pyTruthy(l) ? l : try eval(b, scope)
        case .conditional(let test, let then, let otherwise):
            if pyTruthy(try eval(test, scope)) { return try eval(then, scope) }
            if let otherwise { return try eval(otherwise, scope) }
            return .undefined(hint: "the inline if-expression on line \(e.loc.line) evaluated to false and no else section was defined.")
        }
    }

    func evalArgs(_ args: CallArgs, _ scope: Scope) throws -> Arguments {
        var out = Arguments()
        out.positional = try args.positional.map { try eval($0, scope) }
        if let star = args.starArgs { out.positional += try pyIterate(try eval(star, scope)) }
        out.keywords = try args.keywords.map { ($0.0, try eval($0.1, scope)) }
        if let starKw = args.starKwargs {
            guard case .dict(let d) = try eval(starKw, scope) else {
                throw TemplateError(.type, "argument after ** must be a mapping")
            }
            out.keywords += zip(d.keys, d.values).map { ($0, $1) }
        }
        return out
    }

    func callValue(_ f: Obj, _ args: Arguments) throws -> Obj {
        switch f {
        case .callable(let c): return try c.body(args)
        case .undefined(let u): throw u.error
        case .loop(let l):
            guard let r = l.recurse else {
                throw TemplateError(.type, "The loop must have the 'recursive' marker to be called recursively.")
            }
            return try r.body(args)
        default: throw TemplateError(.type, "'\(f.typeName)' object is not callable")
        }
    }

    /// Applies `{% filter f | g %}` / `{% set x | f %}` heads, whose innermost base is the body text.
    private func applyFilterChain(_ e: Expr, to value: Obj, _ scope: Scope) throws -> Obj {
        guard case .filter(let base, let name, let args) = e.kind else { return value }
        let input = try base.map { try applyFilterChain($0, to: value, scope) } ?? value
        return try Filters.apply(name, input, try evalArgs(args, scope), self)
    }

    // MARK: attribute and item access (jinja2's sandboxed getattr/getitem)

    /// `obj.name`: Python attribute first (methods), then item.
    func getAttr(_ obj: Obj, _ name: String) throws -> Obj {
        switch obj {
        case .undefined(let u):
            throw u.error
        case .dict(let d):
            if let m = Methods.bound(obj, name) { return m }
            return d[name] ?? .missing(.string(name), of: obj)
        case .namespace(let ns):
            return ns.attrs[name] ?? .missing(.string(name), of: obj)
        case .loop(let l):
            return l.attribute(name) ?? .missing(.string(name), of: obj)
        case .int, .bool:
            // The numeric attributes of Python ints that a template might touch.
            guard case .int(let i)? = Number(obj) else { break }
            switch name {
            case "real", "numerator": return .int(i)
            case "imag": return .int(0)
            case "denominator": return .int(1)
            default: break
            }
        case .double(let d):
            if name == "real" { return .double(d) }
            if name == "imag" { return .double(0) }
        default:
            break
        }
        return Methods.bound(obj, name) ?? .missing(.string(name), of: obj)
    }

    /// `obj[key]`: item first, then (for string keys) attribute.
    func getItem(_ obj: Obj, _ key: Obj) throws -> Obj {
        switch obj {
        case .undefined(let u):
            throw u.error
        case .dict(let d):
            if case .string(let k) = key {
                if let v = d[k] { return v }
                if let m = Methods.bound(obj, k) { return m }
            }
            return .missing(key, of: obj)
        case .list(let items), .tuple(let items):
            if let i = intIndex(key) { return element(items, i) ?? .missing(key, of: obj) }
        case .seq(let kind, let items):
            if case .range = kind, let i = intIndex(key) { return element(items, i) ?? .missing(key, of: obj) }
        case .string(let s):
            if let i = intIndex(key) {
                return element(s.scalars, i).map { .string(String($0)) } ?? .missing(key, of: obj)
            }
        default:
            break
        }
        if case .string(let k) = key { return try getAttr(obj, k) }
        return .missing(key, of: obj)
    }

    /// An integer subscript (Python accepts bools as 0/1, but not floats).
    private func intIndex(_ v: Obj) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private func element<T>(_ items: [T], _ i: Int) -> T? {
        let j = i < 0 ? i + items.count : i
        return items.indices.contains(j) ? items[j] : nil
    }

    /// `obj[lo:hi:step]` with Python's clamping rules.
    func slice(_ obj: Obj, _ lo: Obj?, _ hi: Obj?, _ step: Obj?) throws -> Obj {
        try failUndefined(obj)
        func index(_ v: Obj?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard let i = intIndex(v) else {
                try failUndefined(v)
                throw TemplateError(.type, "slice indices must be integers or None")
            }
            return i
        }
        let st = try index(step) ?? 1
        guard st != 0 else { throw TemplateError(.type, "slice step cannot be zero") }
        func pick<T>(_ items: [T]) throws -> [T] {
            let n = items.count
            func clamp(_ i: Int?, _ dflt: Int) -> Int {
                guard var i else { return dflt }
                if i < 0 { i += n }
                if st > 0 { return min(max(i, 0), n) }
                return min(max(i, -1), n - 1)
            }
            let start = clamp(try index(lo), st > 0 ? 0 : n - 1)
            let stop = clamp(try index(hi), st > 0 ? n : -1)
            var out: [T] = []
            var i = start
            while st > 0 ? i < stop : i > stop {
                out.append(items[i])
                i += st
            }
            return out
        }
        switch obj {
        case .list(let a): return .list(try pick(a))
        case .tuple(let a): return .tuple(try pick(a))
        case .seq(let kind, let a):
            if case .range = kind { return .list(try pick(a)) }
            return .missing(.string("slice"), of: obj)
        case .string(let s): return .string(String(scalars: try pick(s.scalars)))
        default:
            // Python raises TypeError, which jinja2's getitem turns into an undefined value.
            return .missing(.string("slice"), of: obj)
        }
    }
}

/// Every name a body refers to (used to decide whether a macro accepts varargs/kwargs/caller).
private func collectNames(_ body: [Stmt]) -> Set<String> {
    var names = Set<String>()
    func expr(_ e: Expr?) {
        guard let e else { return }
        switch e.kind {
        case .literal: break
        case .name(let n): names.insert(n)
        case .list(let xs), .tuple(let xs), .concat(let xs): xs.forEach(expr)
        case .dict(let ps): ps.forEach { expr($0.0); expr($0.1) }
        case .getattr(let b, _): expr(b)
        case .getitem(let b, let i): expr(b); expr(i)
        case .slice(let a, let b, let c): expr(a); expr(b); expr(c)
        case .call(let f, let a): expr(f); args(a)
        case .filter(let b, _, let a): expr(b); args(a)
        case .test(let b, _, let a): expr(b); args(a)
        case .not(let x), .negate(let x), .plus(let x): expr(x)
        case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): expr(a); expr(b)
        case .compare(let a, let ops): expr(a); ops.forEach { expr($0.1) }
        case .conditional(let t, let a, let b): expr(t); expr(a); expr(b)
        }
    }
    func args(_ a: CallArgs) {
        a.positional.forEach(expr)
        a.keywords.forEach { expr($0.1) }
        expr(a.starArgs)
        expr(a.starKwargs)
    }
    func stmts(_ ss: [Stmt]) {
        for s in ss {
            switch s.kind {
            case .text, .break, .continue: break
            case .output(let e): expr(e)
            case .if(let branches, let otherwise):
                branches.forEach { expr($0.0); stmts($0.1) }
                stmts(otherwise)
            case .for(_, let iter, let filter, let body, let otherwise, _):
                expr(iter); expr(filter); stmts(body); stmts(otherwise)
            case .set(_, let e): expr(e)
            case .setBlock(_, let f, let body): expr(f); stmts(body)
            case .macro: break
            case .callBlock(let call, let params, let body):
                expr(call); params.forEach { expr($0.defaultValue) }; stmts(body)
            case .filterBlock(let f, let body): expr(f); stmts(body)
            case .with(let assignments, let body): assignments.forEach { expr($0.1) }; stmts(body)
            case .generation(let body): stmts(body)
            }
        }
    }
    stmts(body)
    return names
}
