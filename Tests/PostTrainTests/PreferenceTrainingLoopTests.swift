import Foundation
import LM
import NN
import PEFT
@testable import PostTrain
import Tensor
import XCTest

/// Every preference and reward objective trains through the shared `Trainer` on a tiny model:
/// the preference it is taught (answers from one token range over another) is learned, and the
/// reward model's LM regulariser adds exactly its weighted NLL.
final class PreferenceTrainingLoopTests: XCTestCase {
    func tinyModel(seed: UInt64) throws -> TransformerLM {
        Random.seed(seed)
        let m = TransformerLM(PreferenceLossTests.config)
        try eval(Array(m.parameters().values))
        return m
    }

    /// Prompts [1, p, p+1]; preferred answers use tokens 10…19, dispreferred ones 20…29.
    func data(count: Int, seed: UInt64) -> (answers: [TokenizedExample], pairs: [(Int, Int)]) {
        var rng = SplitMix64(seed: seed)
        var answers: [TokenizedExample] = [], pairs: [(Int, Int)] = []
        for _ in 0..<count {
            let p = 3 + Int(rng.next() % 5)
            let good = (0..<3).map { _ in 10 + Int(rng.next() % 10) }, bad = (0..<3).map { _ in 20 + Int(rng.next() % 10) }
            for a in [good, bad] {
                answers.append(TokenizedExample(ids: [1, p, p + 1] + a + [2], isTarget: [false, false, false, true, true, true, true], truncated: false))
            }
            pairs.append((answers.count - 2, answers.count - 1))
        }
        return (answers, pairs)
    }

    func config(steps: Int, lr: Double) -> TrainingConfig {
        var c = TrainingConfig()
        c.maxSteps = steps
        c.learningRate = lr
        c.evalEvery = 0
        c.saveEvery = 0
        return c
    }

    /// Trains and returns the validation metrics before and after.
    func run<O: Objective>(_ objective: O, model: any LanguageModel, train: PreferenceDataset, valid: PreferenceDataset, steps: Int = 40,
                           lr: Double = 1e-2) throws -> (before: [String: Double], after: [String: Double]) where O.Batch == PreferenceBatch {
        let trainer = try Trainer(model: model, objective: objective, config: config(steps: steps, lr: lr), output: nil)
        trainer.log.quiet = true
        let v = PreferenceBatches(valid, batchSize: 8, padId: 0, shuffle: false)
        let before = try trainer.evaluate(v)
        let result = try trainer.train(PreferenceBatches(train, batchSize: 4, padId: 0, seed: 1), validation: v)
        XCTAssertEqual(result.steps, steps)
        let after = try trainer.evaluate(v)
        return (before.metrics.merging(["loss": before.loss]) { a, _ in a }, after.metrics.merging(["loss": after.loss]) { a, _ in a })
    }

    func pairs(_ d: (answers: [TokenizedExample], pairs: [(Int, Int)])) -> PreferenceDataset {
        PreferenceDataset(answers: d.answers, units: d.pairs.map { .pair(chosen: $0.0, rejected: $0.1, margin: nil) })
    }

    func lora(_ m: TransformerLM) throws {
        try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, targetModules: .allLinear), to: m, key: RandomKey(seed: 2))
    }

    func testDPOFamilyLearnsThePreference() throws {
        for (name, make) in [("sigmoid", { DPOObjective(lossType: .sigmoid, beta: 0.5, reference: .cached) }),
                             ("ipo", { DPOObjective(lossType: .ipo, beta: 0.5, reference: .cached) }),
                             ("cdpo", { DPOObjective(lossType: .sigmoid, beta: 0.5, labelSmoothing: 0.1, reference: .cached) })] {
            let model = try tinyModel(seed: 1)
            try lora(model)
            var train = pairs(data(count: 32, seed: 1)), valid = pairs(data(count: 16, seed: 2))
            train.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: train, padId: 0)
            valid.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: valid, padId: 0)
            let (before, after) = try run(make(), model: model, train: train, valid: valid)
            // Policy = reference at the start: every implicit reward is zero up to float rounding
            // (which can break a tie either way, so accuracy is not asserted here).
            XCTAssertLessThan(abs(before["reward_margin"]!), 1e-4, "\(name): policy = reference at the start")
            XCTAssertLessThan(abs(before["reward_chosen"]!), 1e-4, "\(name): policy = reference at the start")
            XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.9, "\(name)")
            XCTAssertGreaterThan(after["reward_margin"]!, 0, "\(name)")
            XCTAssertLessThan(after["loss"]!, before["loss"]!, "\(name)")
        }
    }

    func testReferenceFreeMethodsLearnThePreference() throws {
        let train = pairs(data(count: 32, seed: 3)), valid = pairs(data(count: 16, seed: 4))
        var m = try tinyModel(seed: 2)
        try lora(m)
        var (before, after) = try run(SimPOObjective(beta: 2, gamma: 0.5), model: m, train: train, valid: valid)
        XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.9, "SimPO, before \(before)")
        XCTAssertLessThan(after["loss"]!, before["loss"]!)
        m = try tinyModel(seed: 2)
        try lora(m)
        (before, after) = try run(ORPOObjective(lambda: 0.5), model: m, train: train, valid: valid)
        XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.9, "ORPO, before \(before)")
        XCTAssertLessThan(after["nll"]!, before["nll"]!)
    }

    func testKTOLearnsFromUnpairedLabels() throws {
        func labelled(_ d: (answers: [TokenizedExample], pairs: [(Int, Int)])) -> PreferenceDataset {
            // Each answer alone, with a mismatched row: its prompt and the next unit's answer.
            var answers = d.answers
            var units: [PreferenceUnit] = []
            for (i, a) in d.answers.enumerated() {
                let other = d.answers[(i + 3) % d.answers.count]
                answers.append(TokenizedExample(ids: Array(a.ids.prefix(3)) + Array(other.ids.dropFirst(3)), isTarget: other.isTarget, truncated: false))
                units.append(.labelled(answer: i, desirable: i % 2 == 0, mismatched: answers.count - 1))
            }
            return PreferenceDataset(answers: answers, units: units)
        }
        let model = try tinyModel(seed: 3)
        try lora(model)
        var train = labelled(data(count: 24, seed: 5)), valid = labelled(data(count: 12, seed: 6))
        train.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: train, padId: 0)
        valid.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: valid, padId: 0)
        let (before, after) = try run(KTOObjective(beta: 0.5, reference: .cached), model: model, train: train, valid: valid)
        XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.9, "before \(before), after \(after)")
        XCTAssertGreaterThan(after["reward_chosen"]!, after["reward_rejected"]!)
        XCTAssertLessThan(after["loss"]!, before["loss"]!)
    }

    func testRewardModelLossesTrain() throws {
        let d = data(count: 32, seed: 7), v = data(count: 16, seed: 8)
        // Pairwise.
        var rm = RewardModel(base: try tinyModel(seed: 4), key: RandomKey(seed: 1))
        var (before, after) = try run(RewardObjective(kind: .pairwise, margin: 0.5), model: rm, train: pairs(d), valid: pairs(v))
        XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.9, "pairwise, before \(before)")
        // Listwise over groups of three: good, middling (one of each), bad.
        func groups(_ d: (answers: [TokenizedExample], pairs: [(Int, Int)])) -> PreferenceDataset {
            var answers = d.answers, units: [PreferenceUnit] = []
            for (c, r) in d.pairs {
                let mid = TokenizedExample(ids: Array(d.answers[c].ids.prefix(4)) + Array(d.answers[r].ids[4...]), isTarget: d.answers[c].isTarget, truncated: false)
                answers.append(mid)
                units.append(.group(answers: [c, answers.count - 1, r], levels: [3, 2, 1]))
            }
            return PreferenceDataset(answers: answers, units: units)
        }
        rm = RewardModel(base: try tinyModel(seed: 4), key: RandomKey(seed: 1))
        (before, after) = try run(RewardObjective(kind: .listwise), model: rm, train: groups(d), valid: groups(v))
        XCTAssertGreaterThanOrEqual(after["reward_accuracy"]!, 0.85, "listwise, before \(before)")
        // Pointwise: score 1 for good answers, −1 for bad ones.
        func scored(_ d: (answers: [TokenizedExample], pairs: [(Int, Int)])) -> PreferenceDataset {
            PreferenceDataset(answers: d.answers, units: d.pairs.flatMap { [.scored(answer: $0.0, score: 1), .scored(answer: $0.1, score: -1)] })
        }
        rm = RewardModel(base: try tinyModel(seed: 4), key: RandomKey(seed: 1))
        (before, after) = try run(RewardObjective(kind: .pointwise), model: rm, train: scored(d), valid: scored(v))
        XCTAssertLessThan(after["mse"]!, 0.25 * before["mse"]!, "pointwise")
    }

    /// The LM loss on the best answer adds weight × (per-token mean NLL of each unit's best answer).
    func testRewardModelLMRegulariser() throws {
        let base = try tinyModel(seed: 5)
        base.eval()
        let rm = RewardModel(base: base, key: RandomKey(seed: 3))
        let d = data(count: 3, seed: 9)
        let batch = PreferenceBatches(pairs(d), batchSize: 3, padId: 0, shuffle: false).makeBatch([0, 1, 2])
        let plain = try plainSequenceLogProbs(base, d.answers)
        let nll = d.pairs.map { -plain[$0.0] / Double(d.answers[$0.0].targetCount) }.reduce(0, +)
        let without = RewardObjective(kind: .pairwise).loss(model: rm, batch: batch, training: false)
        let with = RewardObjective(kind: .pairwise, lmWeight: 0.3).loss(model: rm, batch: batch, training: false)
        XCTAssertEqual(Double(try (with.sum - without.sum).float()), 0.3 * nll, accuracy: 1e-4)
        XCTAssertEqual(Double(try with.metrics["lm_loss"]!.float()), nll, accuracy: 1e-4)
    }
}
