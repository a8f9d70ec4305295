/// Recursive-descent parser following jinja2's `Parser` method for method, so operator
/// precedence, tuple handling and the statement grammar match.
struct Parser {
    private var tokens: [Token]
    private var pos = 0
    /// Tag names that close the blocks currently open, innermost last (for error messages).
    private var endTokenStack: [[String]] = []
    /// Names of the statements being parsed, innermost last (jinja2's _tag_stack).
    private var tagStack: [String] = []
    private var loopDepth = 0
    /// Guards the recursive descent against pathological nesting; jinja2 itself fails earlier
    /// (Python recursion limit at ~70 nested parentheses, ~100 nested blocks).
    private var nesting = 0
    private static let maxNesting = 100

    init(tokens: [Token]) {
        self.tokens = tokens
    }

    static func parse(_ source: String, options: Template.Options) throws -> [Stmt] {
        var lexer = Lexer(source, trimBlocks: options.trimBlocks, lstripBlocks: options.lstripBlocks,
                          keepTrailingNewline: options.keepTrailingNewline)
        var parser = Parser(tokens: try lexer.tokenize())
        let body = try parser.subparse(endTokens: nil)
        guard parser.current.kind == .eof else {
            throw parser.fail("unexpected '\(parser.describe(parser.current))'")
        }
        try checkFilterAndTestNames(body, soft: false)
        return body
    }

    /// jinja2 rejects unknown filters and tests when it compiles the template, except inside `if`
    /// statements and conditional expressions (its "soft" frames), where they fail only if run.
    private static func checkFilterAndTestNames(_ body: [Stmt], soft: Bool) throws {
        func expr(_ e: Expr?, _ soft: Bool) throws {
            guard let e else { return }
            func args(_ a: CallArgs) throws {
                for p in a.positional { try expr(p, soft) }
                for (_, k) in a.keywords { try expr(k, soft) }
                try expr(a.starArgs, soft)
                try expr(a.starKwargs, soft)
            }
            switch e.kind {
            case .literal, .name: break
            case .list(let xs), .tuple(let xs), .concat(let xs): for x in xs { try expr(x, soft) }
            case .dict(let ps): for (k, v) in ps { try expr(k, soft); try expr(v, soft) }
            case .getattr(let b, _): try expr(b, soft)
            case .getitem(let b, let i): try expr(b, soft); try expr(i, soft)
            case .slice(let a, let b, let c): try expr(a, soft); try expr(b, soft); try expr(c, soft)
            case .call(let f, let a): try expr(f, soft); try args(a)
            case .filter(let b, let name, let a):
                if !soft, !Filters.names.contains(name) {
                    throw TemplateError(.syntax, "No filter named '\(name)'.", line: e.loc.line, column: e.loc.column)
                }
                try expr(b, soft); try args(a)
            case .test(let b, let name, let a):
                if !soft, !Tests.names.contains(name) {
                    throw TemplateError(.syntax, "No test named '\(name)'.", line: e.loc.line, column: e.loc.column)
                }
                try expr(b, soft); try args(a)
            case .not(let x), .negate(let x), .plus(let x): try expr(x, soft)
            case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): try expr(a, soft); try expr(b, soft)
            case .compare(let a, let ops): try expr(a, soft); for (_, x) in ops { try expr(x, soft) }
            case .conditional(let t, let a, let b): try expr(t, true); try expr(a, true); try expr(b, true)
            }
        }
        for st in body {
            switch st.kind {
            case .text, .break, .continue: break
            case .output(let e), .set(_, let e): try expr(e, soft)
            case .if(let branches, let otherwise):
                for (test, b) in branches { try expr(test, true); try checkFilterAndTestNames(b, soft: true) }
                try checkFilterAndTestNames(otherwise, soft: true)
            case .for(_, let iter, let filter, let b, let otherwise, _):
                try expr(iter, soft)
                try expr(filter, false)
                try checkFilterAndTestNames(b, soft: false)
                try checkFilterAndTestNames(otherwise, soft: false)
            case .setBlock(_, let filter, let b):
                try expr(filter, false)
                try checkFilterAndTestNames(b, soft: false)
            case .filterBlock(let filter, let b):
                try expr(filter, false)
                try checkFilterAndTestNames(b, soft: false)
            case .macro(_, let params, let b):
                for p in params { try expr(p.defaultValue, false) }
                try checkFilterAndTestNames(b, soft: false)
            case .callBlock(let call, let params, let b):
                try expr(call, soft)
                for p in params { try expr(p.defaultValue, false) }
                try checkFilterAndTestNames(b, soft: false)
            case .with(let assignments, let b):
                for (_, v) in assignments { try expr(v, soft) }
                try checkFilterAndTestNames(b, soft: false)
            case .generation(let b):
                try checkFilterAndTestNames(b, soft: false)
            }
        }
    }

    // MARK: token stream

    private var current: Token { tokens[pos] }
    private func look(_ n: Int = 1) -> Token { tokens[min(pos + n, tokens.count - 1)] }
    private mutating func advance() -> Token {
        let t = tokens[pos]
        if pos < tokens.count - 1 { pos += 1 }
        return t
    }

    private func isName(_ t: Token, _ value: String) -> Bool { t.kind == .name && t.text == value }
    private func isOp(_ t: Token, _ value: String) -> Bool { t.kind == .op && t.text == value }

    private mutating func skipName(_ value: String) -> Bool {
        if isName(current, value) { _ = advance(); return true }
        return false
    }

    private mutating func skipOp(_ value: String) -> Bool {
        if isOp(current, value) { _ = advance(); return true }
        return false
    }

    private func loc(_ t: Token) -> Loc { Loc(line: t.line, column: t.column) }

    func fail(_ message: String, at t: Token? = nil) -> TemplateError {
        let t = t ?? current
        return TemplateError(.syntax, message, line: t.line, column: t.column)
    }

    /// jinja2's describe_token: a name's value, an operator's text, otherwise the token type.
    func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: return "end of template"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .data: return "template data / text"
        case .name, .op: return t.text
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        }
    }

    private func failExpected(_ what: String) -> TemplateError {
        if current.kind == .eof { return fail("unexpected end of template, expected '\(what)'.") }
        return fail("expected token '\(what)', got '\(describe(current))'")
    }

    private mutating func expectOp(_ op: String) throws -> Token {
        guard isOp(current, op) else { throw failExpected(op) }
        return advance()
    }

    private mutating func expectName(_ value: String? = nil) throws -> Token {
        guard current.kind == .name, value == nil || current.text == value else { throw failExpected(value ?? "name") }
        return advance()
    }

    private mutating func expect(_ kind: Token.Kind, _ what: String) throws -> Token {
        guard current.kind == kind else { throw failExpected(what) }
        return advance()
    }

    /// jinja2's _fail_ut_eof: unknown tag (name) or end of template (nil) inside open blocks.
    private func failUnknownTag(_ name: String?, at t: Token) -> TemplateError {
        var message = [name.map { "Encountered unknown tag '\($0)'." } ?? "Unexpected end of template."]
        if let looking = endTokenStack.last {
            let list = looking.map { "'\($0)'" }.joined(separator: " or ")
            if let name, endTokenStack.contains(where: { $0.contains(name) }) {
                message.append("You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for \(list).")
            } else {
                message.append("Jinja was looking for the following tags: \(list).")
            }
        }
        if let innermost = tagStack.last {
            message.append("The innermost block that needs to be closed is '\(innermost)'.")
        }
        return fail(message.joined(separator: " "), at: t)
    }

    // MARK: statements

    private mutating func subparse(endTokens: [String]?) throws -> [Stmt] {
        var body: [Stmt] = []
        if let endTokens { endTokenStack.append(endTokens) }
        defer { if endTokens != nil { endTokenStack.removeLast() } }
        while current.kind != .eof {
            let t = current
            switch t.kind {
            case .data:
                _ = advance()
                body.append(Stmt(kind: .text(t.text), loc: loc(t)))
            case .variableBegin:
                _ = advance()
                let e = try parseTuple(withCondexpr: true)
                _ = try expect(.variableEnd, "end of print statement")
                body.append(Stmt(kind: .output(e), loc: e.loc))
            case .blockBegin:
                _ = advance()
                if let endTokens, current.kind == .name, endTokens.contains(current.text) {
                    return body
                }
                body.append(try parseStatement())
                _ = try expect(.blockEnd, "end of statement block")
            default:
                throw fail("unexpected '\(describe(t))'")
            }
        }
        if endTokens != nil {
            throw failUnknownTag(nil, at: current)
        }
        return body
    }

    /// Parses a body up to one of `endTokens`, leaving the matched end tag as the current token.
    private mutating func parseStatements(_ endTokens: [String], dropNeedle: Bool = false) throws -> [Stmt] {
        _ = skipOp(":")
        _ = try expect(.blockEnd, "end of statement block")
        let body = try subparse(endTokens: endTokens)
        if dropNeedle { _ = advance() }
        return body
    }

    private mutating func parseStatement() throws -> Stmt {
        let t = current
        guard t.kind == .name else { throw fail("tag name expected") }
        if tagStack.count >= Parser.maxNesting { throw fail("template nested too deeply") }
        tagStack.append(t.text)
        defer { tagStack.removeLast() }
        switch t.text {
        case "for": return try parseFor()
        case "if": return try parseIf()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "call": return try parseCallBlock()
        case "filter": return try parseFilterBlock()
        case "with": return try parseWith()
        case "print":
            _ = advance()
            var items: [Expr] = []
            while current.kind != .blockEnd {
                if !items.isEmpty { _ = try expectOp(",") }
                items.append(try parseExpression())
            }
            let e = items.count == 1 ? items[0] : Expr(kind: .tuple(items), loc: loc(t))
            return Stmt(kind: .output(e), loc: loc(t))
        case "generation":
            _ = advance()
            // transformers compiles the tag to a call block: its body is a macro-like scope.
            let saved = loopDepth
            loopDepth = 0
            let body = try parseStatements(["endgeneration"], dropNeedle: true)
            loopDepth = saved
            return Stmt(kind: .generation(body), loc: loc(t))
        case "break", "continue":
            _ = advance()
            guard loopDepth > 0 else { throw fail("'\(t.text)' not properly in loop", at: t) }
            return Stmt(kind: t.text == "break" ? .break : .continue, loc: loc(t))
        case "block", "extends", "include", "import", "from", "autoescape", "raw":
            throw fail("the '\(t.text)' tag is not supported in chat templates", at: t)
        default:
            tagStack.removeLast()
            defer { tagStack.append(t.text) }
            throw failUnknownTag(t.text, at: t)
        }
    }

    private mutating func parseFor() throws -> Stmt {
        let t = advance()
        let target = try parseAssignTarget(extraEndRules: ["in"])
        _ = try expectName("in")
        let iter = try parseTuple(withCondexpr: false, extraEndRules: ["recursive"])
        var filter: Expr? = nil
        if skipName("if") { filter = try parseExpression() }
        let recursive = skipName("recursive")
        loopDepth += 1
        let body = try parseStatements(["endfor", "else"])
        loopDepth -= 1
        var otherwise: [Stmt] = []
        if advance().text == "else" {
            otherwise = try parseStatements(["endfor"], dropNeedle: true)
        }
        return Stmt(kind: .for(target: target, iter: iter, filter: filter, body: body, otherwise: otherwise,
                               recursive: recursive), loc: loc(t))
    }

    private mutating func parseIf() throws -> Stmt {
        let t = advance()
        var branches: [(Expr, [Stmt])] = []
        var otherwise: [Stmt] = []
        while true {
            let test = try parseTuple(withCondexpr: false)
            let body = try parseStatements(["elif", "else", "endif"])
            branches.append((test, body))
            let tok = advance()
            if tok.text == "elif" { continue }
            if tok.text == "else" { otherwise = try parseStatements(["endif"], dropNeedle: true) }
            break
        }
        return Stmt(kind: .if(branches, otherwise: otherwise), loc: loc(t))
    }

    private mutating func parseSet() throws -> Stmt {
        let t = advance()
        let target = try parseAssignTarget(withNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            return Stmt(kind: .set(target, value), loc: loc(t))
        }
        let filter = try parseFilter(nil)
        let body = try parseStatements(["endset"], dropNeedle: true)
        return Stmt(kind: .setBlock(target, filter: filter, body: body), loc: loc(t))
    }

    private mutating func parseSignature() throws -> [MacroParam] {
        _ = try expectOp("(")
        var params: [MacroParam] = []
        while !isOp(current, ")") {
            if !params.isEmpty { _ = try expectOp(",") }
            let name = try expectName().text
            if skipOp("=") {
                params.append(MacroParam(name: name, defaultValue: try parseExpression()))
            } else {
                if params.contains(where: { $0.defaultValue != nil }) {
                    throw fail("non-default argument follows default argument")
                }
                params.append(MacroParam(name: name, defaultValue: nil))
            }
        }
        _ = try expectOp(")")
        return params
    }

    private mutating func parseMacro() throws -> Stmt {
        let t = advance()
        let name = try expectName().text
        let params = try parseSignature()
        let saved = loopDepth
        loopDepth = 0
        let body = try parseStatements(["endmacro"], dropNeedle: true)
        loopDepth = saved
        return Stmt(kind: .macro(name: name, params: params, body: body), loc: loc(t))
    }

    private mutating func parseCallBlock() throws -> Stmt {
        let t = advance()
        let params = isOp(current, "(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw fail("expected call", at: t) }
        let saved = loopDepth
        loopDepth = 0
        let body = try parseStatements(["endcall"], dropNeedle: true)
        loopDepth = saved
        return Stmt(kind: .callBlock(call: call, params: params, body: body), loc: loc(t))
    }

    private mutating func parseFilterBlock() throws -> Stmt {
        let t = advance()
        guard let filter = try parseFilter(nil, startInline: true) else { throw fail("expected filter") }
        let body = try parseStatements(["endfilter"], dropNeedle: true)
        return Stmt(kind: .filterBlock(filter: filter, body: body), loc: loc(t))
    }

    private mutating func parseWith() throws -> Stmt {
        let t = advance()
        var assignments: [(Target, Expr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { _ = try expectOp(",") }
            let target = try parseAssignTarget()
            _ = try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        let body = try parseStatements(["endwith"], dropNeedle: true)
        return Stmt(kind: .with(assignments: assignments, body: body), loc: loc(t))
    }

    private mutating func parseAssignTarget(extraEndRules: [String] = [], withNamespace: Bool = false) throws -> Target {
        let start = current
        let e = try parseTuple(simplified: true, extraEndRules: extraEndRules, withNamespace: withNamespace)
        func convert(_ e: Expr) throws -> Target {
            switch e.kind {
            case .name(let n):
                if ["true", "false", "none", "True", "False", "None"].contains(n) { break }
                return .name(n)
            case .tuple(let items): return .tuple(try items.map(convert))
            case .getattr(let base, let attr):
                if withNamespace, case .name(let ns) = base.kind { return .namespaceAttr(ns, attr) }
            default: break
            }
            throw fail("can't assign to '\(nodeName(e))'", at: start)
        }
        return try convert(e)
    }

    /// jinja2's node class name, lower-cased, for "can't assign to" messages.
    private func nodeName(_ e: Expr) -> String {
        switch e.kind {
        case .literal, .name: return "const"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .getattr: return "getattr"
        case .getitem: return "getitem"
        case .slice: return "slice"
        case .call: return "call"
        case .filter: return "filter"
        case .test: return "test"
        case .not: return "not"
        case .negate: return "neg"
        case .plus: return "pos"
        case .binary(let op, _, _):
            switch op {
            case .add: return "add"
            case .sub: return "sub"
            case .mul: return "mul"
            case .div: return "div"
            case .floorDiv: return "floordiv"
            case .mod: return "mod"
            case .pow: return "pow"
            }
        case .concat: return "concat"
        case .compare: return "compare"
        case .and: return "and"
        case .or: return "or"
        case .conditional: return "condexpr"
        }
    }

    // MARK: expressions

    /// jinja2's is_tuple_end. Its extra_end_rules never match there (test_any receives the tuple
    /// as a single argument), so they are deliberately ignored here too: `{% for in x %}` parses
    /// `in` as the loop variable and fails on `x`, exactly as jinja2 does.
    private func isTupleEnd(_ extraEndRules: [String]) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op where current.text == ")": return true
        default: return false
        }
    }

    private mutating func parseTuple(simplified: Bool = false, withCondexpr: Bool = true,
                                     extraEndRules: [String] = [], explicitParentheses: Bool = false,
                                     withNamespace: Bool = false) throws -> Expr {
        let start = current
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { _ = try expectOp(",") }
            if isTupleEnd(extraEndRules) { break }
            if simplified {
                items.append(try parsePrimary(withNamespace: withNamespace))
            } else {
                items.append(try parseExpression(withCondexpr: withCondexpr))
            }
            if isOp(current, ",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParentheses {
                throw fail("Expected an expression, got '\(describe(current))'")
            }
        }
        return Expr(kind: .tuple(items), loc: loc(start))
    }

    private mutating func parseExpression(withCondexpr: Bool = true) throws -> Expr {
        try nested { p in withCondexpr ? try p.parseCondexpr() : try p.parseOr() }
    }

    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Parser.maxNesting { throw fail("template nested too deeply") }
        return try body(&self)
    }

    private mutating func parseCondexpr() throws -> Expr {
        var e = try parseOr()
        while isName(current, "if") {
            let t = advance()
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseCondexpr() : nil
            e = Expr(kind: .conditional(test: test, then: e, otherwise: otherwise), loc: loc(t))
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while isName(current, "or") {
            let t = advance()
            left = Expr(kind: .or(left, try parseAnd()), loc: loc(t))
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while isName(current, "and") {
            let t = advance()
            left = Expr(kind: .and(left, try parseNot()), loc: loc(t))
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if isName(current, "not") {
            let t = advance()
            return Expr(kind: .not(try nested { try $0.parseNot() }), loc: loc(t))
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let start = current
        let left = try parseMath1()
        var ops: [(CompareOp, Expr)] = []
        while true {
            if current.kind == .op, let op = CompareOp(rawValue: current.text), op != .in, op != .notIn {
                _ = advance()
                ops.append((op, try parseMath1()))
            } else if skipName("in") {
                ops.append((.in, try parseMath1()))
            } else if isName(current, "not"), isName(look(), "in") {
                _ = advance(); _ = advance()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : Expr(kind: .compare(left, ops), loc: loc(start))
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while current.kind == .op, current.text == "+" || current.text == "-" {
            let t = advance()
            let right = try parseConcat()
            left = Expr(kind: .binary(t.text == "+" ? .add : .sub, left, right), loc: loc(t))
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        let start = current
        var items = [try parseMath2()]
        while skipOp("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : Expr(kind: .concat(items), loc: loc(start))
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while current.kind == .op, let op = BinaryOp(rawValue: current.text),
              op == .mul || op == .div || op == .floorDiv || op == .mod {
            let t = advance()
            left = Expr(kind: .binary(op, left, try parsePow()), loc: loc(t))
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        while isOp(current, "**") {
            let t = advance()
            left = Expr(kind: .binary(.pow, left, try parseUnary()), loc: loc(t))
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        let t = current
        var node: Expr
        if isOp(t, "-") {
            _ = advance()
            node = Expr(kind: .negate(try nested { try $0.parseUnary(withFilter: false) }), loc: loc(t))
        } else if isOp(t, "+") {
            _ = advance()
            node = Expr(kind: .plus(try nested { try $0.parseUnary(withFilter: false) }), loc: loc(t))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary(withNamespace: Bool = false) throws -> Expr {
        let t = current
        switch t.kind {
        case .name:
            _ = advance()
            switch t.text {
            case "true", "True": return Expr(kind: .literal(.bool(true)), loc: loc(t))
            case "false", "False": return Expr(kind: .literal(.bool(false)), loc: loc(t))
            case "none", "None": return Expr(kind: .literal(.none), loc: loc(t))
            default:
                if withNamespace, isOp(current, ".") {
                    _ = advance()
                    let attr = try expectName()
                    return Expr(kind: .getattr(Expr(kind: .name(t.text), loc: loc(t)), attr.text), loc: loc(t))
                }
                return Expr(kind: .name(t.text), loc: loc(t))
            }
        case .string:
            var s = advance().text
            while current.kind == .string { s += advance().text }
            return Expr(kind: .literal(.string(s)), loc: loc(t))
        case .integer:
            _ = advance()
            return Expr(kind: .literal(.int(t.int)), loc: loc(t))
        case .float:
            _ = advance()
            return Expr(kind: .literal(.double(t.double)), loc: loc(t))
        case .op where t.text == "(":
            _ = advance()
            let e = try parseTuple(explicitParentheses: true)
            _ = try expectOp(")")
            return e
        case .op where t.text == "[":
            _ = advance()
            var items: [Expr] = []
            while !isOp(current, "]") {
                if !items.isEmpty { _ = try expectOp(",") }
                if isOp(current, "]") { break }
                items.append(try parseExpression())
            }
            _ = try expectOp("]")
            return Expr(kind: .list(items), loc: loc(t))
        case .op where t.text == "{":
            _ = advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp(current, "}") {
                if !pairs.isEmpty { _ = try expectOp(",") }
                if isOp(current, "}") { break }
                let key = try parseExpression()
                _ = try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            _ = try expectOp("}")
            return Expr(kind: .dict(pairs), loc: loc(t))
        default:
            throw fail("unexpected '\(describe(t))'")
        }
    }

    private mutating func parsePostfix(_ node: Expr) throws -> Expr {
        var node = node
        while true {
            if isOp(current, ".") || isOp(current, "[") {
                node = try parseSubscript(node)
            } else if isOp(current, "(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private mutating func parseFilterExpr(_ node: Expr) throws -> Expr {
        var node = node
        while true {
            if isOp(current, "|") {
                node = try parseFilter(node)!
            } else if isName(current, "is") {
                node = try parseTest(node)
            } else if isOp(current, "(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ node: Expr) throws -> Expr {
        let t = advance()
        if t.text == "." {
            let attr = advance()
            if attr.kind == .name { return Expr(kind: .getattr(node, attr.text), loc: loc(t)) }
            guard attr.kind == .integer else { throw fail("expected name or number", at: attr) }
            return Expr(kind: .getitem(node, Expr(kind: .literal(.int(attr.int)), loc: loc(attr))), loc: loc(t))
        }
        var args: [Expr] = []
        while !isOp(current, "]") {
            if !args.isEmpty { _ = try expectOp(",") }
            args.append(try parseSubscribed())
        }
        _ = try expectOp("]")
        let arg = args.count == 1 ? args[0] : Expr(kind: .tuple(args), loc: loc(t))
        return Expr(kind: .getitem(node, arg), loc: loc(t))
    }

    private mutating func parseSubscribed() throws -> Expr {
        let start = current
        var parts: [Expr?] = []
        if isOp(current, ":") {
            _ = advance()
            parts = [nil]
        } else {
            let e = try parseExpression()
            if !isOp(current, ":") { return e }
            _ = advance()
            parts = [e]
        }
        if isOp(current, ":") || isOp(current, "]") || isOp(current, ",") {
            parts.append(nil)
        } else {
            parts.append(try parseExpression())
        }
        if skipOp(":") {
            if isOp(current, "]") || isOp(current, ",") {
                parts.append(nil)
            } else {
                parts.append(try parseExpression())
            }
        } else {
            parts.append(nil)
        }
        return Expr(kind: .slice(parts[0], parts[1], parts[2]), loc: loc(start))
    }

    private mutating func parseCallArgs() throws -> CallArgs {
        let open = try expectOp("(")
        var args = CallArgs()
        var requireComma = false
        func ensure(_ ok: Bool) throws {
            if !ok { throw fail("invalid syntax for function call expression", at: open) }
        }
        while !isOp(current, ")") {
            if requireComma {
                _ = try expectOp(",")
                if isOp(current, ")") { break }
            }
            if isOp(current, "*") {
                try ensure(args.starArgs == nil && args.starKwargs == nil)
                _ = advance()
                args.starArgs = try parseExpression()
            } else if isOp(current, "**") {
                try ensure(args.starKwargs == nil)
                _ = advance()
                args.starKwargs = try parseExpression()
            } else if current.kind == .name, isOp(look(), "=") {
                try ensure(args.starKwargs == nil)
                let key = advance().text
                _ = advance()
                args.keywords.append((key, try parseExpression()))
            } else {
                try ensure(args.starArgs == nil && args.starKwargs == nil && args.keywords.isEmpty)
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        _ = try expectOp(")")
        return args
    }

    private mutating func parseCall(_ node: Expr) throws -> Expr {
        let t = current
        let args = try parseCallArgs()
        return Expr(kind: .call(node, args), loc: loc(t))
    }

    private mutating func parseFilter(_ node: Expr?, startInline: Bool = false) throws -> Expr? {
        var node = node
        var inline = startInline
        while isOp(current, "|") || inline {
            if !inline { _ = advance() }
            let t = try expectName()
            var name = t.text
            while skipOp(".") { name += "." + (try expectName().text) }
            let args = isOp(current, "(") ? try parseCallArgs() : CallArgs()
            node = Expr(kind: .filter(node, name, args), loc: loc(t))
            inline = false
        }
        return node
    }

    private mutating func parseTest(_ node: Expr) throws -> Expr {
        let t = advance()
        let negated = skipName("not")
        var name = try expectName().text
        while skipOp(".") { name += "." + (try expectName().text) }
        var args = CallArgs()
        if isOp(current, "(") {
            args = try parseCallArgs()
        } else if [.name, .string, .integer, .float].contains(current.kind)
                    || isOp(current, "(") || isOp(current, "[") || isOp(current, "{") {
            if !(isName(current, "else") || isName(current, "or") || isName(current, "and")) {
                if isName(current, "is") { throw fail("You cannot chain multiple tests with is") }
                let arg = try parsePostfix(try parsePrimary())
                args.positional = [arg]
            }
        }
        let test = Expr(kind: .test(node, name, args), loc: loc(t))
        return negated ? Expr(kind: .not(test), loc: loc(t)) : test
    }
}
