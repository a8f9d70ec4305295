import Foundation
import XCTest
@testable import Jinja

/// Renders real models' chat templates (Fixtures/, copied verbatim from their
/// tokenizer_config.json / GGUF metadata) over every conversation in `Conversations`, with and
/// without tools and generation prompt, and requires byte-identical output to transformers'
/// jinja2 setup — or the same `raise_exception` message when the template rejects the input.
final class JinjaFixtureParityTests: XCTestCase {
    static func fixture(_ name: String) throws -> String {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw TemplateError(.runtime, "Fixtures directory missing from the test bundle")
        }
        return try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }

    static let specialTokens: [String: Value] = [
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
    ]

    static let documents: [Value] = [
        ["title": "Tall penguins", "text": "Emperor penguins are the tallest."],
        ["title": "Penguin habitats", "text": "Emperor penguins only live in Antarctica.", "doc_id": "0"],
    ]

    /// Renders every conversation × tool sets × {generation prompt off, on} × `variants`.
    func checkFixture(_ name: String, variants: [[String: Value]] = [[:]], documents: Bool = false,
                      toolSets: [[Value]?] = [nil, Conversations.tools], minimumSuccesses: Int = 8,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let source = try Self.fixture(name)
        var jobs: [PythonReference.Job] = []
        var labels: [String] = []
        for (convName, messages) in Conversations.all {
            for tools in toolSets {
                for generationPrompt in [false, true] {
                    for (v, variant) in variants.enumerated() {
                        var extra = Self.specialTokens
                        for (k, value) in variant { extra[k] = value }
                        let context = Template.chatContext(messages: messages, tools: tools,
                                                           documents: documents ? Self.documents : nil,
                                                           addGenerationPrompt: generationPrompt, extra: extra)
                        jobs.append(PythonReference.Job(template: source, context: context))
                        labels.append("\(name) / \(convName) / tools: \(tools != nil) / add_generation_prompt: \(generationPrompt) / variant \(v) \(variant.keys.sorted())")
                    }
                }
            }
        }
        // The template must also parse on its own, and enough cases must render (so a template
        // that fails everywhere in both engines cannot pass vacuously).
        XCTAssertNoThrow(try Template(source), file: file, line: line)
        let results = PythonReference.assertParity(jobs, label: { labels[$0] }, file: file, line: line)
        let successes = results.filter { if case .ok = $0 { return true } else { return false } }.count
        XCTAssertGreaterThanOrEqual(successes, minimumSuccesses, "\(name): too few conversations rendered", file: file, line: line)
    }

    func testSmolLM2() throws { try checkFixture("smollm2.jinja") }
    func testQwen25() throws { try checkFixture("qwen2.5.jinja") }
    func testQwen3() throws {
        try checkFixture("qwen3.jinja", variants: [[:], ["enable_thinking": false], ["enable_thinking": true]])
    }
    func testLlama3() throws { try checkFixture("llama3.jinja") }
    func testLlama31() throws {
        try checkFixture("llama3.1.jinja", variants: [
            [:], ["tools_in_user_message": false], ["date_string": "01 Jan 2025"],
            ["builtin_tools": ["code_interpreter", "brave_search"]],
        ])
    }
    func testLlama32() throws {
        try checkFixture("llama3.2.jinja", variants: [[:], ["tools_in_user_message": false]])
    }
    func testZephyr() throws { try checkFixture("zephyr.jinja") }
    func testMistralInstructV01() throws { try checkFixture("mistral-instruct-v0.1.jinja", minimumSuccesses: 4) }
    func testMistralNemo() throws { try checkFixture("mistral-nemo.jinja", minimumSuccesses: 4) }
    func testMistralSmall32() throws { try checkFixture("mistral-small-3.2.jinja", minimumSuccesses: 4) }
    func testCodeLlamaInstruct() throws { try checkFixture("codellama-instruct.jinja", minimumSuccesses: 4) }
    func testGemma2() throws { try checkFixture("gemma2.jinja", minimumSuccesses: 4) }
    func testPhi35() throws { try checkFixture("phi3.5.jinja") }
    func testDBRX() throws { try checkFixture("dbrx-instruct.jinja") }
    /// The tool_use templates iterate `tools` unconditionally, and Hermes' `json_to_python_type`
    /// recurses forever on array parameters (in jinja2 too), so they get object-only schemas.
    func testHermes3ToolUse() throws {
        try checkFixture("hermes3-tool-use.jinja", toolSets: [[Conversations.weatherTool]])
    }
    func testDeepSeekR1Distill() throws { try checkFixture("deepseek-r1-distill.jinja") }
    func testDeepSeekV31() throws {
        try checkFixture("deepseek-v3.1.jinja", variants: [[:], ["thinking": true]])
    }
    func testCommandRPlusToolUse() throws {
        try checkFixture("command-r-plus-tool-use.jinja", documents: true, toolSets: [[Conversations.weatherTool]])
    }
    func testGraniteTools() throws {
        try checkFixture("granite3.3.jinja", variants: [[:], ["thinking": true]], documents: true)
    }
    func testFunctionaryV32() throws { try checkFixture("functionary-v3.2.jinja") }
    func testKimiK2() throws { try checkFixture("kimi-k2.jinja") }
    func testGptOss() throws {
        try checkFixture("gpt-oss.jinja", variants: [
            [:], ["reasoning_effort": "high", "model_identity": "You are a test model."],
            ["builtin_tools": ["browser", "python"]],
        ])
    }
}
