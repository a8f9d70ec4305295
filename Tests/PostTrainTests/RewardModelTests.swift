import Foundation
import LM
import NN
@testable import PostTrain
import Tensor
import XCTest

/// A reward model trained on SmolLM2-135M learns a rule it must read the instruction for, and
/// the saved folder loads back as a `RewardFunction` that scores the same.
final class RewardModelTests: XCTestCase {
    /// Half the prompts ask for UPPERCASE, half for lowercase; the chosen answer complies and the
    /// rejected one does the opposite, so no rule on the answer alone beats chance.
    func testRewardModelLearnsTheRequestedFormat() throws {
        try Fixtures.require(Fixtures.smolGGUF)
        let dir = try PreferenceFixtures.temporaryDirectory(self)
        let train = try FormatPreferences.write(FormatPreferences.pairs(count: 96, seed: 1, both: true), to: dir, name: "train.jsonl")
        let valid = try FormatPreferences.write(FormatPreferences.pairs(count: 8, seed: 2, both: true), to: dir, name: "valid.jsonl")
        let heldOut = FormatPreferences.pairs(count: 40, seed: 3, both: true)
        var config = PreferenceFixtures.quickConfig(train: train, valid: valid, output: dir.appendingPathComponent("run"),
                                                    steps: 24, learningRate: 1e-3)
        config.training.seed = 3
        let start = Date()
        let outcome = try RewardRun(config: config, reward: RewardConfig(), log: { _ in }).run()
        let trained = Date().timeIntervalSince(start)
        XCTAssertEqual(outcome.result.steps, 24)

        // Load the saved folder as any later stage would, and rank the held-out pairs.
        let reward = try ModelReward(directory: outcome.rewardModel.path)
        let queries = heldOut.flatMap { [RewardQuery(prompt: $0.prompt, answer: $0.chosen), RewardQuery(prompt: $0.prompt, answer: $0.rejected)] }
        let scores = try reward.scores(queries)
        let correct = stride(from: 0, to: scores.count, by: 2).filter { scores[$0] > scores[$0 + 1] }.count
        let accuracy = Double(correct) / Double(heldOut.count)
        let upper = heldOut.indices.filter { heldOut[$0].wantsUppercase && scores[2 * $0] > scores[2 * $0 + 1] }.count
        print(String(format: "reward model: held-out accuracy %.3f (%d/%d; uppercase requests %d/%d), validation accuracy %.3f, trained in %.0fs",
                     accuracy, correct, heldOut.count, upper, heldOut.filter(\.wantsUppercase).count,
                     outcome.lastValidation["validation_reward_accuracy"] ?? -1, trained))
        XCTAssertGreaterThanOrEqual(accuracy, 0.8, "held-out preference accuracy \(accuracy)")

        // A combined reward is the weighted sum of its parts.
        let lengthRule = RuleReward("length") { Double($0.answerText.count) / 100 }
        let combined = CombinedReward([(reward, 0.5), (lengthRule, 2)])
        let some = Array(queries.prefix(4))
        let total = try combined.scores(some)
        for (i, q) in some.enumerated() {
            XCTAssertEqual(total[i], 0.5 * scores[i] + 2 * Double(q.answerText.count) / 100, accuracy: 1e-4)
        }
    }
}
