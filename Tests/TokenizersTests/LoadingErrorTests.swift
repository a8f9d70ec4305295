import Foundation
import XCTest
@testable import Tokenizers

/// Bad inputs produce `TokenizerError`s that name the file and the field.
final class LoadingErrorTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try TestEnvironment.scratchDirectory().appendingPathComponent("errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private static let minimal = #"""
    {"added_tokens": [{"id": 3, "content": "<s>", "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false}],
     "normalizer": null,
     "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
     "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                        "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [3], "tokens": ["<s>"]}}},
     "decoder": {"type": "ByteLevel"},
     "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": [["a", "b"]]}}
    """#

    private func write(_ text: String, _ name: String = "tokenizer.json") throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// `expected` nil accepts any TokenizerError with the right message fragments.
    private func assertThrows(_ url: URL, _ expected: TokenizerError?, contains: [String] = [],
                              file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try Tokenizer(tokenizerJSON: url)
            XCTFail("expected \(String(describing: expected))", file: file, line: line)
        } catch let error as TokenizerError {
            if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
            for s in contains + [url.path] {
                XCTAssertTrue(error.description.contains(s), "'\(error.description)' lacks '\(s)'", file: file, line: line)
            }
        } catch {
            XCTFail("expected a TokenizerError, got \(error)", file: file, line: line)
        }
    }

    func testMinimalTokenizerJSONWorks() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: write(Self.minimal))
        XCTAssertEqual(tokenizer.encode("abab"), [2, 2])
        XCTAssertEqual(tokenizer.encode("ab<s>a", addSpecialTokens: true), [3, 2, 3, 0])
        XCTAssertEqual(tokenizer.bosTokenId, 3, "a lone tokenizer.json names its BOS through the template")
        XCTAssertEqual(tokenizer.decode([3, 2, 0], skipSpecialTokens: true), "aba")
    }

    func testCorruptTokenizerJSON() throws {
        let truncated = try write(String(Self.minimal.prefix(200)))
        assertThrows(truncated, nil, contains: ["not valid JSON"])
        do { _ = try Tokenizer(tokenizerJSON: truncated) } catch { print("corrupt tokenizer.json: \(error)") }
    }

    func testMissingAndInvalidFields() throws {
        func variant(_ from: String, _ to: String) throws -> URL {
            let text = Self.minimal.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(text, Self.minimal)
            return try write(text, "variant-\(UUID().uuidString).json")
        }
        let noVocab = try variant(#""vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "#, "")
        assertThrows(noVocab, .missingField(source: noVocab.path, field: "model.vocab"))
        let badMerges = try variant(#""merges": [["a", "b"]]"#, #""merges": 7"#)
        assertThrows(badMerges, .invalidField(source: badMerges.path, field: "model.merges", reason: "expected an array"))
        let unknownMerge = try variant(#"[["a", "b"]]"#, #"[["a", "zz"]]"#)
        assertThrows(unknownMerge, .invalidField(source: unknownMerge.path, field: "model.merges",
                                                 reason: "merge 0 ('a zz') uses 'zz', which is not in the vocabulary"), contains: ["'zz'"])
        let unigram = try variant(#""type": "BPE""#, #""type": "Unigram""#)
        assertThrows(unigram, .unsupported(source: unigram.path, field: "model.type", value: "Unigram"))
        let bert = try variant(#""type": "ByteLevel", "add_prefix_space""#, #""type": "BertPreTokenizer", "add_prefix_space""#)
        assertThrows(bert, .unsupported(source: bert.path, field: "pre_tokenizer.type", value: "BertPreTokenizer"))
        let badID = try variant(#""id": 3, "content""#, #""id": "three", "content""#)
        assertThrows(badID, .invalidField(source: badID.path, field: "added_tokens[0].id", reason: "expected an integer"))
        let badFlag = try variant(#""special": true"#, #""special": "yes""#)
        assertThrows(badFlag, .invalidField(source: badFlag.path, field: "added_tokens[0].special", reason: "expected true or false"))
    }

    func testBadConfigAndDirectory() throws {
        let json = try write(Self.minimal)
        let config = try write(#"{"bos_token": 5}"#, "tokenizer_config.json")
        do {
            _ = try Tokenizer(tokenizerJSON: json, config: config)
            XCTFail("expected an error")
        } catch let error as TokenizerError {
            XCTAssertEqual(error, .invalidField(source: config.path, field: "bos_token", reason: "expected a token string or an object with 'content'"))
        }
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Tokenizer(directory: empty)) { error in
            XCTAssertTrue("\(error)".contains(empty.path) && "\(error)".contains("no tokenizer.json"))
        }
        let missing = directory.appendingPathComponent("nope.json")
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: missing)) { error in
            XCTAssertTrue("\(error)".contains(missing.path))
        }
    }

    func testDirectoryWithConfigAndChatTemplate() throws {
        let dir = directory.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(Self.minimal.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        try Data(#"{"bos_token": {"content": "<s>"}, "eos_token": "b", "pad_token": "a", "add_bos_token": false, "chat_template": "{{ x }}"}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        try Data(#"{"eos_token_id": [1, 2]}"#.utf8).write(to: dir.appendingPathComponent("generation_config.json"))
        let tokenizer = try Tokenizer.load(dir)
        XCTAssertEqual(tokenizer.bosTokenId, 3)
        XCTAssertEqual(tokenizer.eosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenIds, [1, 2])
        XCTAssertEqual(tokenizer.padTokenId, 0)
        XCTAssertEqual(tokenizer.chatTemplate, "{{ x }}")
        XCTAssertEqual(tokenizer.encode("ab", addSpecialTokens: true), [2], "add_bos_token: false overrides the template")
        try Data("{% for m in messages %}{{ m }}{% endfor %}".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(try Tokenizer(directory: dir).chatTemplate, "{% for m in messages %}{{ m }}{% endfor %}")
    }

    func testGGUFTokenizerErrors() throws {
        func gguf(_ entries: [(String, GGUFTestValue)], _ name: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try Data(GGUFTestValue.file(entries)).write(to: url)
            return url
        }
        func assertGGUF(_ url: URL, _ expected: TokenizerError, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Tokenizer(ggufPath: url.path), file: file, line: line) { error in
                XCTAssertEqual(error as? TokenizerError, expected, file: file, line: line)
                XCTAssertTrue("\(error)".contains(url.path), file: file, line: line)
            }
        }
        let tokens = GGUFTestValue.strings(["a", "b", "ab"])
        let noModel = try gguf([("tokenizer.ggml.tokens", tokens)], "no-model.gguf")
        assertGGUF(noModel, .missingField(source: noModel.path, field: "tokenizer.ggml.model"))
        let t5 = try gguf([("tokenizer.ggml.model", .string("t5")), ("tokenizer.ggml.tokens", tokens)], "t5.gguf")
        assertGGUF(t5, .unsupported(source: t5.path, field: "tokenizer.ggml.model", value: "t5"))
        let noTokens = try gguf([("tokenizer.ggml.model", .string("gpt2"))], "no-tokens.gguf")
        assertGGUF(noTokens, .missingField(source: noTokens.path, field: "tokenizer.ggml.tokens"))
        let noMerges = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", tokens)], "no-merges.gguf")
        assertGGUF(noMerges, .missingField(source: noMerges.path, field: "tokenizer.ggml.merges"))
        let pre = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", tokens),
                            ("tokenizer.ggml.merges", .strings(["a b"])), ("tokenizer.ggml.pre", .string("mystery"))], "pre.gguf")
        assertGGUF(pre, .unsupported(source: pre.path, field: "tokenizer.ggml.pre", value: "mystery"))
        let wrongType = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", .string("abc"))], "type.gguf")
        assertGGUF(wrongType, .invalidField(source: wrongType.path, field: "tokenizer.ggml.tokens", reason: "expected ARRAY[STRING], found STRING"))
        let badMerge = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", tokens),
                                 ("tokenizer.ggml.merges", .strings(["ab"]))], "merge.gguf")
        assertGGUF(badMerge, .invalidField(source: badMerge.path, field: "tokenizer.ggml.merges",
                                           reason: "merge 0 'ab' is not two tokens separated by a space"))
        let badBOS = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", tokens),
                               ("tokenizer.ggml.merges", .strings(["a b"])), ("tokenizer.ggml.bos_token_id", .uint32(9))], "bos.gguf")
        assertGGUF(badBOS, .invalidField(source: badBOS.path, field: "tokenizer.ggml.bos_token_id", reason: "id 9 is outside the vocabulary of 3"))
        let ok = try gguf([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", tokens),
                           ("tokenizer.ggml.merges", .strings(["a b"]))], "ok.gguf")
        XCTAssertEqual(try Tokenizer(ggufPath: ok.path).encode("aab"), [0, 2])
    }
}

/// Just enough of a GGUF writer to build tokenizer-only files with broken metadata.
enum GGUFTestValue {
    case string(String)
    case strings([String])
    case uint32(UInt32)

    static func file(_ entries: [(String, GGUFTestValue)]) -> [UInt8] {
        var out = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        u32(3)
        u64(0)
        u64(UInt64(entries.count))
        for (key, value) in entries {
            str(key)
            switch value {
            case let .string(s): u32(8); str(s)
            case let .strings(a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
            case let .uint32(v): u32(4); u32(v)
            }
        }
        return out
    }
}
