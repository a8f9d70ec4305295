import Foundation
import LM
import NN
@testable import PostTrain
import Tensor
import XCTest

/// A fixed list of token batches (deterministic per epoch).
struct FixedBatches: BatchSource {
    let batches: [TokenBatch]
    var batchesPerEpoch: Int { batches.count }
    func batch(epoch: Int, index: Int) throws -> TokenBatch { batches[(index + epoch) % batches.count] }
}

/// The training loop on a tiny random transformer: loss falls, accumulation is exact, a run
/// stopped by Ctrl-C and resumed matches an uninterrupted one, NaN losses stop the run.
final class TrainerTests: XCTestCase {
    static let config = ModelConfig(modelType: "llama", hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
                                    numAttentionHeads: 4, numKeyValueHeads: 2, vocabSize: 50, tieWordEmbeddings: true)

    func tinyModel(seed: UInt64 = 0) -> TransformerLM {
        Random.seed(seed)
        let m = TransformerLM(Self.config)
        try! eval(Array(m.parameters().values))
        return m
    }

    /// Sequences with a learnable rule: each token is the previous one plus 3 (mod 50).
    func data(seed: Int, count: Int = 4) -> [TokenBatch] {
        (0..<count).map { b in
            let rows = (0..<4).map { r in (0..<12).map { ((b * 7 + r * 11 + seed) + 3 * $0) % 50 } }
            return TokenBatch(rows: rows, lossOnNext: rows.map { $0.map { _ in true } })
        }
    }

    func temporaryDirectory() -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("pt-trainer-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func testLossFallsAndValidationImproves() throws {
        var cfg = TrainingConfig()
        cfg.maxSteps = 60
        cfg.learningRate = 1e-2
        cfg.evalEvery = 30
        let model = tinyModel()
        let trainer = try Trainer(model: model, objective: SFTObjective(), config: cfg, output: nil)
        trainer.log.quiet = true
        let valid = FixedBatches(batches: data(seed: 5, count: 2))
        let before = try trainer.evaluate(valid).loss
        let result = try trainer.train(FixedBatches(batches: data(seed: 0)), validation: valid)
        XCTAssertEqual(result.steps, 60)
        XCTAssertLessThan(result.finalValidationLoss!, before * 0.5, "validation loss \(before) → \(result.finalValidationLoss!)")
    }

    func testEarlyStoppingWhenValidationStopsImproving() throws {
        // Training on one rule while validating on a contradicting one: validation loss rises,
        // and with patience 2 the run stops after two evaluations without improvement.
        var cfg = TrainingConfig()
        cfg.maxSteps = 200
        cfg.learningRate = 1e-2
        cfg.evalEvery = 5
        cfg.earlyStoppingPatience = 2
        let contradicting: [TokenBatch] = (0..<2).map { b in
            let rows = (0..<4).map { r in (0..<12).map { ((b * 5 + r * 13) + 47 * $0) % 50 } }  // next = prev - 3
            return TokenBatch(rows: rows, lossOnNext: rows.map { $0.map { _ in true } })
        }
        let trainer = try Trainer(model: tinyModel(), objective: SFTObjective(), config: cfg, output: nil)
        trainer.log.quiet = true
        let result = try trainer.train(FixedBatches(batches: data(seed: 0)), validation: FixedBatches(batches: contradicting))
        XCTAssertTrue(result.stoppedEarly)
        XCTAssertLessThan(result.steps, 200)
        XCTAssertGreaterThan(result.finalValidationLoss!, result.bestValidationLoss!)
    }

    func testGradientAccumulationEqualsOneLargeBatch() throws {
        // Two micro-batches with different loss-token counts accumulate to the token-weighted mean.
        let rowsA = [[1, 4, 7, 10, 13, 16]], rowsB = [[2, 5, 8], [3, 6, 9, 12, 15]]
        let maskA = rowsA.map { r in r.enumerated().map { $0.offset >= 2 } }
        let maskB = rowsB.map { r in r.map { _ in true } }
        let a = TokenBatch(rows: rowsA, lossOnNext: maskA), b = TokenBatch(rows: rowsB, lossOnNext: maskB)
        let both = TokenBatch(rows: rowsA + rowsB, lossOnNext: maskA + maskB)
        let model = tinyModel(seed: 3)
        let trainer = try Trainer(model: model, objective: SFTObjective(), config: TrainingConfig(), output: nil)
        let ra = try trainer.lossAndGradients(a), rb = try trainer.lossAndGradients(b), rab = try trainer.lossAndGradients(both)
        let count = try (ra.count + rb.count).float()
        XCTAssertEqual(count, try rab.count.float())
        XCTAssertEqual(try ((ra.sum + rb.sum) / Double(count)).float(), try (rab.sum / Double(count)).float(), accuracy: 1e-5)
        for (ga, (gb, gab)) in zip(ra.grads, zip(rb.grads, rab.grads)) {
            XCTAssertLessThan(try (ga + gb - gab).abs.max().float(), 1e-5)
        }
    }

    func testGradientCheckpointingGivesTheSameGradients() throws {
        let batch = data(seed: 2, count: 1)[0]
        let plain = tinyModel(seed: 4)
        let checkpointed = tinyModel(seed: 4)
        checkpointed.gradientCheckpointing = true
        let a = try Trainer(model: plain, objective: SFTObjective(), config: TrainingConfig(), output: nil).lossAndGradients(batch)
        let b = try Trainer(model: checkpointed, objective: SFTObjective(), config: TrainingConfig(), output: nil).lossAndGradients(batch)
        XCTAssertEqual(try a.sum.float(), try b.sum.float(), accuracy: 1e-5)
        XCTAssertEqual(a.grads.count, b.grads.count)
        for (ga, gb) in zip(a.grads, b.grads) { XCTAssertLessThan(try (ga - gb).abs.max().float(), 1e-5) }
    }

    func testRecomputedActivationGivesTheSameGradients() throws {
        // Training mode recomputes silu(gate)·up in the backward pass; evaluation mode keeps it.
        let batch = data(seed: 3, count: 1)[0]
        let model = tinyModel(seed: 5)
        let trainer = try Trainer(model: model, objective: SFTObjective(), config: TrainingConfig(), output: nil)
        model.train(true)
        let a = try trainer.lossAndGradients(batch)
        model.train(false)
        let b = try trainer.lossAndGradients(batch)
        XCTAssertEqual(try a.sum.float(), try b.sum.float(), accuracy: 1e-5)
        for (ga, gb) in zip(a.grads, b.grads) { XCTAssertLessThan(try (ga - gb).abs.max().float(), 1e-5) }
    }

    func testInterruptedRunResumesExactly() throws {
        var cfg = TrainingConfig()
        cfg.maxSteps = 8
        cfg.learningRate = 2e-3
        cfg.warmupSteps = 2
        cfg.gradientAccumulation = 2
        cfg.saveEvery = 0
        cfg.evalEvery = 0
        let source = FixedBatches(batches: data(seed: 1, count: 3))

        var straight: [Int: Double] = [:]
        let t1 = try Trainer(model: tinyModel(), objective: SFTObjective(), config: cfg, output: temporaryDirectory())
        t1.log.quiet = true
        t1.onStep = { step, v in straight[step] = v["loss"] }
        _ = try t1.train(source, validation: FixedBatches?.none)

        let out = temporaryDirectory()
        var resumed: [Int: Double] = [:]
        let t2 = try Trainer(model: tinyModel(), objective: SFTObjective(), config: cfg, output: out)
        t2.log.quiet = true
        t2.onStep = { step, v in
            resumed[step] = v["loss"]
            if step == 3 { Interrupt.simulate() }  // as if Ctrl-C arrived during step 3
        }
        let first = try t2.train(source, validation: FixedBatches?.none)
        XCTAssertTrue(first.interrupted)
        XCTAssertEqual(first.steps, 3)
        XCTAssertNotNil(Checkpoint.latest(out))

        // A new process: a freshly initialised (different) model, resumed from the checkpoint.
        let t3 = try Trainer(model: tinyModel(seed: 99), objective: SFTObjective(), config: cfg, output: out, resume: true)
        t3.log.quiet = true
        t3.onStep = { step, v in resumed[step] = v["loss"] }
        let second = try t3.train(source, validation: FixedBatches?.none)
        XCTAssertEqual(second.steps, 5)
        for step in 1...8 {
            XCTAssertEqual(resumed[step]!, straight[step]!, accuracy: 1e-6, "step \(step)")
        }
        // metrics.jsonl has each step once.
        let lines = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"loss\"") }
        XCTAssertEqual(lines.count, 8)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.html").path))
    }

    struct NaNObjective: Objective {
        func loss(model: any LanguageModel, batch: TokenBatch, training: Bool) -> ObjectiveOutput {
            let l = SFTObjective().loss(model: model, batch: batch, training: training)
            return ObjectiveOutput(sum: l.sum * Double.nan, count: l.count)
        }
    }

    func testNonFiniteLossStopsWithCheckpoint() throws {
        var cfg = TrainingConfig()
        cfg.maxSteps = 10
        let out = temporaryDirectory()
        let model = tinyModel()
        let before = model.parameters()
        let trainer = try Trainer(model: model, objective: NaNObjective(), config: cfg, output: out)
        trainer.log.quiet = true
        XCTAssertThrowsError(try trainer.train(FixedBatches(batches: data(seed: 0)), validation: FixedBatches?.none)) { error in
            XCTAssertTrue("\(error)".contains("not finite"), "\(error)")
        }
        XCTAssertNotNil(Checkpoint.latest(out))
        // No update was applied from a NaN loss.
        for (k, v) in model.parameters() { XCTAssertTrue(try arrayEqual(v, before[k]!), k) }
    }

    func testCorruptCheckpointIsReported() throws {
        var cfg = TrainingConfig()
        cfg.maxSteps = 1
        let out = temporaryDirectory()
        let t = try Trainer(model: tinyModel(), objective: SFTObjective(), config: cfg, output: out)
        t.log.quiet = true
        _ = try t.train(FixedBatches(batches: data(seed: 0)), validation: FixedBatches?.none)
        let dir = Checkpoint.latest(out)!
        try Data("{not json".utf8).write(to: dir.appendingPathComponent("trainer_state.json"))
        XCTAssertThrowsError(try Trainer(model: tinyModel(), objective: SFTObjective(), config: cfg, output: out, resume: true)) {
            XCTAssertTrue("\($0)".contains("trainer_state.json"), "\($0)")
        }
    }
}
