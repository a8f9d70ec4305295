import Foundation
import LM
import NN
@testable import PostTrain
import Tensor
import XCTest

/// Each preference and reward loss against numbers computed by hand (Python, TRL's formulas) on
/// fixed log-probs, and the objectives' wiring on a tiny model against plainly computed log-probs.
final class PreferenceLossTests: XCTestCase {
    // Policy and reference log-prob sums of three pairs; h = [0.7, -0.7, 1.0].
    let pc = Tensor([-10.0, -12.5, -8.0] as [Float]), pr = Tensor([-11.0, -12.0, -9.5] as [Float])
    let rc = Tensor([-10.5, -12.0, -8.5] as [Float]), rr = Tensor([-10.8, -12.2, -9.0] as [Float])

    func dpo(_ type: DPOObjective.LossType, eps: Double = 0) -> Tensor {
        DPOObjective.losses(type, beta: 0.1, labelSmoothing: eps, chosen: pc, rejected: pr, referenceChosen: rc, referenceRejected: rr)
    }

    func testDPOSigmoid() throws {
        try assertValues(dpo(.sigmoid), [0.6587595555486971, 0.7287595555486971, 0.6443966600735709])
    }

    func testConservativeDPOWithLabelSmoothing() throws {
        try assertValues(dpo(.sigmoid, eps: 0.2), [0.6727595555486972, 0.7147595555486972, 0.6643966600735709])
    }

    func testIPO() throws {
        // (h − 1/(2β))² with β = 0.1.
        try assertValues(dpo(.ipo), [18.490000000000006, 32.489999999999995, 16.0], accuracy: 1e-4)
    }

    func testHingeAndRobustDPO() throws {
        try assertValues(dpo(.hinge), [0.93, 1.07, 0.9])
        try assertValues(dpo(.robust, eps: 0.2), [0.6354262222153639, 0.7520928888820304, 0.6110633267402377])
    }

    func testKTO() throws {
        // z from mismatched pairs: mean([−20 − (−20.5), −18 − (−18.2)]) = 0.35.
        let kl = KTOObjective.klEstimate(policy: Tensor([-20.0, -18.0] as [Float]), reference: Tensor([-20.5, -18.2] as [Float]))
        XCTAssertEqual(Double(try kl.float()), 0.35, accuracy: 1e-5)
        let losses = KTOObjective.losses(policy: Tensor([-10, -12.5, -8, -9] as [Float]), reference: Tensor([-10.5, -12, -8.5, -9.2] as [Float]),
                                         desirable: Tensor([1, 0, 1, 0] as [Float]), kl: kl, beta: 0.1,
                                         desirableWeight: 1.0, undesirableWeight: 1.33)
        try assertValues(losses, [0.49625007031091806, 0.6367545040948556, 0.49625007031091806, 0.660012593513521])
        // The reference point is clamped at zero.
        let negative = KTOObjective.klEstimate(policy: Tensor([-20.0] as [Float]), reference: Tensor([-19.0] as [Float]))
        XCTAssertEqual(try negative.float(), 0)
    }

    func testORPO() throws {
        let (loss, nll, logOdds) = ORPOObjective.losses(chosenAverage: Tensor([-0.5, -1.2, -0.3] as [Float]),
                                                        rejectedAverage: Tensor([-0.9, -1.0, -2.0] as [Float]), lambda: 0.1)
        try assertValues(logOdds, [0.8109166866584663, -0.3002927275266479, 2.9048121549459873])
        try assertValues(nll, [0.5, 1.2, 0.3])
        try assertValues(loss, [0.5367728943085694, 1.2854523410079266, 0.30533123767323916])
    }

    func testSimPO() throws {
        let c = Tensor([-0.5, -1.2, -0.3] as [Float]), r = Tensor([-0.9, -1.0, -2.0] as [Float])
        try assertValues(SimPOObjective.losses(chosenAverage: c, rejectedAverage: r, beta: 2.0, gamma: 0.5),
                         [0.5543552444685271, 1.2411538747320878, 0.053562776217963175])
        try assertValues(SimPOObjective.losses(chosenAverage: c, rejectedAverage: r, beta: 2.0, gamma: 0.5, labelSmoothing: 0.1),
                         [0.5843552444685272, 1.1511538747320877, 0.3435627762179632])
    }

    func testPointwiseAndPairwiseRewardLosses() throws {
        try assertValues(RewardObjective.pointwise(rewards: Tensor([0.5, -1.0, 2.0] as [Float]), targets: Tensor([1.0, 0.0, 2.5] as [Float])),
                         [0.25, 1.0, 0.25])
        // LLaMA 2's margin: −log σ(r⁺ − r⁻ − m).
        try assertValues(RewardObjective.pairwise(chosen: Tensor([1.0, 0.2, -0.5] as [Float]), rejected: Tensor([0.0, 0.5, -1.5] as [Float]),
                                                  margin: Tensor([0.5, 0, 1.0] as [Float])),
                         [0.4740769841801067, 0.8543552444685272, 0.6931471805599453])
    }

    /// Listwise: every ordered pair of a ranked group, averaged per group; ties form no pair.
    func testListwiseRankingOverAllPairs() throws {
        let rows = (0..<6).map { i in TokenizedExample(ids: [1, 2, 3 + i], isTarget: [false, true, true], truncated: false) }
        let data = PreferenceDataset(answers: rows, units: [.group(answers: [0, 1, 2], levels: [3, 2, 1]),
                                                            .group(answers: [3, 4, 5], levels: [2, 1, 1])])
        let batch = PreferenceBatches(data, batchSize: 2, padId: 0, shuffle: false).makeBatch([0, 1])
        guard case .pairs(let c, let r, let w, let m) = batch.layout else { return XCTFail("\(batch.layout)") }
        XCTAssertEqual(c.count, 5, "3 pairs from the first group, 2 from the second (one tie)")
        XCTAssertEqual(batch.unitCount, 2)
        XCTAssertEqual(batch.bestRows, [0, 3])
        // Rewards by answer: [2.0, 1.0, 1.5] and [0.3, 0.1, -0.2]; rows are in answer order here.
        let rewards = Tensor([2.0, 1.0, 1.5, 0.3, 0.1, -0.2] as [Float])
        let total = RewardObjective.ranking(rewards: rewards, chosen: c, rejected: r, weight: w, margin: m.map { $0 ?? 0 })
        XCTAssertEqual(Double(try total.float()), 1.123246478740328, accuracy: 1e-5)
    }

    // MARK: Objectives on a tiny model

    static let config = ModelConfig(modelType: "llama", hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
                                    numAttentionHeads: 4, numKeyValueHeads: 2, vocabSize: 40, tieWordEmbeddings: true)

    func tinyModel(seed: UInt64) throws -> TransformerLM {
        Random.seed(seed)
        let m = TransformerLM(Self.config)
        try eval(Array(m.parameters().values))
        m.eval()
        return m
    }

    /// Three pairs of answers of different lengths after a shared prompt.
    func pairData() -> PreferenceDataset {
        func row(_ prompt: [Int], _ answer: [Int]) -> TokenizedExample {
            TokenizedExample(ids: prompt + answer, isTarget: prompt.map { _ in false } + answer.map { _ in true }, truncated: false)
        }
        let answers = [row([1, 5, 9], [4, 7, 2]), row([1, 5, 9], [8, 3]),
                       row([1, 6], [11, 12, 13, 14, 2]), row([1, 6], [15, 2]),
                       row([1, 7, 7, 7], [20, 2]), row([1, 7, 7, 7], [21, 22, 23, 2])]
        return PreferenceDataset(answers: answers, units: [.pair(chosen: 0, rejected: 1, margin: nil), .pair(chosen: 2, rejected: 3, margin: nil),
                                                           .pair(chosen: 4, rejected: 5, margin: nil)])
    }

    /// The batched log-prob sums (one forward pass, projection at answer positions only) equal a
    /// plain full-softmax computation, and each objective is its formula on those log-probs.
    func testObjectivesComputeTheirFormulasOnModelLogProbs() throws {
        let policy = try tinyModel(seed: 1), reference = try tinyModel(seed: 2)
        var data = pairData()
        let plainPolicy = try plainSequenceLogProbs(policy, data.answers)
        let plainRef = try plainSequenceLogProbs(reference, data.answers)
        data.referenceLogps = plainRef.map { Float($0) }
        let batch = PreferenceBatches(data, batchSize: 3, padId: 0, shuffle: false).makeBatch([0, 1, 2])
        // Rows are stacked chosen first: [0, 2, 4, 1, 3, 5] in answer order.
        let rowAnswer = [0, 2, 4, 1, 3, 5]
        try assertValues(SequenceLogProbs.sums(model: policy, rows: batch.rows), rowAnswer.map { plainPolicy[$0] }, accuracy: 1e-4)

        let lengths = data.answers.map { Double($0.targetCount) }
        func t(_ xs: [Double]) -> Tensor { Tensor(xs.map { Float($0) }) }
        let c = [0, 2, 4], r = [1, 3, 5]
        func pick(_ xs: [Double], _ i: [Int]) -> [Double] { i.map { xs[$0] } }
        func avg(_ xs: [Double]) -> [Double] { zip(xs, lengths).map { $0 / $1 } }

        let dpo = DPOObjective(lossType: .sigmoid, beta: 0.2, labelSmoothing: 0.1, reference: .cached)
        let out = dpo.loss(model: policy, batch: batch, training: false)
        let expected = DPOObjective.losses(.sigmoid, beta: 0.2, labelSmoothing: 0.1, chosen: t(pick(plainPolicy, c)), rejected: t(pick(plainPolicy, r)),
                                           referenceChosen: t(pick(plainRef, c)), referenceRejected: t(pick(plainRef, r))).sum()
        XCTAssertEqual(try out.sum.float(), try expected.float(), accuracy: 1e-4)
        XCTAssertEqual(try out.count.float(), 3)
        let margin = zip(c, r).map { 0.2 * ((plainPolicy[$0] - plainRef[$0]) - (plainPolicy[$1] - plainRef[$1])) }.reduce(0, +)
        XCTAssertEqual(Double(try out.metrics["reward_margin"]!.float()), margin, accuracy: 1e-4)

        // IPO compares per-token averages.
        let ipo = DPOObjective(lossType: .ipo, beta: 0.5, reference: .cached).loss(model: policy, batch: batch, training: false)
        let ipoExpected = DPOObjective.losses(.ipo, beta: 0.5, chosen: t(pick(avg(plainPolicy), c)), rejected: t(pick(avg(plainPolicy), r)),
                                              referenceChosen: t(pick(avg(plainRef), c)), referenceRejected: t(pick(avg(plainRef), r))).sum()
        XCTAssertEqual(try ipo.sum.float(), try ipoExpected.float(), accuracy: 1e-4)

        // SimPO and ORPO: averages, no reference.
        let simpo = SimPOObjective(beta: 2, gamma: 0.3).loss(model: policy, batch: batch, training: false)
        let simpoExpected = SimPOObjective.losses(chosenAverage: t(pick(avg(plainPolicy), c)), rejectedAverage: t(pick(avg(plainPolicy), r)),
                                                  beta: 2, gamma: 0.3).sum()
        XCTAssertEqual(try simpo.sum.float(), try simpoExpected.float(), accuracy: 1e-4)
        let orpo = ORPOObjective(lambda: 0.25).loss(model: policy, batch: batch, training: false)
        let orpoExpected = ORPOObjective.losses(chosenAverage: t(pick(avg(plainPolicy), c)), rejectedAverage: t(pick(avg(plainPolicy), r)),
                                                lambda: 0.25).loss.sum()
        XCTAssertEqual(try orpo.sum.float(), try orpoExpected.float(), accuracy: 1e-4)
    }
}
