import Foundation
import XCTest
import GGUF
@testable import Tokenizers

/// SentencePiece-style BPE (GGUF tokenizer model "llama": scores instead of merges, "▁" for spaces,
/// "<0xNN>" byte fallback) against Hugging Face `tokenizers` configured as transformers converts such
/// a model. The vocabularies are trained by the reference script on real English text plus the
/// test corpus's scripts, then written as GGUF files the way llama.cpp stores them.
final class SentencePieceParityTests: XCTestCase {
    static let specials = ["<s>", "</s>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<custom_tag>"]

    /// Llama 2 style: a space prefix, all 256 byte tokens, scores with ties (merge-order rules).
    static let llamaStyle: Result<(gguf: URL, fixture: ParityFixture), any Error> = Result {
        try make(name: "spm-llama", addSpacePrefix: true, byteTokens: 256, tiedScores: true)
    }

    /// Gemma style: no space prefix, and byte tokens only for ASCII, so other unseen characters
    /// become (fused) unknown tokens.
    static let gemmaStyle: Result<(gguf: URL, fixture: ParityFixture), any Error> = Result {
        try make(name: "spm-gemma", addSpacePrefix: false, byteTokens: 128, tiedScores: false)
    }

    static func make(name: String, addSpacePrefix: Bool, byteTokens: Int, tiedScores: Bool) throws -> (URL, ParityFixture) {
        let dir = try TestEnvironment.scratchDirectory()
        let corpus = try TestCorpus.realText(lines: 2000) + TestCorpus.scripts + TestCorpus.combining + TestCorpus.emoji
        let corpusFile = dir.appendingPathComponent("\(name)-corpus.json")
        try JSONSerialization.data(withJSONObject: corpus).write(to: corpusFile)
        let path = dir.appendingPathComponent("\(name).gguf")
        try TestEnvironment.runReference([
            "task": "make_spm_gguf", "corpus": corpusFile.path, "path": path.path, "vocab_size": 3000,
            "alphabet": 300, "byte_tokens": byteTokens, "add_space_prefix": addSpacePrefix, "tied_scores": tiedScores,
        ])
        let size = try GGUFFile(path: path.path).stringArray("tokenizer.ggml.tokens").count
        let fixture = try ParityFixture.make(name: name, job: ["source": "gguf", "gguf": path.path],
                                             specialTokens: specials, vocabularySize: size)
        return (path, fixture)
    }

    func testLlamaStyleFromGGUFMatchesHuggingFace() throws {
        let (path, fixture) = try Self.llamaStyle.get()
        let tokenizer = try Tokenizer(ggufPath: path.path)
        XCTAssertEqual(tokenizer.prefixTokenIds, [1], "llama-style GGUFs add BOS")
        XCTAssertGreaterThanOrEqual(fixture.check(tokenizer, label: "SentencePiece llama-style GGUF", roundTrip: false), 1000)
        // With every byte token present the encoding is lossless for text without added tokens.
        var checked = 0
        for s in fixture.strings where !Self.specials.contains(where: { s.contains($0) }) {
            checked += 1
            XCTAssertTrue(identical(tokenizer.decode(tokenizer.encode(s)), s), s.debugDescription)
        }
        XCTAssertGreaterThan(checked, 900)
    }

    func testLlamaStyleFromTokenizerJSONMatchesHuggingFace() throws {
        let (_, fixture) = try Self.llamaStyle.get()
        fixture.check(try Tokenizer(tokenizerJSON: fixture.savedJSON), label: "SentencePiece llama-style tokenizer.json", roundTrip: false)
    }

    func testGemmaStyleFromGGUFMatchesHuggingFace() throws {
        let (path, fixture) = try Self.gemmaStyle.get()
        let tokenizer = try Tokenizer(ggufPath: path.path)
        XCTAssertEqual(tokenizer.unknownTokenId, 0)
        XCTAssertGreaterThanOrEqual(fixture.check(tokenizer, label: "SentencePiece gemma-style GGUF", roundTrip: false), 1000)
        XCTAssertTrue(tokenizer.encode("日本語").contains(0), "characters without tokens or byte tokens become <unk>")
    }

    func testGemmaStyleFromTokenizerJSONMatchesHuggingFace() throws {
        let (_, fixture) = try Self.gemmaStyle.get()
        fixture.check(try Tokenizer(tokenizerJSON: fixture.savedJSON), label: "SentencePiece gemma-style tokenizer.json", roundTrip: false)
    }

    /// Gemma 3's real 262k-entry vocabulary against HF (`make setup` installs the GGUF at
    /// .deps/models/gemma-3-270m-q4_k_m.gguf; POSTTRAIN_GEMMA_GGUF names another).
    func testRealGemmaVocabularyMatchesHuggingFace() throws {
        let path = ProcessInfo.processInfo.environment["POSTTRAIN_GEMMA_GGUF"]
            ?? TestEnvironment.deps.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("no Gemma 3 GGUF at \(path): run `make setup`")
        }
        let start = Date()
        let gguf = try GGUFFile(path: path)
        let tokenizer = try Tokenizer(gguf: gguf)
        print("Gemma 3 tokenizer (\(tokenizer.vocabularySize) tokens) loaded in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        let specials = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<mask>", "[multimodal]"]
        let fixture = try ParityFixture.make(name: "gemma3", job: ["source": "gguf", "gguf": path], specialTokens: specials,
                                             vocabularySize: tokenizer.vocabularySize, extraStrings: try TestCorpus.realText(lines: 100))
        fixture.check(tokenizer, label: "Gemma 3 GGUF", roundTrip: false)
    }
}
