import Foundation
import XCTest

/// `posttrain template`: chat templates rendered as transformers renders them.
final class TemplateCommandTests: XCTestCase {
    static let twoTurns = """
    {"messages": [
      {"role": "user", "content": "What is the capital of France?"},
      {"role": "assistant", "content": "The capital of France is Paris."},
      {"role": "user", "content": "And of Germany?"},
      {"role": "assistant", "content": "Berlin."}
    ], "add_generation_prompt": false}
    """

    /// SmolLM2's template adds its default system message and writes ChatML.
    static let twoTurnsExpected = """
    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    What is the capital of France?<|im_end|>
    <|im_start|>assistant
    The capital of France is Paris.<|im_end|>
    <|im_start|>user
    And of Germany?<|im_end|>
    <|im_start|>assistant
    Berlin.<|im_end|>

    """

    var fixture: URL { CLI.repoRoot.appendingPathComponent("Tests/JinjaTests/Fixtures/smollm2.jinja") }

    func testModelTemplateMatchesHandWrittenText() throws {
        let r = try CLI.succeed(["template"], stdin: Self.twoTurns)
        XCTAssertEqual(r.out, Self.twoTurnsExpected, "exact text, no newline added")

        // With a generation prompt, and as a bare array of messages.
        var request = Self.twoTurns.replacingOccurrences(of: "\"add_generation_prompt\": false", with: "\"add_generation_prompt\": true")
        XCTAssertEqual(try CLI.succeed(["template", "--model", "smollm2-135m-instruct"], stdin: request).out,
                       Self.twoTurnsExpected + "<|im_start|>assistant\n")
        request = "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}]"
        XCTAssertEqual(try CLI.succeed(["template"], stdin: request).out,
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }

    func testMatchesPythonJinja2() throws {
        // transformers' environment: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True),
        // with the tokenizer's special tokens as variables.
        let script = """
        import json, sys
        import jinja2, jinja2.sandbox, jinja2.ext
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                           extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False)
        template = env.from_string(open(sys.argv[1], encoding="utf-8").read())
        request = json.load(sys.stdin)
        variables = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
        variables.update({k: v for k, v in request.items() if k not in ("messages", "add_generation_prompt")})
        sys.stdout.write(template.render(messages=request["messages"],
                                         add_generation_prompt=request.get("add_generation_prompt", False), **variables))
        """
        for generationPrompt in [false, true] {
            let request = Self.twoTurns.replacingOccurrences(of: "\"add_generation_prompt\": false",
                                                             with: "\"add_generation_prompt\": \(generationPrompt)")
            let expected = try CLI.python(script, args: [fixture.path], stdin: request)
            XCTAssertEqual(try CLI.succeed(["template"], stdin: request).out, expected, "the model's own template")
            XCTAssertEqual(try CLI.succeed(["template", "--template", fixture.path], stdin: request).out, expected,
                           "--template without a model")
        }
    }

    func testKeyOrderExtraVariablesAndSpecialTokens() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-tpl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("probe.jinja")
        try "{{ messages[0] | tojson }}|{{ tools | tojson }}|{{ flavour }}|{{ bos_token | default('no-bos') }}|{{ eos_token | default('no-eos') }}|{{ add_generation_prompt }}"
            .write(to: file, atomically: true, encoding: .utf8)
        let request = """
        {"messages": [{"role": "user", "content": "hi", "zeta": 1, "alpha": [true, null]}],
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": 2}}}],
         "flavour": "vanilla", "add_generation_prompt": true}
        """
        // Without a model: no special tokens.
        XCTAssertEqual(try CLI.succeed(["template", "--template", file.path], stdin: request).out,
                       #"{"role": "user", "content": "hi", "zeta": 1, "alpha": [true, null]}|[{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": 2}}}]|vanilla|no-bos|no-eos|True"#)
        // With one: its tokens; a key on stdin overrides them, as apply_chat_template's kwargs do.
        let withModel = try CLI.succeed(["template", "--template", file.path, "--model", "smollm2-135m-instruct"], stdin: request).out
        XCTAssertTrue(withModel.hasSuffix("|vanilla|<|im_start|>|<|im_end|>|True"), withModel)
        let overridden = request.replacingOccurrences(of: "\"flavour\"", with: "\"eos_token\": \"<eos>\", \"flavour\"")
        let out = try CLI.succeed(["template", "--template", file.path, "--model", "smollm2-135m-instruct"], stdin: overridden).out
        XCTAssertTrue(out.hasSuffix("|<|im_start|>|<eos>|True"), out)
    }

    func testErrors() throws {
        let badJSON = try CLI.run(["template"], stdin: "{\"messages\": [\n  {\"role\": \"user\", \"content\": \"hi\"},\n  oops\n]}")
        XCTAssertNotEqual(badJSON.status, 0)
        XCTAssertTrue(badJSON.err.contains("line 3"), badJSON.err)

        let noMessages = try CLI.run(["template"], stdin: "{\"add_generation_prompt\": true}")
        XCTAssertNotEqual(noMessages.status, 0)
        XCTAssertTrue(noMessages.err.contains("\"messages\""), noMessages.err)

        let missingTemplate = try CLI.run(["template", "--template", "/nonexistent/x.jinja"], stdin: "[]")
        XCTAssertNotEqual(missingTemplate.status, 0)
        XCTAssertTrue(missingTemplate.err.contains("/nonexistent/x.jinja"), missingTemplate.err)
    }
}
