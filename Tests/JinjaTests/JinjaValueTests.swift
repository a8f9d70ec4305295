import Foundation
import XCTest
@testable import Jinja

/// The public `Value` type, its ordered JSON reader/writer, and Python float formatting.
final class JinjaValueTests: XCTestCase {
    func testLiteralsKeepKeyOrder() {
        let v: Value = ["z": 1, "a": [true, nil, 2.5, "s"], "m": ["k": "v"]]
        guard case .object(let o) = v else { return XCTFail("not an object") }
        XCTAssertEqual(o.keys, ["z", "a", "m"])
        XCTAssertEqual(v["a"]?[1], Value.none)
        XCTAssertEqual(v["m"]?["k"]?.stringValue, "v")
        XCTAssertEqual(v.jsonString(), #"{"z": 1, "a": [true, null, 2.5, "s"], "m": {"k": "v"}}"#)
    }

    func testOrderedMapUsesScalarKeysAndUnorderedEquality() {
        var m = OrderedMap<Value>()
        m["é"] = 1
        m["e\u{301}"] = 2 // canonically equivalent, but a different Python dict key
        XCTAssertEqual(m.count, 2)
        m["é"] = 3
        XCTAssertEqual(m.keys, ["é", "e\u{301}"])
        XCTAssertEqual(m["é"], 3)
        m["é"] = nil
        XCTAssertEqual(m.keys, ["e\u{301}"])
        XCTAssertEqual(OrderedMap<Value>([("a", 1), ("b", 2)]), OrderedMap<Value>([("b", 2), ("a", 1)]))
    }

    func testJSONReaderKeepsOrderAndNumberKinds() throws {
        let v = try Value(jsonString: #"  {"b": 1, "a": 1.0, "c": -0.5e2, "d": [null, true, false], "e": "\u00e9\ud83d\ude00\n\"", "f": {}, "g": 12345678901234567890}"#)
        guard case .object(let o) = v else { return XCTFail("not an object") }
        XCTAssertEqual(o.keys, ["b", "a", "c", "d", "e", "f", "g"])
        XCTAssertEqual(v["b"], .int(1))
        XCTAssertEqual(v["a"], .double(1.0))
        XCTAssertEqual(v["c"], .double(-50))
        XCTAssertEqual(v["e"], .string("é😀\n\""))
        XCTAssertEqual(v["g"], .double(Double("12345678901234567890")!))
        XCTAssertEqual(v.jsonString(), #"{"b": 1, "a": 1.0, "c": -50.0, "d": [null, true, false], "e": "é😀\n\"", "f": {}, "g": 1.2345678901234567e+19}"#)
        XCTAssertEqual(try Value(jsonString: "[NaN, Infinity, -Infinity]").jsonString(), "[NaN, Infinity, -Infinity]")
    }

    func testJSONReaderRejectsMalformedInput() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "\"unterminated", "[1] x", "tru", "{\"a\": \"\u{01}\"}", "1.", "-"] {
            XCTAssertThrowsError(try Value(jsonString: bad), "accepted \(pyRepr(bad))")
        }
    }

    func testJSONErrorsNamePosition() {
        XCTAssertThrowsError(try Value(jsonString: "{\n  \"a\": [1, 2,]\n}")) { error in
            guard let e = error as? TemplateError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.message, "invalid JSON at byte 15: expected a value")
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.column, 14)
        }
    }

    func testJSONIndentLikePython() throws {
        let v = try Value(jsonString: #"{"a": [1, {"b": []}], "c": {}}"#)
        XCTAssertEqual(v.jsonString(indent: 2), "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}")
        XCTAssertEqual(v.jsonString(sortKeys: true), #"{"a": [1, {"b": []}], "c": {}}"#)
    }

    func testValueFromFoundationObjects() throws {
        let data = #"{"role": "user", "n": 2, "x": 0.5, "ok": true, "none": null, "list": [1, "a"]}"#.data(using: .utf8)!
        let any = try JSONSerialization.jsonObject(with: data)
        let v = try Value(any: any)
        XCTAssertEqual(v["role"], "user")
        XCTAssertEqual(v["n"], .int(2))
        XCTAssertEqual(v["x"], .double(0.5))
        XCTAssertEqual(v["ok"], .bool(true))
        XCTAssertEqual(v["none"], Value.none)
        XCTAssertEqual(v["list"], [1, "a"])
        // Unordered Swift dictionaries are sorted so renders are deterministic.
        let sorted = try Value(any: ["b": 1, "a": [1.5, false]] as [String: Any])
        XCTAssertEqual(sorted.jsonString(), #"{"a": [1.5, false], "b": 1}"#)
        XCTAssertThrowsError(try Value(any: Date()))
    }

    func testPythonFloatRepr() {
        let cases: [(Double, String)] = [
            (1, "1.0"), (-1.5, "-1.5"), (0.1, "0.1"), (1e16, "1e+16"), (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"), (1e-4, "0.0001"), (1e-5, "1e-05"), (1.5e-7, "1.5e-07"),
            (.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (0.0, "0.0"), (-0.0, "-0.0"),
            (.infinity, "inf"), (-.infinity, "-inf"), (.nan, "nan"), (100, "100.0"), (2.5e-3, "0.0025"),
            (1 / 3, "0.3333333333333333"), (Double(1 << 53) + 2, "9007199254740994.0"),
        ]
        for (d, s) in cases { XCTAssertEqual(pyFloatRepr(d), s, "\(d)") }
    }

    /// Thousands of doubles (random bit patterns and edge cases) printed here and by Python's repr.
    /// The round-trip check first makes sure the value Python receives is exactly ours.
    func testFloatReprMatchesPythonOnRandomDoubles() {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0.1, 0.2, 0.3, 1e22, 1e23, 2.2250738585072014e-308, .leastNonzeroMagnitude]
        for e in -30...30 { values.append(pow(10, Double(e))); values.append(1.5 * pow(10, Double(e))) }
        while values.count < 3000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite { values.append(d) }
            values.append(Double(Int.random(in: -1_000_000...1_000_000)) / Double([1, 8, 10, 100, 1024, 3].randomElement()!))
        }
        for d in values {
            XCTAssertEqual(Double(pyFloatRepr(d)), d, "repr of \(d) does not round-trip: \(pyFloatRepr(d))")
        }
        let job = PythonReference.Job(template: "{% for x in xs %}{{ x }} {{ -x }}\n{% endfor %}{{ xs | tojson }}",
                                      context: ["xs": .array(values.map { .double($0) })])
        PythonReference.assertParity([job]) { _ in "float repr" }
    }

    func testPythonStringRepr() {
        XCTAssertEqual(pyRepr("plain"), "'plain'")
        XCTAssertEqual(pyRepr("it's"), "\"it's\"")
        XCTAssertEqual(pyRepr("both ' and \""), "'both \\' and \"'")
        XCTAssertEqual(pyRepr("\t\n\r\\\u{0}\u{7f}\u{a0}é\u{200b}😀"), "'\\t\\n\\r\\\\\\x00\\x7f\\xa0é\\u200b😀'")
    }
}
