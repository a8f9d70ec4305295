import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// Merged weights compute what the adapters computed; unmerging restores the base.
final class MergeTests: XCTestCase {
    let x = Random.normal([6, 32], key: RandomKey(seed: 51))

    func adapted(dora: Bool, quantizeHead: Bool = false) throws -> ToyModel {
        let model = ToyModel(dims: 32, layers: 2, vocab: 64, seed: 9)
        if quantizeHead {
            try model.replaceModule(at: "lm_head", with: QuantizedLinear(model.lmHead as! Linear, groupSize: 32, bits: 4))
        }
        // After the replacement: a new module starts in training mode (dropout on).
        model.eval()
        let targets: PEFTConfig.TargetModules = quantizeHead ? .names(["q_proj", "down_proj", "lm_head"]) : .allLinear
        try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, loraDropout: 0.1, targetModules: targets, useDora: dora),
                            to: model, key: RandomKey(seed: 2))
        try randomizeAdapters(model, seed: 3, std: 0.1)
        return model
    }

    func checkMerge(dora: Bool) throws {
        let model = try adapted(dora: dora)
        let expected = model(x)
        let base = { () -> Tensor in
            let plain = ToyModel(dims: 32, layers: 2, vocab: 64, seed: 9)
            return plain(self.x)
        }()
        XCTAssertGreaterThan(try maxAbsDiff(expected, base), 1e-2, "the adapters must matter for the test to mean anything")
        let merged = try Adapters.merge(model)
        XCTAssertEqual(merged.count, 6)
        XCTAssertTrue(Adapters.adaptedLayers(of: model).isEmpty)
        XCTAssertFalse(model.parameters().keys.contains { $0.contains("adapter") })
        XCTAssertEqual(model.trainableParameterCount(), 0, "merged weights stay frozen like the base")
        XCTAssertLessThan(try maxAbsDiff(model(x), expected), 1e-5)
    }

    func testLoRAMergeReproducesTheAdaptedOutputs() throws { try checkMerge(dora: false) }

    func testDoRAMergeReproducesTheAdaptedOutputs() throws { try checkMerge(dora: true) }

    func testMergingIntoAQuantizedLayerGivesAFloatLinear() throws {
        for dora in [false, true] {
            let model = try adapted(dora: dora, quantizeHead: true)
            XCTAssertTrue(model.lmHead is QuantizedLinear)
            let expected = model(x)
            try Adapters.merge(model)
            XCTAssertTrue(model.lmHead is Linear, "the quantized head becomes a float Linear")
            XCTAssertEqual((model.lmHead as! Linear).weight.dtype, .float32)
            XCTAssertNil(model.lmHead.adapter)
            XCTAssertLessThan(try maxAbsDiff(model(x), expected), 1e-5, dora ? "DoRA" : "LoRA")
        }
    }

    func testMergeKeepingAdaptersThenUnmergeRestoresTheBase() throws {
        for dora in [false, true] {
            let model = try adapted(dora: dora)
            let weights = model.parameters().filter { !$0.key.contains("adapter") }
            let expected = model(x)
            XCTAssertEqual(try Adapters.mergeKeepingAdapters(model).count, 6)
            XCTAssertTrue(Adapters.adaptedLayers(of: model).allSatisfy { $0.adapter.isMerged })
            XCTAssertLessThan(try maxAbsDiff(model(x), expected), 1e-5, "merged")
            XCTAssertGreaterThan(try maxAbsDiff((model.model.layers[0].attention.qProj as! Linear).weight,
                                                weights["model.layers.0.self_attn.q_proj.weight"]!), 1e-3, "the weight holds the update")
            XCTAssertEqual(try Adapters.unmerge(model).count, 6)
            XCTAssertLessThan(try maxAbsDiff(model(x), expected), 1e-5, "unmerged")
            for (path, w) in weights {
                XCTAssertLessThan(try maxAbsDiff(model.parameters()[path]!, w), 1e-6, path)
            }
        }
        let quantized = try adapted(dora: false, quantizeHead: true)
        XCTAssertThrowsError(try Adapters.mergeKeepingAdapters(quantized)) { XCTAssertTrue("\($0)".contains("lm_head"), "\($0)") }
        XCTAssertFalse(Adapters.adaptedLayers(of: quantized).contains { $0.adapter.isMerged }, "nothing merged after the error")
    }

    func testDisablingAndUnloadingGiveTheBaseModel() throws {
        let model = try adapted(dora: true)
        let expected = model(x)
        let base = ToyModel(dims: 32, layers: 2, vocab: 64, seed: 9)(x)
        let disabled = try Adapters.withAdaptersDisabled(model) { model(x) }
        XCTAssertLessThan(try maxAbsDiff(disabled, base), 1e-6, "disabled adapters give the base outputs")
        XCTAssertTrue(try arrayEqual(model(x), expected), "and are back on afterwards")

        try Adapters.mergeKeepingAdapters(model)
        XCTAssertThrowsError(try Adapters.withAdaptersDisabled(model) { model(x) })
        XCTAssertEqual(try Adapters.unload(model).count, 6)
        XCTAssertTrue(Adapters.adaptedLayers(of: model).isEmpty)
        XCTAssertLessThan(try maxAbsDiff(model(x), base), 1e-5, "unload restores the base weights")
    }
}
