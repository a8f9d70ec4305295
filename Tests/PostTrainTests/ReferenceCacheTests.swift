import Foundation
import LM
import NN
import PEFT
@testable import PostTrain
import Tensor
import XCTest

/// Reference log-probs precomputed once give the same losses and gradients as a reference model
/// run every step, and the cache in the run folder is reused only for the same token rows.
final class ReferenceCacheTests: XCTestCase {
    func tinyModel(seed: UInt64) throws -> TransformerLM {
        Random.seed(seed)
        let m = TransformerLM(PreferenceLossTests.config)
        try eval(Array(m.parameters().values))
        return m
    }

    func row(_ prompt: [Int], _ answer: [Int]) -> TokenizedExample {
        TokenizedExample(ids: prompt + answer, isTarget: prompt.map { _ in false } + answer.map { _ in true }, truncated: false)
    }

    func pairData() -> PreferenceDataset {
        let answers = [row([1, 5, 9], [4, 7, 2]), row([1, 5, 9], [8, 3]), row([1, 6], [11, 12, 13, 14, 2]), row([1, 6], [15, 2])]
        return PreferenceDataset(answers: answers, units: [.pair(chosen: 0, rejected: 1, margin: nil), .pair(chosen: 2, rejected: 3, margin: nil)])
    }

    /// Trained-looking adapters: B random, so the policy differs from its reference.
    func moveAdapters(_ model: Module, seed: UInt64) throws {
        var updates: [String: Tensor] = [:]
        for (i, (path, p)) in model.trainableParameters().sorted(by: { $0.key < $1.key }).enumerated() where path.hasSuffix("lora_B") {
            updates[path] = Random.normal(p.shape, std: 0.2, key: RandomKey(seed: seed &+ UInt64(i)))
        }
        XCTAssertFalse(updates.isEmpty)
        try model.update(parameters: updates)
    }

    func compare<A: Objective, B: Objective>(_ cached: A, _ live: B, model: any LanguageModel, batch: PreferenceBatch) throws
        where A.Batch == PreferenceBatch, B.Batch == PreferenceBatch {
        let t1 = try Trainer(model: model, objective: cached, config: TrainingConfig(), output: nil)
        let t2 = try Trainer(model: model, objective: live, config: TrainingConfig(), output: nil)
        let a = try t1.lossAndGradients(batch), b = try t2.lossAndGradients(batch)
        let la = try a.sum.float(), lb = try b.sum.float()
        XCTAssertGreaterThan(Swift.abs(la), 1e-3)
        XCTAssertEqual(la, lb, accuracy: 1e-5 * Swift.max(1, Swift.abs(la)))
        for (k, v) in a.metrics { XCTAssertEqual(try v.float(), try b.metrics[k]!.float(), accuracy: 1e-5, k) }
        XCTAssertEqual(a.grads.count, b.grads.count)
        for (ga, gb) in zip(a.grads, b.grads) {
            let scale = try ga.abs.max().float()
            XCTAssertLessThanOrEqual(try (ga - gb).abs.max().float(), 1e-5 * Swift.max(1, scale))
        }
    }

    /// LoRA: the cache is computed from the starting policy (fresh adapters add nothing); the
    /// live reference is the policy with its adapters switched off.
    func testCachedAndAdaptersDisabledReferencesAgreeForDPO() throws {
        let model = try tinyModel(seed: 4)
        try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj", "down_proj"])), to: model,
                            key: RandomKey(seed: 5))
        var data = pairData()
        data.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: data, padId: 0)
        try moveAdapters(model, seed: 11)
        let batch = PreferenceBatches(data, batchSize: 2, padId: 0, shuffle: false).makeBatch([0, 1])
        XCTAssertNotNil(batch.referenceLogps)
        for type in DPOObjective.LossType.allCases {
            try compare(DPOObjective(lossType: type, beta: 0.3, labelSmoothing: type == .robust ? 0.1 : 0, reference: .cached),
                        DPOObjective(lossType: type, beta: 0.3, labelSmoothing: type == .robust ? 0.1 : 0, reference: .adaptersDisabled),
                        model: model, batch: batch)
        }
    }

    /// Full fine-tuning: the cache from the model before training equals a frozen copy run live.
    func testCachedAndSeparateReferenceModelAgree() throws {
        let policy = try tinyModel(seed: 8), copy = try tinyModel(seed: 8)
        copy.freeze()
        var data = pairData()
        data.referenceLogps = try ReferenceLogProbs.compute(model: policy, dataset: data, padId: 0)
        // "Training" moves every weight.
        try policy.update(parameters: policy.parameters().mapValues { $0 + Random.normal($0.shape, std: 0.02, key: RandomKey(seed: 3)) })
        let batch = PreferenceBatches(data, batchSize: 2, padId: 0, shuffle: false).makeBatch([0, 1])
        try compare(DPOObjective(reference: .cached), DPOObjective(reference: .separate(copy)), model: policy, batch: batch)
    }

    /// KTO's reference covers its mismatched rows too.
    func testCachedAndLiveReferencesAgreeForKTO() throws {
        let model = try tinyModel(seed: 6)
        try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj"])), to: model, key: RandomKey(seed: 7))
        let answers = [row([1, 5], [4, 7, 2]), row([1, 6], [8, 3]), row([1, 7], [11, 12, 2]),
                       row([1, 5], [8, 3]), row([1, 6], [11, 12, 2]), row([1, 7], [4, 7, 2])]
        var data = PreferenceDataset(answers: answers, units: [.labelled(answer: 0, desirable: true, mismatched: 3),
                                                               .labelled(answer: 1, desirable: false, mismatched: 4),
                                                               .labelled(answer: 2, desirable: true, mismatched: 5)])
        data.referenceLogps = try ReferenceLogProbs.compute(model: model, dataset: data, padId: 0)
        try moveAdapters(model, seed: 12)
        let batch = PreferenceBatches(data, batchSize: 3, padId: 0, shuffle: false).makeBatch([0, 1, 2])
        XCTAssertEqual(batch.mismatchedRows?.count, 3)
        let live = KTOObjective(beta: 0.5, undesirableWeight: 1.5, reference: .adaptersDisabled)
        var cached = live
        cached.reference = .cached
        try compare(cached, live, model: model, batch: batch)
        // With a moved policy the KL estimate is typically non-zero; either way it is shared.
        let out = live.loss(model: model, batch: batch, training: false)
        XCTAssertNotNil(out.metrics["kl"])
    }

    func testReferenceCacheFileIsReusedOnlyForTheSameRows() throws {
        let model = try tinyModel(seed: 9)
        let dir = try PreferenceFixtures.temporaryDirectory(self)
        let cache = dir.appendingPathComponent(ReferenceLogProbs.fileName)
        var sets = ["train": pairData()]
        XCTAssertTrue(try ReferenceLogProbs.attach(model: model, datasets: &sets, padId: 0, cache: cache))
        let first = sets["train"]!.referenceLogps!
        XCTAssertTrue(FileManager.default.fileExists(atPath: cache.path))
        // A resumed run: a different model state must not matter, the cached values are used.
        try model.update(parameters: model.parameters().mapValues { $0 * 1.5 })
        var again = ["train": pairData()]
        XCTAssertFalse(try ReferenceLogProbs.attach(model: model, datasets: &again, padId: 0, cache: cache))
        XCTAssertEqual(again["train"]!.referenceLogps!, first)
        // Another reference model for the same rows: recomputed.
        var other = ["train": pairData()]
        XCTAssertTrue(try ReferenceLogProbs.attach(model: model, datasets: &other, padId: 0, cache: cache, source: "ref_model:other"))
        XCTAssertNotEqual(other["train"]!.referenceLogps!, first)
        XCTAssertFalse(try ReferenceLogProbs.attach(model: model, datasets: &other, padId: 0, cache: cache, source: "ref_model:other"))
        // Other token rows (a changed data file): recomputed.
        var changed = pairData()
        changed.answers[0].ids[4] = 9
        var third = ["train": changed]
        XCTAssertTrue(try ReferenceLogProbs.attach(model: model, datasets: &third, padId: 0, cache: cache, source: "ref_model:other"))
        XCTAssertNotEqual(third["train"]!.referenceLogps![0], first[0])
    }
}
