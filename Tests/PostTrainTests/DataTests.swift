import Foundation
import Jinja
import LM
@testable import PostTrain
import Tensor
import Tokenizers
import XCTest

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let smolGGUF = root.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let qwenGGUF = root.appendingPathComponent(".deps/models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf").path
    static let alpaca = root.appendingPathComponent(".deps/data/alpaca_en_demo.json").path
    static let dpo = root.appendingPathComponent(".deps/data/dpo_en_demo.json").path

    static func require(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("\(path) is missing: run `make setup`")
            throw XCTSkip("missing \(path)")
        }
    }

    nonisolated(unsafe) static var tokenizers: [String: Tokenizer] = [:]
    static func tokenizer(_ path: String) throws -> Tokenizer {
        try require(path)
        if let t = tokenizers[path] { return t }
        let t = try Tokenizer(ggufPath: path)
        tokenizers[path] = t
        return t
    }

    static func template(_ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent("Tests/JinjaTests/Fixtures/\(name).jinja"), encoding: .utf8)
    }

    static func temporaryFile(_ name: String, _ contents: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pt-data-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try! contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

/// Loss masks, formats, bad rows.
final class DataTests: XCTestCase {
    let multiTurn: [ChatMessage] = [
        ChatMessage(role: "system", content: "You are terse."),
        ChatMessage(role: "user", content: "Name a prime number."),
        ChatMessage(role: "assistant", content: "Seven."),
        ChatMessage(role: "user", content: "And an even one?"),
        ChatMessage(role: "assistant", content: "Two, the only even prime 🙂"),
    ]

    /// Decodes each maximal run of target / non-target tokens, checking every token's side.
    func runs(_ t: TokenizedExample, _ tok: Tokenizer) -> [(text: String, target: Bool)] {
        var out: [(String, Bool)] = []
        var start = 0
        for i in 1...t.ids.count where i == t.ids.count || t.isTarget[i] != t.isTarget[start] {
            out.append((tok.decode(Array(t.ids[start..<i])), t.isTarget[start]))
            start = i
        }
        return out
    }

    func checkMask(template: String?, tokenizerPath: String, endOfTurn: String) throws {
        let tok = try Fixtures.tokenizer(tokenizerPath)
        let chat = try ChatFormatter(template: template, tokenizer: tok)
        let renderer = ExampleRenderer(chat: chat)
        for msgs in [Array(multiTurn[1...2]), multiTurn] {
            let t = try renderer.tokenize(.chat(msgs, tools: nil))
            let targets = runs(t, tok).filter(\.target).map(\.text)
            let expected = msgs.filter { $0.role == "assistant" }.map { $0.content + endOfTurn }
            XCTAssertEqual(targets, expected)
            // The whole text is intact and nothing else (role headers, user turns) is a target.
            XCTAssertEqual(tok.decode(t.ids), try chat.render(msgs, addGenerationPrompt: false))
            let rest = runs(t, tok).filter { !$0.target }.map(\.text).joined()
            for m in msgs where m.role != "assistant" { XCTAssertTrue(rest.contains(m.content)) }
            XCTAssertFalse(targets.joined().contains("assistant"), "role header inside the loss: \(targets)")
            // lossOnNext shifts by one: the position before each target token carries its loss.
            XCTAssertEqual(t.lossOnNext.filter { $0 }.count, t.targetCount)
        }
    }

    func testLossMaskChatML() throws {
        try checkMask(template: nil, tokenizerPath: Fixtures.smolGGUF, endOfTurn: "<|im_end|>")  // SmolLM2's own template
    }

    func testLossMaskQwenTemplate() throws {
        try checkMask(template: nil, tokenizerPath: Fixtures.qwenGGUF, endOfTurn: "<|im_end|>")  // default system prompt inserted
    }

    func testLossMaskLlama3Family() throws {
        try checkMask(template: try Fixtures.template("llama3"), tokenizerPath: Fixtures.smolGGUF, endOfTurn: "<|eot_id|>")
    }

    func testLossMaskMistralFamily() throws {
        // [INST] … [/INST] answer</s>: the answer and EOS are targets, the instruction is not.
        let tok = try Fixtures.tokenizer(Fixtures.smolGGUF)
        let chat = try ChatFormatter(template: try Fixtures.template("mistral-instruct-v0.1"), tokenizer: tok)
        let msgs = Array(multiTurn[1...])
        let t = try ExampleRenderer(chat: chat).tokenize(.chat(msgs, tools: nil))
        let targets = runs(t, tok).filter(\.target).map(\.text)
        XCTAssertEqual(targets.count, 2)
        XCTAssertTrue(targets[0].contains("Seven.") && !targets[0].contains("prime number"), "\(targets)")
        XCTAssertTrue(targets[1].hasSuffix("🙂<|endoftext|>") || targets[1].contains("Two, the only even prime"), "\(targets)")
    }

    func testLossScopeAllAndCompletionFormats() throws {
        let tok = try Fixtures.tokenizer(Fixtures.smolGGUF)
        let chat = try ChatFormatter(template: nil, tokenizer: tok)
        let all = try ExampleRenderer(chat: chat, scope: .all).tokenize(.chat(Array(multiTurn[1...2]), tools: nil))
        XCTAssertTrue(all.isTarget.allSatisfy { $0 })
        let comp = try ExampleRenderer(chat: chat).tokenize(.completion(prompt: "2 + 2 =", completion: " 4"))
        XCTAssertEqual(runs(comp, tok).map(\.target), [false, true])
        XCTAssertEqual(runs(comp, tok).last!.text, " 4" + tok.idToToken(tok.eosTokenId!)!)
        let text = try ExampleRenderer(chat: chat).tokenize(.text("plain words"))
        XCTAssertTrue(text.isTarget.allSatisfy { $0 })
        let long = try ExampleRenderer(chat: chat, maxLength: 5).tokenize(.text(String(repeating: "word ", count: 50)))
        XCTAssertEqual(long.ids.count, 5)
        XCTAssertTrue(long.truncated)
    }

    func testFormatsAreRecognisedAndMapped() throws {
        let fields = FieldMap()
        func row(_ json: String) throws -> DataRow { DataRow(value: try Value(jsonString: json), file: "f.jsonl", line: 3) }
        XCTAssertEqual(try fields.example(row(#"{"text": "hi"}"#), format: .auto), .text("hi"))
        XCTAssertEqual(try fields.example(row(#"{"prompt": "a", "completion": "b"}"#), format: .auto), .completion(prompt: "a", completion: "b"))
        let alpaca = try fields.example(row(#"{"instruction": "Add", "input": "2 and 3", "output": "5", "system": "S"}"#), format: .auto)
        XCTAssertEqual(alpaca, .chat([ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Add\n2 and 3"),
                                      ChatMessage(role: "assistant", content: "5")], tools: nil))
        let share = try fields.example(row(#"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}"#), format: .auto)
        XCTAssertEqual(share, .chat([ChatMessage(role: "user", content: "q"), ChatMessage(role: "assistant", content: "a")], tools: nil))
        let msgs = try fields.example(row(#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "name": "bot"}]}"#), format: .auto)
        guard case .chat(let m, _) = msgs else { return XCTFail() }
        XCTAssertEqual(m[1].extra.map(\.key), ["name"])
        var renamed = FieldMap()
        renamed.instruction = "question"
        renamed.output = "answer"
        XCTAssertEqual(try renamed.example(row(#"{"question": "Q", "answer": "A"}"#), format: .auto),
                       .chat([ChatMessage(role: "user", content: "Q"), ChatMessage(role: "assistant", content: "A")], tools: nil))
        XCTAssertThrowsError(try fields.example(row(#"{"messages": [{"role": "user", "content": "q"}]}"#), format: .auto)) {
            XCTAssertTrue("\($0)".contains("f.jsonl:3") && "\($0)".contains("assistant"), "\($0)")
        }
    }

    func testMalformedRowsAreReportedAndPolicyApplies() throws {
        let path = Fixtures.temporaryFile("train.jsonl", """
        {"instruction": "Say hi", "output": "Hi!"}
        {"instruction": "No answer here"}
        this is not json
        {"instruction": "Say bye", "output": "Bye!"}

        """)
        let tok = try Fixtures.tokenizer(Fixtures.smolGGUF)
        let renderer = ExampleRenderer(chat: try ChatFormatter(template: nil, tokenizer: tok))
        // With "fail" the run stops before training at the first problem, named by file and line.
        XCTAssertThrowsError(try TokenizedDataset(sources: [DataSource(path: path)], renderer: renderer, policy: .fail)) { error in
            XCTAssertTrue("\(error)".contains("train.jsonl:3: invalid JSON"), "\(error)")
        }
        // A row missing a field names the field.
        let missing = Fixtures.temporaryFile("missing.jsonl", """
        {"instruction": "Say hi", "output": "Hi!"}
        {"instruction": "No answer", "input": "x", "output": 7}
        """)
        XCTAssertThrowsError(try TokenizedDataset(sources: [DataSource(path: missing, format: .alpaca)], renderer: renderer, policy: .fail)) { error in
            XCTAssertTrue("\(error)".contains("missing.jsonl:2 field \"output\""), "\(error)")
        }
        let noOutput = Fixtures.temporaryFile("nooutput.jsonl", #"{"instruction": "No answer here"}"#)
        XCTAssertThrowsError(try TokenizedDataset(sources: [DataSource(path: noOutput, format: .alpaca)], renderer: renderer, policy: .fail)) { error in
            XCTAssertTrue("\(error)".contains("nooutput.jsonl:1 field \"output\": missing field"), "\(error)")
        }
        let ds = try TokenizedDataset(sources: [DataSource(path: path)], renderer: renderer, policy: .skip)
        XCTAssertEqual(ds.examples.count, 2)
        XCTAssertEqual(ds.report.skipped.count, 2)
        XCTAssertTrue(ds.report.skipped.contains { $0.line == 3 && "\($0)".contains("invalid JSON") })
        XCTAssertTrue(ds.report.skipped.contains { $0.line == 2 })
        XCTAssertTrue(ds.report.summary.contains("2 bad rows skipped"))
    }

    func testMixingWeightsAndCaps() throws {
        let a = Fixtures.temporaryFile("a.jsonl", (0..<10).map { #"{"text": "a\#($0)"}"# }.joined(separator: "\n"))
        let b = Fixtures.temporaryFile("b.jsonl", (0..<10).map { #"{"text": "b\#($0)"}"# }.joined(separator: "\n"))
        let tok = try Fixtures.tokenizer(Fixtures.smolGGUF)
        let renderer = ExampleRenderer(chat: try ChatFormatter(template: nil, tokenizer: tok))
        let ds = try TokenizedDataset(sources: [DataSource(path: a, weight: 2), DataSource(path: b, weight: 0.5, maxExamples: 6)],
                                      renderer: renderer)
        XCTAssertEqual(ds.examples.count, 16)
        var opts = BatchingOptions()
        opts.batchSize = 1
        let batches = SFTBatches(ds, options: opts, padId: 0)
        XCTAssertEqual(batches.batchesPerEpoch, 20 + 3)  // 2 × 10 from a, half of the 6 kept from b
    }
}
