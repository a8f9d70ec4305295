import Foundation
import XCTest
@testable import Tokenizers

/// The tokenizer.json pipeline parts GGUF files never describe (Metaspace, other normalizers, split
/// behaviours, WhitespaceSplit, a regex without a hand-written scanner), each compared with HF on a
/// reference tokenizer that swaps that part into a real vocabulary.
final class PipelineVariantTests: XCTestCase {
    private func check(_ pipeline: String, base: URL, specials: [String], vocabularySize: Int) throws {
        let fixture = try ParityFixture.make(name: "pipeline-\(pipeline)", job: ["source": "gguf", "gguf": base.path, "pipeline": pipeline],
                                             specialTokens: specials, vocabularySize: vocabularySize)
        fixture.check(try Tokenizer(tokenizerJSON: fixture.savedJSON), label: "tokenizer.json with \(pipeline)", roundTrip: false)
    }

    func testMetaspacePrependFirst() throws {
        let (gguf, _) = try SentencePieceParityTests.llamaStyle.get()
        try check("metaspace-first", base: gguf, specials: SentencePieceParityTests.specials, vocabularySize: 3000)
    }

    func testMetaspaceAlwaysWithSplit() throws {
        let (gguf, _) = try SentencePieceParityTests.llamaStyle.get()
        try check("metaspace-always-split", base: gguf, specials: SentencePieceParityTests.specials, vocabularySize: 3000)
    }

    func testNormalizers() throws {
        try check("normalizers", base: TestEnvironment.require(TestEnvironment.smolLM), specials: ["<|im_start|>", "<|im_end|>"], vocabularySize: 49152)
    }

    func testNFC() throws {
        try check("nfc", base: TestEnvironment.require(TestEnvironment.smolLM), specials: ["<|im_start|>", "<|im_end|>"], vocabularySize: 49152)
    }

    func testSplitBehaviors() throws {
        try check("split-behaviors", base: TestEnvironment.require(TestEnvironment.smolLM), specials: ["<|im_start|>"], vocabularySize: 49152)
    }

    func testWhitespaceSplit() throws {
        try check("whitespace-split", base: TestEnvironment.require(TestEnvironment.smolLM), specials: ["<|im_start|>"], vocabularySize: 49152)
    }
}
