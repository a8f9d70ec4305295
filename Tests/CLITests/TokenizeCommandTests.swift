import Foundation
import XCTest

/// `posttrain tokenize` on the default model (SmolLM2-135M-Instruct, Q4_1 GGUF).
final class TokenizeCommandTests: XCTestCase {
    func testEncodesWithTheModelsTokenizer() throws {
        let r = try CLI.succeed(["tokenize"], stdin: "The capital of France is")
        XCTAssertEqual(r.out, "[504,3575,282,4649,314]\n")
        // One trailing newline (as `echo` writes) is not part of the text...
        XCTAssertEqual(try CLI.succeed(["tokenize"], stdin: "The capital of France is\n").out, "[504,3575,282,4649,314]\n")
        // ...unless asked for.
        let kept = try CLI.succeed(["tokenize", "--keep-trailing-newline"], stdin: "The capital of France is\n").out
        XCTAssertTrue(kept.hasPrefix("[504,3575,282,4649,314,"), kept)
        XCTAssertEqual(try CLI.succeed(["tokenize"], stdin: "").out, "[]\n")
    }

    func testSpecialTokenStringsAreParsed() throws {
        // <|im_start|> is id 1 and <|im_end|> id 2 in SmolLM2's vocabulary.
        let ids = try Self.ids(try CLI.succeed(["tokenize"], stdin: "<|im_start|>user\nHi<|im_end|>").out)
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.last, 2)
        let plain = try Self.ids(try CLI.succeed(["tokenize", "--no-parse-special"], stdin: "<|im_start|>user").out)
        XCTAssertFalse(plain.contains(1), "with --no-parse-special the marker is plain text: \(plain)")
        XCTAssertGreaterThan(plain.count, 2)
    }

    func testSpecialAddsWhatTheGGUFAsksFor() throws {
        // The GGUF's own flags, read straight from its header.
        let gguf = CLI.repoRoot.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        let flags = try GGUFHeader.boolValues(in: gguf, keys: ["tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"])
        XCTAssertEqual(flags["tokenizer.ggml.add_bos_token"], false, "SmolLM2's GGUF says add_bos_token = false")
        XCTAssertNotEqual(flags["tokenizer.ggml.add_eos_token"], true)

        let text = "The capital of France is"
        let plain = try CLI.succeed(["tokenize"], stdin: text).out
        let special = try CLI.succeed(["tokenize", "--special"], stdin: text).out
        XCTAssertEqual(special, plain, "--special adds nothing when the model adds neither BOS nor EOS")
    }

    func testDecodeRoundTrip() throws {
        let text = "Hello, world! Ünïcødé 日本語 🚀\n  indented <|im_start|>assistant\n"
        let ids = try CLI.succeed(["tokenize", "--keep-trailing-newline"], stdin: text).out
        XCTAssertTrue(ids.hasPrefix("[") && ids.hasSuffix("]\n"), ids)
        let back = try CLI.succeed(["tokenize", "--decode"], stdin: ids)
        XCTAssertEqual(back.out, text + "\n", "decode prints the text and a newline")

        // Ids spread over lines and spaces are fine; --skip-special drops control tokens.
        let decoded = try CLI.succeed(["tokenize", "--decode"], stdin: "[1,\n 504, 3575 ,282,\n4649,314, 2]")
        XCTAssertEqual(decoded.out, "<|im_start|>The capital of France is<|im_end|>\n")
        let skipped = try CLI.succeed(["tokenize", "--decode", "--skip-special"], stdin: "[1, 504, 3575, 282, 4649, 314, 2]")
        XCTAssertEqual(skipped.out, "The capital of France is\n")
    }

    func testJSONLines() throws {
        let lines = ["The capital of France is", "", "two\nlines", "tab\tand \"quotes\"", "<|im_end|>", "émoji 👍"]
        let input = lines.map(Self.jsonString).joined(separator: "\n") + "\n\n"   // a blank line is skipped
        let r = try CLI.succeed(["tokenize", "--jsonl"], stdin: input)
        let outLines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(outLines.count, lines.count + 1, r.out)
        XCTAssertEqual(outLines.last, "")
        XCTAssertEqual(outLines[0], "[504,3575,282,4649,314]")
        XCTAssertEqual(outLines[1], "[]")
        XCTAssertEqual(outLines[4], "[2]")
        // A line tokenizes as the same text would alone.
        let alone = try CLI.succeed(["tokenize", "--keep-trailing-newline"], stdin: lines[2]).out
        XCTAssertEqual(String(outLines[2]) + "\n", alone)

        // And back: one JSON string per line, equal to the input.
        let decoded = try CLI.succeed(["tokenize", "--decode", "--jsonl"], stdin: outLines.joined(separator: "\n"))
        let strings = try decoded.out.split(separator: "\n").map { line -> String in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8), options: .fragmentsAllowed) as? String)
        }
        XCTAssertEqual(strings, lines)
    }

    func testBadJSONNamesTheLine() throws {
        let r = try CLI.run(["tokenize", "--jsonl"], stdin: "\"fine\"\n\"also fine\"\nnot json\n\"never reached\"\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("line 3"), r.err)
        XCTAssertTrue(r.err.contains("not JSON"), r.err)

        let notString = try CLI.run(["tokenize", "--jsonl"], stdin: "\"ok\"\n[1, 2]\n")
        XCTAssertNotEqual(notString.status, 0)
        XCTAssertTrue(notString.err.contains("line 2") && notString.err.contains("expected a JSON string"), notString.err)

        let badArray = try CLI.run(["tokenize", "--decode"], stdin: "[1, 2,\n 3,\n x]")
        XCTAssertNotEqual(badArray.status, 0)
        XCTAssertTrue(badArray.err.contains("line 3"), badArray.err)

        let outOfRange = try CLI.run(["tokenize", "--decode", "--jsonl"], stdin: "[1, 2]\n[504, 49152]\n")
        XCTAssertNotEqual(outOfRange.status, 0)
        XCTAssertTrue(outOfRange.err.contains("line 2") && outOfRange.err.contains("49152") && outOfRange.err.contains("out of range"),
                      outOfRange.err)

        let negative = try CLI.run(["tokenize", "--decode"], stdin: "[-1]")
        XCTAssertNotEqual(negative.status, 0)
        XCTAssertTrue(negative.err.contains("line 1") && negative.err.contains("-1"), negative.err)

        let float = try CLI.run(["tokenize", "--decode"], stdin: "[1.5]")
        XCTAssertNotEqual(float.status, 0)
        XCTAssertTrue(float.err.contains("integers"), float.err)
    }

    func testWorksFromALoneTokenizerJSON() throws {
        // A tiny byte-level BPE tokenizer.json: no model file anywhere near it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = """
        {"version": "1.0", "added_tokens": [{"id": 5, "content": "<eos>", "single_word": false, "lstrip": false,
          "rstrip": false, "normalized": false, "special": true}],
         "normalizer": null,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
         "post_processor": null,
         "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
         "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
           "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
           "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": ["a b", "Ġ ab"]}}
        """
        let url = dir.appendingPathComponent("tokenizer.json")
        try json.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.succeed(["tokenize", "--model", url.path], stdin: "ab ab<eos>").out, "[2,4,5]\n")
        XCTAssertEqual(try CLI.succeed(["tokenize", "--model", url.path, "--decode"], stdin: "[2,4,5]").out, "ab ab<eos>\n")

        // As a Hugging Face directory (no weights in it): tokenizer_config.json brings the chat
        // template and the EOS token that `template` passes to it.
        let config = #"{"eos_token": "<eos>", "chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"}"#
        try config.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.succeed(["tokenize", "--model", dir.path], stdin: "ab").out, "[2]\n")
        XCTAssertEqual(try CLI.succeed(["template", "--model", dir.path], stdin: #"[{"role": "user", "content": "ab ab"}]"#).out,
                       "[user]ab ab<eos>")
    }

    func testWorksFromAVocabularyOnlyGGUF() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-vocab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = dir.appendingPathComponent("smollm2-vocab.gguf")
        try GGUFHeader.writeVocabularyOnlyCopy(
            of: CLI.repoRoot.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf"), to: vocab)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: vocab.path)[.size] as? Int)
        XCTAssertLessThan(size, 5_000_000, "no weights in the copy")

        XCTAssertEqual(try CLI.succeed(["tokenize", "--model", vocab.path], stdin: "The capital of France is").out,
                       "[504,3575,282,4649,314]\n")
        XCTAssertEqual(try CLI.succeed(["tokenize", "--model", vocab.path, "--decode"], stdin: "[504,3575,282,4649,314]").out,
                       "The capital of France is\n")
        // The chat template comes from the metadata too.
        XCTAssertEqual(try CLI.succeed(["template", "--model", vocab.path], stdin: TemplateCommandTests.twoTurns).out,
                       TemplateCommandTests.twoTurnsExpected)
    }

    func testMissingModelIsAClearError() throws {
        let r = try CLI.run(["tokenize", "--model", "/nonexistent/model.gguf"], stdin: "hi")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("/nonexistent/model.gguf"), r.err)
    }

    static func ids(_ json: String) throws -> [Int] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Int], json)
    }

    static func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed)
        return String(decoding: data, as: UTF8.self)
    }
}
