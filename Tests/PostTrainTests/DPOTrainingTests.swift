import Foundation
import LM
import NN
import PEFT
@testable import PostTrain
import Tensor
import XCTest

/// DPO with LoRA on SmolLM2-135M, on generated pairs where the instruction asks for UPPERCASE and
/// the chosen answer complies: held-out preference accuracy rises and greedy generations for new
/// prompts of that kind turn uppercase.
final class DPOTrainingTests: XCTestCase {
    /// Per-token average log-probs of rows under `model`.
    func averageLogProbs(_ model: any LanguageModel, _ rows: [TokenizedExample]) throws -> [Double] {
        let batch = AnswerRows(rows, padId: 0)
        let avg = SequenceLogProbs.averages(SequenceLogProbs.sums(model: model, rows: batch), rows: batch)
        return try avg.floats().map(Double.init)
    }

    func uppercaseShare(_ loaded: LoadedModel, prompts: [String]) throws -> (share: Double, samples: [String]) {
        let chat = try loaded.chat()
        let encoded = try prompts.map { try chat.encodePrompt([ChatMessage(role: "user", content: $0)]) }
        let out = try Generator(model: loaded.model, maxTokens: 12, stopTokenIds: loaded.stopTokenIds).generate(encoded)
        let texts = out.tokens.map { loaded.tokenizer.decode($0) }
        return (texts.map(FormatPreferences.uppercaseFraction).reduce(0, +) / Double(texts.count), texts)
    }

    func testDPORaisesPreferenceAccuracyAndShiftsGenerations() throws {
        try Fixtures.require(Fixtures.smolGGUF)
        let dir = try PreferenceFixtures.temporaryDirectory(self)
        let train = try FormatPreferences.write(FormatPreferences.pairs(count: 48, seed: 11, both: false), to: dir, name: "train.jsonl")
        let valid = try FormatPreferences.write(FormatPreferences.pairs(count: 8, seed: 12, both: false), to: dir, name: "valid.jsonl")
        let heldOut = FormatPreferences.pairs(count: 12, seed: 13, both: false)

        // Before: the base model's likelihood preference and generations on held-out prompts.
        let base = try PreferenceFixtures.loadSmol()
        base.model.eval()
        let renderer = PreferenceRenderer(chat: try base.chat(), maxLength: 96)
        let rows = try heldOut.flatMap {
            try renderer.tokenize(prompt: [ChatMessage(role: "user", content: $0.prompt)], tools: nil,
                                  answers: [[ChatMessage(role: "assistant", content: $0.chosen)], [ChatMessage(role: "assistant", content: $0.rejected)]])
        }
        let before = try averageLogProbs(base.model, rows)
        let (shareBefore, samplesBefore) = try uppercaseShare(base, prompts: heldOut.map(\.prompt))

        var config = PreferenceFixtures.quickConfig(train: train, valid: valid, output: dir.appendingPathComponent("run"),
                                                    steps: 20, learningRate: 1.5e-3)
        config.training.seed = 5
        let start = Date()
        let outcome = try PreferenceRun(config: config, preference: PreferenceConfig(), log: { _ in }).run()
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(outcome.result.steps, 20)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outcome.output.appendingPathComponent(ReferenceLogProbs.fileName).path))

        // After: the trained adapter on the same base; the base (adapters off) is the reference.
        try Adapters.load(from: outcome.artifact.path, into: base.model, trainable: false)
        base.model.eval()
        let after = try averageLogProbs(base.model, rows)
        let referenceSums = try Adapters.withAdaptersDisabled(base.model) {
            try SequenceLogProbs.sums(model: base.model, rows: AnswerRows(rows, padId: 0)).floats().map(Double.init)
        }
        let policySums = try SequenceLogProbs.sums(model: base.model, rows: AnswerRows(rows, padId: 0)).floats().map(Double.init)
        let n = heldOut.count
        func accuracy(_ f: (Int) -> Bool) -> Double { Double((0..<n).filter(f).count) / Double(n) }
        let likelihoodBefore = accuracy { before[2 * $0] > before[2 * $0 + 1] }
        let likelihoodAfter = accuracy { after[2 * $0] > after[2 * $0 + 1] }
        let implicit = accuracy { (policySums[2 * $0] - referenceSums[2 * $0]) > (policySums[2 * $0 + 1] - referenceSums[2 * $0 + 1]) }
        let (shareAfter, samplesAfter) = try uppercaseShare(base, prompts: heldOut.map(\.prompt))
        print(String(format: "DPO: held-out implicit-reward accuracy %.3f (0 before: policy = reference), likelihood preference %.3f → %.3f, "
                     + "uppercase share of greedy generations %.3f → %.3f, validation accuracy %.3f, run %.0fs",
                     implicit, likelihoodBefore, likelihoodAfter, shareBefore, shareAfter,
                     outcome.lastValidation["validation_reward_accuracy"] ?? -1, seconds))
        print("before: \(samplesBefore)\nafter: \(samplesAfter)")
        XCTAssertGreaterThanOrEqual(implicit, 0.8)
        XCTAssertGreaterThan(likelihoodAfter, likelihoodBefore)
        XCTAssertGreaterThan(shareAfter, shareBefore + 0.3, "generations did not shift to uppercase: \(samplesAfter)")
    }
}
