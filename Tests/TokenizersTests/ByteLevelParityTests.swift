import Foundation
import XCTest
import GGUF
@testable import Tokenizers

/// Byte-level BPE against Hugging Face `tokenizers` built from the same GGUF vocabularies.
final class ByteLevelParityTests: XCTestCase {
    func testSmolLMFromGGUFMatchesHuggingFace() throws {
        let fixture = try Fixtures.smolLM.get()
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.smolLM.path)
        XCTAssertGreaterThanOrEqual(fixture.check(tokenizer, label: "SmolLM2 GGUF (pre smollm)", roundTrip: true), 1000)
    }

    func testSmolLMFromTokenizerJSONMatchesHuggingFace() throws {
        let fixture = try Fixtures.smolLM.get()
        let tokenizer = try Tokenizer(tokenizerJSON: fixture.savedJSON)
        fixture.check(tokenizer, label: "SmolLM2 tokenizer.json", roundTrip: true)
    }

    func testQwenFromGGUFMatchesHuggingFace() throws {
        let fixture = try Fixtures.qwen.get()
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.qwen.path)
        XCTAssertGreaterThanOrEqual(fixture.check(tokenizer, label: "Qwen2.5 GGUF (pre qwen2)", roundTrip: true), 1000)
    }

    func testQwenFromTokenizerJSONMatchesHuggingFace() throws {
        let fixture = try Fixtures.qwen.get()
        let tokenizer = try Tokenizer(tokenizerJSON: fixture.savedJSON)
        fixture.check(tokenizer, label: "Qwen2.5 tokenizer.json", roundTrip: true)
    }

    /// Llama 3's pre-tokenizer (digits in threes), ignore_merges and a BOS token added by
    /// `addSpecialTokens`, on Qwen's vocabulary.
    func testLlama3StyleMatchesHuggingFace() throws {
        let (path, fixture) = try Fixtures.llama3Style.get()
        let tokenizer = try Tokenizer(ggufPath: path.path)
        XCTAssertEqual(tokenizer.prefixTokenIds, [151_643])
        XCTAssertTrue(tokenizer.addsBosToken)
        fixture.check(tokenizer, label: "Llama-3-style GGUF (pre llama-bpe)", roundTrip: true)
        fixture.check(try Tokenizer(tokenizerJSON: fixture.savedJSON), label: "Llama-3-style tokenizer.json", roundTrip: true)
    }

    /// Added tokens with lstrip / rstrip / single_word / normalized flags, overlapping contents
    /// (leftmost-longest wins) and non-special tokens, through a tokenizer.json.
    func testAddedTokenFlagsMatchHuggingFace() throws {
        let path = try TestEnvironment.require(TestEnvironment.smolLM).path
        func token(_ content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                   singleWord: Bool = false, normalized: Bool = false) -> [String: Any] {
            ["content": content, "special": special, "lstrip": lstrip, "rstrip": rstrip,
             "single_word": singleWord, "normalized": normalized]
        }
        let extra: [[String: Any]] = [
            token("<mask>", special: true, lstrip: true),
            token("[SEP]", special: true, rstrip: true),
            token("<both>", special: false, lstrip: true, rstrip: true),
            token("hello", special: false, singleWord: true),
            token("wor", special: false, singleWord: true, normalized: true),
            token("<|im_start|>user", special: false),
            token("<|im", special: true),
            token("ab", special: false, normalized: true),
            token("abc", special: false),
        ]
        let cases = [
            "hello world", "say hello", "helloworld", "ahello", "hello_x", "hello!", "hello\u{301}", "world wor word",
            "x <mask> y", "x    <mask>y", "\t\n<mask>", "a [SEP]  b", "[SEP]\n\nnext", "1 <both>  2", "<both><both>",
            "<|im_start|>user\nhi", "<|im_start|>assistant", "<|im_end|>", "<|im", "abcd", "xabc", "ab ab abc",
            "<mask><mask>[SEP][SEP]", " <mask> [SEP] <both> hello wor ", "wor", "wor1", "1wor", "wor_", "éwor", "word\u{200D}wor",
        ]
        let fixture = try ParityFixture.make(
            name: "smollm-flags", job: ["source": "gguf", "gguf": path, "extra_added": extra],
            specialTokens: ["<|im_start|>", "<|im_end|>", "<mask>", "[SEP]", "<both>", "hello", "wor", "abc"],
            vocabularySize: 49160, extraStrings: cases)
        let tokenizer = try Tokenizer(tokenizerJSON: fixture.savedJSON)
        XCTAssertEqual(tokenizer.addedTokens.count, 17 + extra.count)
        fixture.check(tokenizer, label: "SmolLM2 + flagged added tokens (tokenizer.json)", roundTrip: false)
    }

    func testSpecialTokensAndMetadataFromGGUF() throws {
        let smol = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.smolLM).path)
        XCTAssertEqual(smol.vocabularySize, 49152)
        XCTAssertEqual(smol.bosTokenId, 1)
        XCTAssertEqual(smol.eosTokenId, 2)
        XCTAssertEqual(smol.eosTokenIds, [0, 2], "<|im_end|> and <|endoftext|> both end a turn")
        XCTAssertEqual(smol.padTokenId, 2)
        XCTAssertFalse(smol.addsBosToken, "SmolLM2's GGUF says add_bos_token = false")
        XCTAssertEqual(smol.encode("<|im_start|>user"), [1, 4093])
        XCTAssertEqual(smol.encode("<|im_start|>user", parseSpecialTokens: false).first, 44)  // "<"
        XCTAssertEqual(smol.tokenToId("<|im_end|>"), 2)
        XCTAssertEqual(smol.tokenToId("Ġthe"), 260)
        XCTAssertEqual(smol.idToToken(260), "Ġthe")
        XCTAssertNil(smol.idToToken(49152))
        XCTAssertNil(smol.tokenToId("not a token"))
        XCTAssertTrue(smol.isSpecialToken(1))
        XCTAssertEqual(smol.decode([1, 4093, 2], skipSpecialTokens: true), "user")
        XCTAssertTrue(smol.chatTemplate?.contains("<|im_start|>") == true)

        let qwen = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.qwen).path)
        XCTAssertEqual(qwen.vocabularySize, 151_936)
        XCTAssertEqual(qwen.eosTokenId, 151_645)
        XCTAssertEqual(qwen.eosTokenIds, [151_643, 151_645])
        XCTAssertEqual(qwen.addedTokens.filter { !$0.special }.map(\.content), ["<tool_call>", "</tool_call>"])
        // A non-special added token is recognised even when special tokens are not.
        XCTAssertEqual(qwen.encode("<tool_call>", parseSpecialTokens: false), [151_657])
        XCTAssertEqual(qwen.decode([151_657, 151_644], skipSpecialTokens: true), "<tool_call>")
    }

    /// The linear and heap merge loops must agree on every word (the heap handles long words).
    func testMergeStrategiesAgree() throws {
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.qwen).path)
        let model = tokenizer.model
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("aabbcdeeefghiiklmnnoopqrssttuvwxyz  ".utf8) + [0xC3, 0xA9]
        for _ in 0..<400 {
            let length = TestCorpus.count(2...200, &rng)
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var linear = bytes.map { model.byteSymbols[Int($0)] }
            var heap = linear
            BPEMerger.mergeLinear(&linear, model.merges)
            BPEMerger.mergeWithHeap(&heap, model.merges)
            XCTAssertEqual(linear, heap, String(decoding: bytes, as: UTF8.self))
        }
    }
}
