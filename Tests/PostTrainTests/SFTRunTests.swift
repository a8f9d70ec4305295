import Foundation
import LM
import NN
import PEFT
@testable import PostTrain
import Tensor
import XCTest

/// End to end on the default model: a short LoRA run on alpaca rows lowers the loss on held-out
/// rows, and QLoRA trains adapters while the base stays 4-bit.
final class SFTRunTests: XCTestCase {
    func alpacaSplit() throws -> (train: String, valid: String) {
        try Fixtures.require(Fixtures.alpaca)
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.alpaca))) as! [[String: Any]]
        // Short examples keep the test fast; the held-out rows come from the end of the file.
        let short = rows.filter { (($0["output"] as? String)?.count ?? 0) < 300 }
        let train = Fixtures.temporaryFile("train.json", String(decoding: try JSONSerialization.data(withJSONObject: Array(short.prefix(48))), as: UTF8.self))
        let valid = Fixtures.temporaryFile("valid.json", String(decoding: try JSONSerialization.data(withJSONObject: Array(short.suffix(12))), as: UTF8.self))
        return (train, valid)
    }

    func config(_ peft: RunConfig.PEFTMethod, train: String, valid: String) -> RunConfig {
        var c = RunConfig()
        c.model = Fixtures.smolGGUF
        c.train = [DataSource(path: train)]
        c.valid = [DataSource(path: valid)]
        c.peft = peft
        c.rank = 8
        c.maxLength = 160
        c.batchSize = 4
        c.training.maxSteps = 12
        c.training.learningRate = 1e-3
        c.training.warmupSteps = 2
        c.training.evalEvery = 0
        c.training.saveEvery = 0
        return c
    }

    func testLoRALowersHeldOutLoss() throws {
        let (train, valid) = try alpacaSplit()
        let c = config(.lora, train: train, valid: valid)
        let (loaded, _) = try ModelSetup.load(c)
        let (trainBatches, validBatches, report) = try SFTRun.data(c, loaded: loaded)
        XCTAssertEqual(report.examples, 48)
        let trainer = try Trainer(model: loaded.model, objective: SFTObjective(), config: c.training, output: nil)
        trainer.log.quiet = true
        let before = try trainer.evaluate(validBatches!).loss
        let result = try trainer.train(trainBatches, validation: validBatches)
        let after = result.finalValidationLoss!
        XCTAssertLessThan(after, before - 0.02, "held-out loss \(before) → \(after)")
        print("SFT LoRA held-out loss \(before) → \(after), \(result.tokensPerSecond) tokens/s")
    }

    func testQLoRATrainsWithTheBaseKept4Bit() throws {
        let (train, valid) = try alpacaSplit()
        var c = config(.qlora, train: train, valid: valid)
        c.training.maxSteps = 3
        let (loaded, _) = try ModelSetup.load(c)
        let q = loaded.model.modules().compactMap { $0.1 as? QuantizedLinear }
        XCTAssertEqual(q.count, 30 * 7)
        let before = q[0].weight
        let (trainBatches, _, _) = try SFTRun.data(c, loaded: loaded)
        let trainer = try Trainer(model: loaded.model, objective: SFTObjective(), config: c.training, output: nil)
        trainer.log.quiet = true
        let loraBefore = loaded.model.trainableParameters()
        _ = try trainer.train(trainBatches, validation: SFTBatches?.none)
        XCTAssertEqual(q[0].weight.dtype, .uint32)
        XCTAssertTrue(try arrayEqual(q[0].weight, before))
        XCTAssertTrue(loaded.model.trainableParameters().keys.allSatisfy { $0.contains("lora_") })
        let changed = try loaded.model.trainableParameters().filter { !(try arrayEqual($0.value, loraBefore[$0.key]!)) }
        XCTAssertGreaterThan(changed.count, 100)
    }
}
