import Foundation
import XCTest
@testable import Jinja

/// Individual features against hand-written expected output (no Python involved).
final class JinjaFeatureTests: XCTestCase {
    func render(_ source: String, _ context: [String: Value] = [:],
                options: Template.Options = Template.Options()) throws -> String {
        try Template(source, options: options).render(context)
    }

    func assertThrows(_ source: String, _ context: [String: Value] = [:], kind: TemplateError.Kind,
                      message: String? = nil, line: Int? = nil, column: Int? = nil,
                      file: StaticString = #filePath, lineNumber: UInt = #line) {
        do {
            let out = try render(source, context)
            XCTFail("expected a \(kind) error, rendered \(pyRepr(out))", file: file, line: lineNumber)
        } catch let e as TemplateError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: lineNumber)
            if let message { XCTAssertEqual(e.message, message, file: file, line: lineNumber) }
            if let line { XCTAssertEqual(e.line, line, "\(e)", file: file, line: lineNumber) }
            if let column { XCTAssertEqual(e.column, column, "\(e)", file: file, line: lineNumber) }
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: lineNumber)
        }
    }

    // MARK: whitespace control

    func testTrimAndLstripBlocks() throws {
        let src = "<ul>\n  {% for x in xs %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"
        XCTAssertEqual(try render(src, ["xs": [1, 2]]), "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>")
        XCTAssertEqual(try render(src, ["xs": [1, 2]], options: .jinja2Defaults),
                       "<ul>\n  \n  <li>1</li>\n  \n  <li>2</li>\n  \n</ul>")
        XCTAssertEqual(try render(src, ["xs": [1]], options: Template.Options(keepTrailingNewline: true)),
                       "<ul>\n  <li>1</li>\n</ul>\n")
    }

    func testDashAndPlusModifiers() throws {
        XCTAssertEqual(try render("a \n {{- 'b' -}} \n c"), "abc")
        XCTAssertEqual(try render("a\n  {%- if true %}b{% endif -%}\n  c"), "abc")
        XCTAssertEqual(try render("  {%+ if true %}x{% endif %}"), "  x")
        XCTAssertEqual(try render("{% if true +%}\nx{% endif %}"), "\nx")
        XCTAssertEqual(try render("a {#- gone -#} b"), "ab")
        XCTAssertEqual(try render("x{% raw %}{{ y }}{% endraw %}"), "x{{ y }}")
        XCTAssertEqual(try render("crlf\r\nline\r"), "crlf\nline")
    }

    // MARK: statements

    func testLoops() throws {
        let src = "{% for x in xs %}{{ loop.index }}/{{ loop.length }}:{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}"
        XCTAssertEqual(try render(src, ["xs": ["a", "b", "c"]]), "1/3:a, 2/3:b, 3/3:c")
        XCTAssertEqual(try render("{% for x in xs if x is odd %}{{ x }}{{ loop.revindex0 }} {% endfor %}", ["xs": [1, 2, 3, 5]]),
                       "12 31 50 ")
        XCTAssertEqual(try render("{% for k, v in d.items() %}{{ k }}={{ v }} {% else %}empty{% endfor %}", ["d": ["b": 1, "a": 2]]),
                       "b=1 a=2 ")
        XCTAssertEqual(try render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty")
        XCTAssertEqual(try render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "013")
        XCTAssertEqual(try render("{% for x in 'ab' %}{{ loop.previtem ~ '>' ~ x ~ '>' ~ loop.nextitem }};{% endfor %}"), ">a>b;a>b>;")
    }

    func testScopingMatchesJinja() throws {
        // A set inside a loop does not leak; inside an if it does; namespaces carry state out.
        XCTAssertEqual(try render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{% endfor %}{{ x }}"), "1")
        XCTAssertEqual(try render("{% if true %}{% set x = 5 %}{% endif %}{{ x }}"), "5")
        XCTAssertEqual(try render("{% set ns = namespace(total=0) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}"), "6")
        XCTAssertEqual(try render("{% set x %}a{{ 1 + 1 }}b{% endset %}{{ x | upper }}"), "A2B")
    }

    func testMacrosAndCallBlocks() throws {
        let src = """
        {%- macro tag(name, body='', cls=none) -%}
        <{{ name }}{% if cls %} class="{{ cls }}"{% endif %}>{{ body }}</{{ name }}>
        {%- endmacro -%}
        {{ tag('b', 'bold') }}|{{ tag('i', cls='x') }}|{{ tag(body='y', name='u') }}
        """
        XCTAssertEqual(try render(src), "<b>bold</b>|<i class=\"x\"></i>|<u>y</u>")
        XCTAssertEqual(try render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}in{% endcall %}"), "[in]")
        XCTAssertEqual(try render("{% macro m() %}{{ varargs | length }}{{ kwargs.k }}{% endmacro %}{{ m(1, 2, k=3) }}"), "23")
    }

    func testRaiseException() {
        assertThrows("line1\n{{ raise_exception('Roles must alternate') }}", kind: .raised,
                     message: "Roles must alternate", line: 2)
    }

    // MARK: expressions and printing

    func testPythonPrinting() throws {
        XCTAssertEqual(try render("{{ [1, 'a', none, true, 2.0, {'k': \"it's\"}] }}"), "[1, 'a', None, True, 2.0, {'k': \"it's\"}]")
        XCTAssertEqual(try render("{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }}"),
                       "1e+16 1000000000000000.0 0.0001 1e-05 0.3333333333333333")
        XCTAssertEqual(try render("{{ (1,) }} {{ none }} {{ missing }}|"), "(1,) None |")
    }

    func testOperators() throws {
        XCTAssertEqual(try render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 'a' ~ 1 ~ none }}"),
                       "3 -4 2 1024 3.5 a1None")
        XCTAssertEqual(try render("{{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ 'z' not in {'a': 1} }} {{ none or 'x' }} {{ 0 and 1 }}"),
                       "True True True x 0")
        XCTAssertEqual(try render("{{ xs[-1] }} {{ xs[1:] }} {{ xs[::-1] }} {{ 'héllo'[1] }}", ["xs": [1, 2, 3]]),
                       "3 [2, 3] [3, 2, 1] é")
    }

    func testUndefinedSemantics() throws {
        XCTAssertEqual(try render("[{{ nope }}]{{ nope is defined }}{{ nope | default('d') }}{% if not nope %}!{% endif %}"),
                       "[]Falsed!")
        XCTAssertEqual(try render("{{ d.missing is defined }}", ["d": ["a": 1]]), "False")
        // Like jinja2's default Undefined, using an attribute of an undefined value is an error.
        assertThrows("{{ nope.attr }}", kind: .undefined, message: "'nope' is undefined")
        assertThrows("{{ d.a.b.c }}", ["d": ["a": [:]]], kind: .undefined, message: "'dict object' has no attribute 'b'")
        assertThrows("{{ xs[3].role }}", ["xs": []], kind: .undefined, message: "list object has no element 3")
    }

    func testFilters() throws {
        XCTAssertEqual(try render("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'hello world' | title }}|{{ [3, 1, 2] | sort | join(',') }}"),
                       "x|AB|Hello World|1,2,3")
        XCTAssertEqual(try render("{{ users | selectattr('admin') | map(attribute='name') | join(', ') }}",
                                  ["users": [["name": "a", "admin": true], ["name": "b", "admin": false], ["name": "c", "admin": true]]]),
                       "a, c")
        XCTAssertEqual(try render("{{ 'a\\nb' | indent(2, first=true) }}|{{ 3.7 | int }}|{{ '2' | float }}|{{ 2.5 | round }}|{{ [1, 1, 2] | unique | list }}"),
                       "  a\n  b|3|2.0|2.0|[1, 2]")
        XCTAssertEqual(try render("{{ {'b': 1, 'a': 2} | dictsort }}"), "[('a', 2), ('b', 1)]")
    }

    func testToJSONMatchesPythonJsonDumps() throws {
        let tool: Value = ["name": "f", "params": ["x": 1.0, "y": [true, nil], "z": "é\"\n"], "empty": [:]]
        XCTAssertEqual(try render("{{ t | tojson }}", ["t": tool]),
                       #"{"name": "f", "params": {"x": 1.0, "y": [true, null], "z": "é\"\n"}, "empty": {}}"#)
        XCTAssertEqual(try render("{{ t | tojson(indent=2) }}", ["t": ["a": [1, 2], "b": []]]),
                       "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": []\n}")
        XCTAssertEqual(try render("{{ 'é' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"),
                       #""\u00e9" {"a": 2, "b": 1}"#)
    }

    func testStringMethods() throws {
        XCTAssertEqual(try render("{{ ' a b '.strip() }}|{{ 'x,y'.split(',') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.replace('b', 'B') }}|{{ '{}-{}'.format(1, 'a') }}"),
                       "a b|['x', 'y']|True|aBc|1-a")
        XCTAssertEqual(try render("{{ '<think>r</think>answer'.split('</think>')[-1].lstrip('\\n') }}"), "answer")
    }

    // MARK: errors

    func testSyntaxErrorsNameLineAndColumn() {
        assertThrows("ok\n  {% if x %}\n{% endfor %}", kind: .syntax,
                     message: "Encountered unknown tag 'endfor'. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
                     line: 3, column: 4)
        assertThrows("a\nb {{ 1 + }}", kind: .syntax, message: "unexpected 'end of print statement'", line: 2, column: 10)
        assertThrows("{% for x in xs %}", kind: .syntax, line: 1)
        assertThrows("{{ 'x }}", kind: .syntax, line: 1, column: 4)
    }

    func testRuntimeErrorsCarryTheLine() {
        assertThrows("a\nb\n{{ 1 + 'x' }}", kind: .type, message: "unsupported operand type(s) for +: 'int' and 'str'",
                     line: 3)
        assertThrows("{% for m in messages %}\n{{ m.content + 1 }}{% endfor %}", ["messages": [["content": "hi"]]],
                     kind: .type, line: 2)
        assertThrows("{{ xs.append(1) }}", ["xs": []], kind: .security)
    }

    func testLimitsFailCleanlyInsteadOfCrashing() throws {
        assertThrows("{{ 9223372036854775807 + 1 }}", kind: .type)
        assertThrows("{{ (-9223372036854775807 - 1) // -1 }}", kind: .type)
        assertThrows("{{ 2 ** 64 }}", kind: .type)
        assertThrows("{{ 'ab' * 9223372036854775807 }}", kind: .runtime)
        assertThrows("{{ range(-9223372036854775807, 9223372036854775807) | length }}", kind: .security)
        XCTAssertEqual(try render("{{ range(9223372036854775800, 9223372036854775807, 3) | list }}"),
                       "[9223372036854775800, 9223372036854775803, 9223372036854775806]")
        let deep = String(repeating: "(", count: 2000) + "1" + String(repeating: ")", count: 2000)
        assertThrows("{{ \(deep) }}", kind: .syntax, message: "template nested too deeply")
        let deepBlocks = String(repeating: "{% if true %}", count: 2000) + String(repeating: "{% endif %}", count: 2000)
        assertThrows(deepBlocks, kind: .syntax, message: "template nested too deeply")
        assertThrows("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", kind: .runtime)
    }

    func testErrorDescriptionIsReadable() {
        let e = TemplateError(.raised, "bad roles", line: 4, column: 2)
        XCTAssertEqual(e.description, "line 4, column 2: bad roles")
    }

    // MARK: chat convenience and generation tracking

    func testRenderChatPassesTransformersVariables() throws {
        let t = try Template("{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}|{{ tools is none }}|{{ documents is none }}")
        let out = try t.renderChat(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true,
                                   extra: ["bos_token": "<s>"])
        XCTAssertEqual(out, "<s><user>hi<assistant>|True|True")
        let withTools = try Template("{{ tools | map(attribute='name') | join(',') }}")
            .renderChat(messages: [], tools: [["name": "a"], ["name": "b"]])
        XCTAssertEqual(withTools, "a,b")
    }

    func testGenerationRanges() throws {
        let t = try Template("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}")
        let r = try t.renderTracked(Template.chatContext(messages: [
            ["role": "user", "content": "é?"], ["role": "assistant", "content": "👋"], ["role": "user", "content": "x"],
            ["role": "assistant", "content": "ok"],
        ]))
        XCTAssertEqual(r.text, "é?👋!xok!")
        XCTAssertEqual(r.generationRanges.map { String(r.text[$0]) }, ["👋!", "ok!"])
    }

    func testStrftimeNowUsesTheInjectedClock() throws {
        // 2024-07-26 12:34:56 in the local time zone.
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (2024, 7, 26, 12, 34, 56)
        let date = Calendar(identifier: .gregorian).date(from: c)!
        let t = try Template("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d, %H:%M:%S %p %j %y') }}",
                             options: Template.Options(now: { date }))
        XCTAssertEqual(try t.render(), "26 Jul 2024|Friday July 26, 12:34:56 PM 208 24")
    }

    func testTemplateIsSendableAndReusable() async throws {
        let t = try Template("{{ n * 2 }}")
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<8 { group.addTask { try t.render(["n": .int(i)]) } }
            var out: [String] = []
            for try await r in group { out.append(r) }
            return out.sorted()
        }
        XCTAssertEqual(results, ["0", "10", "12", "14", "2", "4", "6", "8"])
    }
}
