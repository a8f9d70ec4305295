import Foundation
import Jinja
import LM
@testable import PostTrain
import Tensor
import Tokenizers
import XCTest

/// Preference formats, tokenization through the chat template, layouts and batches.
final class PreferenceDataTests: XCTestCase {
    let parser = PreferenceParser()

    func row(_ json: String, line: Int = 4) throws -> DataRow { DataRow(value: try Value(jsonString: json), file: "prefs.jsonl", line: line) }
    func user(_ s: String) -> ChatMessage { ChatMessage(role: "user", content: s) }
    func assistant(_ s: String) -> ChatMessage { ChatMessage(role: "assistant", content: s) }

    func testPairFormats() throws {
        // Plain strings, with a margin.
        var r = try parser.record(row(#"{"prompt": "Q", "chosen": "good", "rejected": "bad", "margin": 2}"#))
        XCTAssertEqual(r.prompt, [user("Q")])
        XCTAssertEqual(r.answers, [[assistant("good")], [assistant("bad")]])
        XCTAssertEqual(r.judgement, .pair(margin: 2))
        // Conversational prompt and answers; the margin from UltraFeedback-style scores.
        r = try parser.record(row(#"{"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "good"}], "rejected": [{"role": "assistant", "content": "bad"}], "score_chosen": 8.5, "score_rejected": 6}"#))
        XCTAssertEqual(r.prompt, [ChatMessage(role: "system", content: "S"), user("Q")])
        XCTAssertEqual(r.judgement, .pair(margin: 2.5))
        // TRL's implicit prompt: the shared start of two whole conversations.
        r = try parser.record(row(#"{"chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}]}"#))
        XCTAssertEqual(r.prompt, [user("Q")])
        XCTAssertEqual(r.answers, [[assistant("good")], [assistant("bad")]])
        // LLaMA-Factory sharegpt: conversations + chosen/rejected turn objects, with a system field.
        r = try parser.record(row(#"{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}, {"from": "human", "value": "Q"}], "chosen": {"from": "gpt", "value": "good"}, "rejected": {"from": "gpt", "value": "bad"}, "system": "S"}"#))
        XCTAssertEqual(r.prompt, [ChatMessage(role: "system", content: "S"), user("hi"), assistant("hello"), user("Q")])
        XCTAssertEqual(r.answers, [[assistant("good")], [assistant("bad")]])
        // Alpaca-style instruction + input.
        r = try parser.record(row(#"{"instruction": "Add", "input": "2 and 3", "chosen": "5", "rejected": "6"}"#))
        XCTAssertEqual(r.prompt, [user("Add\n2 and 3")])
    }

    func testRankedScoredAndLabelledFormats() throws {
        var r = try parser.record(row(#"{"prompt": "Q", "responses": ["a", "b", "c"]}"#))
        XCTAssertEqual(r.answers.map { $0[0].content }, ["a", "b", "c"])
        XCTAssertEqual(r.judgement, .ranked(levels: [3, 2, 1]))
        // Ranks (1 best) and scores reorder best first; equal values are ties.
        r = try parser.record(row(#"{"prompt": "Q", "responses": ["a", "b", "c"], "ranks": [3, 1, 2]}"#))
        XCTAssertEqual(r.answers.map { $0[0].content }, ["b", "c", "a"])
        r = try parser.record(row(#"{"prompt": "Q", "responses": ["a", "b", "c"], "scores": [0.5, 0.9, 0.5]}"#))
        XCTAssertEqual(r.answers.map { $0[0].content }, ["b", "a", "c"])
        XCTAssertEqual(r.judgement, .ranked(levels: [0.9, 0.5, 0.5]))
        r = try parser.record(row(#"{"prompt": "Q", "completion": "A", "score": 0.25}"#))
        XCTAssertEqual(r.judgement, .scored(0.25))
        r = try parser.record(row(#"{"prompt": "Q", "completion": "A", "label": false}"#))
        XCTAssertEqual(r.judgement, .labelled(desirable: false))
        // LLaMA-Factory's KTO format: the final assistant message is the answer.
        r = try parser.record(row(#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "label": true}"#))
        XCTAssertEqual(r.prompt, [user("hi"), assistant("yo"), user("Q")])
        XCTAssertEqual(r.answers, [[assistant("A")]])
        XCTAssertEqual(r.judgement, .labelled(desirable: true))
        r = try parser.record(row(#"{"prompt": "Q", "completion": "A"}"#))
        XCTAssertEqual(r.judgement, .unjudged)
    }

    func testBadRowsNameFileLineAndField() throws {
        func check(_ json: String, _ field: String?, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try parser.record(row(json, line: 7))) { e in
                guard let e = e as? DataError else { return XCTFail("\(e)", file: file, line: line) }
                XCTAssertEqual(e.file, "prefs.jsonl", file: file, line: line)
                XCTAssertEqual(e.line, 7, file: file, line: line)
                XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
                XCTAssertTrue(e.description.contains(text), "\(e)", file: file, line: line)
            }
        }
        check(#"{"prompt": "Q", "chosen": "good"}"#, "rejected", "missing")
        check(#"{"prompt": "Q", "chosen": 3, "rejected": "bad"}"#, "chosen", "expected a string")
        check(#"{"prompt": "Q", "completion": "A", "label": "maybe"}"#, "label", "true or false")
        check(#"{"prompt": "Q", "responses": ["a", "b"], "ranks": [1]}"#, "ranks", "1 entries for 2")
        check(#"{"prompt": "Q", "responses": ["a", "b"], "scores": [1, 1]}"#, "responses", "tied")
        check(#"{"conversations": [{"from": "human", "value": "Q"}], "chosen": {"from": "robot", "value": "x"}, "rejected": "y"}"#, "chosen.from", "unknown speaker")
        check(#"{"question": "Q", "answer": "A"}"#, nil, "no known fields")
        check(#"{"chosen": "good", "rejected": "bad"}"#, "chosen", "no prompt")
    }

    /// The demo files of LLaMA-Factory load completely.
    func testLlamaFactoryDemoFilesLoad() throws {
        try Fixtures.require(Fixtures.dpo)
        var problems: [DataError] = []
        let dpo = try DataFile.read(Fixtures.dpo, policy: .fail, problems: &problems).map { try parser.record($0) }
        XCTAssertEqual(dpo.count, 300)
        XCTAssertTrue(dpo.allSatisfy { $0.answers.count == 2 && $0.prompt.last?.role == "user" })
        let kto = Fixtures.root.appendingPathComponent(".deps/data/kto_en_demo.json").path
        let labelled = try DataFile.read(kto, policy: .fail, problems: &problems).map { try parser.record($0) }
        XCTAssertEqual(labelled.count, 300)
        XCTAssertEqual(labelled.filter { $0.judgement == .labelled(desirable: true) }.count, 150)
    }

    /// Chosen and rejected rows share the prompt tokens exactly; the targets are exactly the
    /// answer and its end-of-turn token, and the row ends there.
    func testTokenizationMarksExactlyTheAnswer() throws {
        let tok = try Fixtures.tokenizer(Fixtures.smolGGUF)
        let chat = try ChatFormatter(template: nil, tokenizer: tok)
        let renderer = PreferenceRenderer(chat: chat, maxLength: 512)
        let prompt = [user("Name a prime."), assistant("Seven."), user("And an even one?")]
        let rows = try renderer.tokenize(prompt: prompt, tools: nil, answers: [[assistant("Two.")], [assistant("Four, clearly.")]])
        XCTAssertEqual(rows.count, 2)
        for (row, answer) in zip(rows, ["Two.", "Four, clearly."]) {
            let first = row.isTarget.firstIndex(of: true)!
            XCTAssertTrue(row.isTarget[first...].allSatisfy { $0 }, "targets are one run at the end")
            XCTAssertEqual(tok.decode(Array(row.ids[first...])), answer + "<|im_end|>")
            XCTAssertEqual(tok.decode(Array(row.ids[..<first])), try chat.render(prompt, addGenerationPrompt: true))
        }
        let p0 = rows[0].isTarget.firstIndex(of: true)!, p1 = rows[1].isTarget.firstIndex(of: true)!
        XCTAssertEqual(Array(rows[0].ids[..<p0]), Array(rows[1].ids[..<p1]))

        // Too long: the prompt's start is cut (keep_end), both answers keep the same prompt.
        let short = PreferenceRenderer(chat: chat, maxLength: 40, maxPromptLength: 20)
        let long = [user(String(repeating: "blah ", count: 60) + "What now?")]
        let cut = try short.tokenize(prompt: long, tools: nil, answers: [[assistant("Stop.")], [assistant("Go on and on.")]])
        XCTAssertTrue(cut.allSatisfy { $0.truncated && $0.ids.count <= 40 })
        XCTAssertTrue(tok.decode(Array(cut[0].ids.prefix(cut[0].isTarget.firstIndex(of: true)!))).hasSuffix("What now?<|im_end|>\n<|im_start|>assistant\n"))
        XCTAssertEqual(tok.decode(cut[0].ids.enumerated().filter { cut[0].isTarget[$0.offset] }.map(\.element)), "Stop.<|im_end|>")
    }

    func writeJSONL(_ lines: [String]) -> String { Fixtures.temporaryFile("prefs.jsonl", lines.joined(separator: "\n") + "\n") }

    func renderer() throws -> PreferenceRenderer {
        PreferenceRenderer(chat: try ChatFormatter(template: nil, tokenizer: try Fixtures.tokenizer(Fixtures.smolGGUF)), maxLength: 256)
    }

    func testLayoutsAndBatches() throws {
        let path = writeJSONL([
            #"{"prompt": "Q1", "chosen": "a", "rejected": "b"}"#,
            #"{"prompt": "Q2", "responses": ["x", "y", "z"]}"#,
            #"{"prompt": "Q3", "chosen": "c", "rejected": "d"}"#,
        ])
        let r = try renderer()
        // Pairs: the ranked list gives its three ordered pairs.
        let pairs = try PreferenceDataset(sources: [DataSource(path: path)], renderer: r, layout: .pairs)
        XCTAssertEqual(pairs.units.count, 5)
        XCTAssertEqual(pairs.answers.count, 7)
        XCTAssertEqual(Set(pairs.unitRecord), [0, 1, 2])
        let batches = PreferenceBatches(pairs, batchSize: 2, padId: 0, seed: 1)
        XCTAssertEqual(batches.batchesPerEpoch, 3)
        // Every unit appears once per epoch, and a batch is one forward pass of [chosen…, rejected…].
        var seen = 0
        for i in 0..<batches.batchesPerEpoch {
            let b = try batches.batch(epoch: 0, index: i)
            guard case .pairs(let c, let rj, let w, _) = b.layout else { return XCTFail() }
            seen += b.unitCount
            XCTAssertEqual(b.rows.tokens.shape.rows, b.rows.count)
            XCTAssertEqual(w, Array(repeating: 1, count: c.count))
            XCTAssertLessThan(c.max()!, rj.max()!, "chosen rows come first")
            XCTAssertEqual(b.rows.lossRows.count, b.rows.lengths.reduce(0, +))
        }
        XCTAssertEqual(seen, 5)
        // The same cursor gives the same batch.
        XCTAssertEqual(try batches.batch(epoch: 1, index: 2).rows.lengths, try batches.batch(epoch: 1, index: 2).rows.lengths)

        // Groups keep the ranked list as one unit; a pair is a group of two.
        let groups = try PreferenceDataset(sources: [DataSource(path: path)], renderer: r, layout: .groups)
        XCTAssertEqual(groups.units.count, 3)
        // KTO: pairs become a desirable and an undesirable answer; ranked lists their best and worst;
        // each unit gets a mismatched row (its prompt, another unit's answer).
        let labels = try PreferenceDataset(sources: [DataSource(path: path)], renderer: r, layout: .labels(mismatched: true))
        XCTAssertEqual(labels.units.count, 6)
        XCTAssertTrue(labels.units.allSatisfy { if case .labelled(_, _, let m?) = $0 { m >= 6 } else { false } })
        XCTAssertEqual(labels.units.filter { if case .labelled(_, true, _) = $0 { true } else { false } }.count, 3)
        let kb = PreferenceBatches(labels, batchSize: 6, padId: 0, shuffle: false).makeBatch(Array(0..<6))
        XCTAssertEqual(kb.mismatchedRows?.count, 6)
        // Pointwise needs scores: pairs are refused with the row named.
        XCTAssertThrowsError(try PreferenceDataset(sources: [DataSource(path: path)], renderer: r, layout: .scores)) {
            XCTAssertTrue("\($0)".contains("prefs.jsonl:1") && "\($0)".contains("score"), "\($0)")
        }
        let skipped = try PreferenceDataset(sources: [DataSource(path: path)], renderer: r, layout: .scores, policy: .skip)
        XCTAssertEqual(skipped.report.skipped.count, 3)
    }

    func testSplitKeepsAPromptsUnitsTogether() throws {
        var lines: [String] = []
        for i in 0..<20 { lines.append(#"{"prompt": "Q\#(i)", "responses": ["a\#(i)", "b\#(i)", "c\#(i)"]}"#) }
        let data = try PreferenceDataset(sources: [DataSource(path: writeJSONL(lines))], renderer: try renderer(), layout: .pairs)
        XCTAssertEqual(data.units.count, 60)
        let (train, valid) = data.split(validationFraction: 0.2, seed: 3)
        XCTAssertEqual(valid.units.count, 12)
        XCTAssertTrue(Set(train.unitRecord).isDisjoint(with: Set(valid.unitRecord)))
        XCTAssertEqual(valid.answers.count, 12, "4 prompts × 3 answers, re-indexed")
        XCTAssertTrue(valid.units.allSatisfy { $0.answerIndices.allSatisfy { $0 < valid.answers.count } })
    }

    func testMethodSectionsOfTheConfig() throws {
        let path = Fixtures.temporaryFile("run.yaml", """
        model: smollm2-135m-instruct
        learning_rate: 5.0e-6
        dpo:
          loss_type: kto
          beta: 0.2
          desirable_weight: 1.5
          precompute_ref_log_probs: false
          fields:
            chosen: better
        reward:
          loss: listwise
          lm_weight: 0.1

        """)
        let p = try PreferenceConfig.load(path)
        XCTAssertEqual(p.lossType, .kto)
        XCTAssertEqual(p.effectiveBeta, 0.2)
        XCTAssertEqual(p.desirableWeight, 1.5)
        XCTAssertFalse(p.precomputeRefLogProbs)
        XCTAssertEqual(p.fields.chosen, "better")
        XCTAssertEqual(p.fields.rejected, "rejected")
        let r = try RewardConfig.load(path)
        XCTAssertEqual(r.loss, .listwise)
        XCTAssertEqual(r.lmWeight, 0.1)
        let bad = Fixtures.temporaryFile("bad.yaml", "dpo:\n  betta: 0.1\n")
        XCTAssertThrowsError(try PreferenceConfig.load(bad)) { XCTAssertTrue("\($0)".contains("dpo.betta"), "\($0)") }
        // Defaults per method, and invalid combinations.
        var s = PreferenceConfig()
        s.lossType = .simpo
        XCTAssertEqual(s.effectiveBeta, 2.0)
        XCTAssertFalse(s.needsReference)
        s.lossType = .cdpo
        XCTAssertEqual(s.effectiveLabelSmoothing, 0.1)
        s.lossType = .ipo
        s.labelSmoothing = 0.2
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("label_smoothing"), "\($0)") }
    }
}
