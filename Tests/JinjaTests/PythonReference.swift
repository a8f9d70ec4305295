import Foundation
import XCTest
@testable import Jinja

/// Renders templates with Python's jinja2 configured exactly as transformers configures it, so
/// tests can compare our output byte for byte. Python and jinja2 are required: `make setup`
/// installs jinja2 into .deps/py (system python3 with Jinja2 also works).
enum PythonReference {
    struct Job {
        var template: String
        var context: [String: Value]
        var options: Template.Options = Template.Options()
    }

    enum Result: Equatable {
        /// Rendered text and the `{% generation %}` spans as code-point offsets.
        case ok(String, spans: [[Int]])
        /// Python's exception class name, message, and line (syntax errors only).
        case error(type: String, message: String, line: Int?)
    }

    /// The repository root, found from this file's location (symlinks resolved, so a scratch
    /// package that links Tests/JinjaTests still finds .deps).
    static var repoRoot: URL {
        let here = URL(fileURLWithPath: #filePath)
        var resolved = here
        if let real = realpath(here.path, nil) {
            resolved = URL(fileURLWithPath: String(cString: real))
            free(real)
        }
        return resolved.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static let script = #"""
import datetime, json, sys
try:
    import jinja2
    import jinja2.ext
    import jinja2.sandbox
    from jinja2.ext import Extension
except ImportError as e:
    print(json.dumps({"fatal": "cannot import jinja2: %s" % e}))
    sys.exit(3)

# Mirrors transformers.utils.chat_template_utils._compile_jinja_template.
def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def strftime_now(format):
    return datetime.datetime.now().strftime(format)

class AssistantTracker(Extension):
    tags = {"generation"}
    def __init__(self, environment):
        super().__init__(environment)
        self.blocks = None
        self.spans = None
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)
    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        rv = caller()
        if self.blocks is not None:
            start = len("".join(self.blocks))
            self.spans.append([start, start + len(rv)])
        return rv

def make_env(trim_blocks, lstrip_blocks, keep_trailing_newline):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks, keep_trailing_newline=keep_trailing_newline,
        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env

envs, compiled = {}, {}
jobs = json.load(open(sys.argv[1], encoding="utf-8"))
results = []
for job in jobs:
    opts = job["options"]
    key = (opts["trim_blocks"], opts["lstrip_blocks"], opts["keep_trailing_newline"])
    env = envs.get(key) or envs.setdefault(key, make_env(*key))
    tracker = env.extensions[AssistantTracker.identifier]
    try:
        # Compiling is the slow part of jinja2; templates repeat across jobs.
        template = compiled.get((key, job["template"]))
        if template is None:
            template = compiled[(key, job["template"])] = env.from_string(job["template"])
        tracker.blocks, tracker.spans = [], []
        for block in template.generate(**job["context"]):
            tracker.blocks.append(block)
        results.append({"ok": "".join(tracker.blocks), "spans": tracker.spans})
    except Exception as e:
        results.append({"error": type(e).__name__, "message": getattr(e, "message", None) or str(e),
                        "line": getattr(e, "lineno", None)})
    finally:
        tracker.blocks = tracker.spans = None
json.dump(results, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
"""#

    enum Failure: Error, CustomStringConvertible {
        case unavailable(String)
        var description: String {
            switch self {
            case .unavailable(let why):
                return "Python reference (python3 + jinja2) is unavailable: \(why). Run `make setup` to install it."
            }
        }
    }

    static func run(_ jobs: [Job]) throws -> [Result] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jinja-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scriptURL = dir.appendingPathComponent("render.py")
        let input = dir.appendingPathComponent("jobs.json")
        let output = dir.appendingPathComponent("results.json")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let payload = Value.array(jobs.map { job in
            .object([
                ("template", .string(job.template)),
                ("context", .object(OrderedMap(job.context.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))),
                ("options", .object([
                    ("trim_blocks", .bool(job.options.trimBlocks)),
                    ("lstrip_blocks", .bool(job.options.lstripBlocks)),
                    ("keep_trailing_newline", .bool(job.options.keepTrailingNewline)),
                ])),
            ])
        })
        try payload.jsonString().write(to: input, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptURL.path, input.path, output.path]
        var env = ProcessInfo.processInfo.environment
        let deps = repoRoot.appendingPathComponent(".deps/py").path
        env["PYTHONPATH"] = [deps, env["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        env["PYTHONIOENCODING"] = "utf-8"
        process.environment = env
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw Failure.unavailable("cannot start python3 (\(error))")
        }
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        let errData = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: outData + errData, as: UTF8.self)
            throw Failure.unavailable("python3 exited with status \(process.terminationStatus): \(text)")
        }
        guard case .array(let items) = try Value(jsonData: try Data(contentsOf: output)) else {
            throw Failure.unavailable("unexpected output from the reference script")
        }
        return try items.map { item in
            if let text = item["ok"]?.stringValue {
                var spans: [[Int]] = []
                if case .array(let list)? = item["spans"] {
                    for s in list {
                        if case .array(let pair) = s, pair.count == 2, case .int(let a) = pair[0], case .int(let b) = pair[1] {
                            spans.append([a, b])
                        }
                    }
                }
                return .ok(text, spans: spans)
            }
            guard let type = item["error"]?.stringValue, let message = item["message"]?.stringValue else {
                throw Failure.unavailable("malformed result \(item)")
            }
            var line: Int? = nil
            if case .int(let l)? = item["line"] { line = l }
            return .error(type: type, message: message, line: line)
        }
    }

    /// Renders a job with this package, in the same shape as the Python result.
    static func renderHere(_ job: Job) -> Result {
        do {
            let t = try Template(job.template, options: job.options)
            let r = try t.renderTracked(job.context)
            let spans = r.generationRanges.map { range in
                [r.text.unicodeScalars.distance(from: r.text.startIndex, to: range.lowerBound),
                 r.text.unicodeScalars.distance(from: r.text.startIndex, to: range.upperBound)]
            }
            return .ok(r.text, spans: spans)
        } catch let e as TemplateError {
            return .error(type: "TemplateError.\(e.kind.rawValue)", message: e.message, line: e.line)
        } catch {
            return .error(type: "\(type(of: error))", message: "\(error)", line: nil)
        }
    }

    /// Runs every job here and in Python and reports each difference as a test failure.
    /// A Python `TemplateError` (what `raise_exception` raises) must come back as our `.raised`
    /// error with the same message; any other Python exception must be an error here too.
    /// Returns our results, so callers can make further checks without rendering twice.
    @discardableResult
    static func assertParity(_ jobs: [Job], label: (Int) -> String, file: StaticString = #filePath,
                             line: UInt = #line) -> [Result] {
        let ours = jobs.map(renderHere)
        let expected: [Result]
        do {
            expected = try run(jobs)
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return ours
        }
        XCTAssertEqual(expected.count, jobs.count, file: file, line: line)
        for (i, (want, got)) in zip(expected, ours).enumerated() {
            switch (want, got) {
            case (.ok(let a, let sa), .ok(let b, let sb)):
                if a != b {
                    XCTFail("\(label(i)): output differs from jinja2\n--- jinja2:\n\(a)\n--- swift:\n\(b)\n--- first difference at scalar \(firstDifference(a, b))",
                            file: file, line: line)
                } else if sa != sb {
                    XCTFail("\(label(i)): generation spans differ: jinja2 \(sa), swift \(sb)", file: file, line: line)
                }
            case (.error(let type, let message, let pyLine), .error(let ours, let ourMessage, let ourLine)):
                // The kinds of error a template author acts on must match exactly.
                let mapped = ["TemplateError": "TemplateError.raised", "UndefinedError": "TemplateError.undefined",
                              "SecurityError": "TemplateError.security", "TemplateSyntaxError": "TemplateError.syntax",
                              "TemplateAssertionError": "TemplateError.syntax"]
                if let kind = mapped[type] {
                    XCTAssertEqual(ours, kind, "\(label(i)): jinja2 raised \(type): \(message); we raised \(ourMessage)",
                                   file: file, line: line)
                    XCTAssertEqual(ourMessage, message, "\(label(i))", file: file, line: line)
                }
                if type == "TemplateSyntaxError" || type == "TemplateAssertionError" {
                    XCTAssertEqual(ourLine, pyLine, "\(label(i)): line of the syntax error", file: file, line: line)
                }
            case (.error(let type, let message, _), .ok(let text, _)):
                XCTFail("\(label(i)): jinja2 raised \(type): \(message) but we rendered:\n\(text)", file: file, line: line)
            case (.ok(let text, _), .error(let type, let message, _)):
                XCTFail("\(label(i)): we raised \(type): \(message) but jinja2 rendered:\n\(text)", file: file, line: line)
            }
        }
        return ours
    }

    static func firstDifference(_ a: String, _ b: String) -> String {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0
        while i < min(x.count, y.count), x[i] == y[i] { i += 1 }
        func around(_ s: [Unicode.Scalar]) -> String {
            pyRepr(String(scalars: s[max(0, i - 20)..<min(s.count, i + 20)]))
        }
        return "\(i): jinja2 \(around(x)) vs swift \(around(y))"
    }
}
