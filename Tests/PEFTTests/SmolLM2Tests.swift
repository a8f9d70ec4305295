import Foundation
import LM
import NN
import PEFT
import Tensor
import XCTest

/// LoRA, QLoRA and merging on the real default model (SmolLM2-135M-Instruct, 30 layers,
/// hidden 576, 3 KV heads of 64, FFN 1536).
final class SmolLM2Tests: XCTestCase {
    let ids = Tensor([1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 30], shape: [1, 12])

    func testAdapterCountOnAllLinearLayers() throws {
        let model = try PEFTTestSupport.loadSmolLM2()
        let total = Adapters.parameterCounts(model).total
        let paths = try Adapters.attach(PEFTConfig(r: 8, loraAlpha: 16, targetModules: .allLinear), to: model, key: RandomKey(seed: 1))
        XCTAssertEqual(paths.count, 7 * 30)
        XCTAssertEqual(paths.first, "model.layers.0.self_attn.q_proj")
        // Per layer: q, o 576→576; k, v 576→192; gate, up 576→1536; down 1536→576; r·(in + out) each.
        let perLayer = 8 * (2 * (576 + 576) + 2 * (576 + 192) + 3 * (576 + 1536))
        XCTAssertEqual(perLayer * 30, 2_442_240)
        XCTAssertEqual(model.trainableParameterCount(), 2_442_240)
        XCTAssertTrue(model.trainableParameters().keys.allSatisfy { $0.contains(".adapter.lora_") })
        let counts = Adapters.parameterCounts(model)
        XCTAssertEqual(counts.trainable, 2_442_240)
        XCTAssertEqual(counts.total, total + 2_442_240)
        XCTAssertEqual(total, 134_515_008, "SmolLM2-135M: 49152×576 tied embeddings + 30 blocks + final norm")
        XCTAssertEqual(Adapters.summary(model), "trainable params: 2,442,240 || all params: 136,957,248 || trainable%: 1.7832")
    }

    func testLayerSelectionOnTheRealModel() throws {
        let model = try PEFTTestSupport.loadSmolLM2()
        let paths = try Adapters.attach(PEFTConfig(r: 4, targetModules: .names(["q_proj", "v_proj"]), layersToTransform: [0, 29]),
                                        to: model, key: RandomKey(seed: 1))
        XCTAssertEqual(paths, ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                               "model.layers.29.self_attn.q_proj", "model.layers.29.self_attn.v_proj"])
        XCTAssertEqual(model.trainableParameterCount(), 4 * 2 * ((576 + 576) + (576 + 192)))
        XCTAssertThrowsError(try Adapters.attach(PEFTConfig(targetModules: .names(["c_attn"])), to: model, key: RandomKey(seed: 1))) { error in
            XCTAssertTrue("\(error)".contains("c_attn") && "\(error)".contains("gate_proj"), "\(error)")
        }
    }

    func testMergedModelMatchesTheAdaptedModel() throws {
        let model = try PEFTTestSupport.loadSmolLM2()
        let base = model(ids)
        try Adapters.attach(PEFTConfig(r: 8, loraAlpha: 16, targetModules: .names(["q_proj", "v_proj"])), to: model, key: RandomKey(seed: 2))
        try randomizeAdapters(model, seed: 3, std: 0.02)
        let adapted = model(ids)
        try Adapters.merge(model)
        XCTAssertTrue(Adapters.adaptedLayers(of: model).isEmpty)
        let merged = model(ids)
        let diff = try maxAbsDiff(merged, adapted)
        // Logits reach ~35 and float32 rounding alone moves them by ~1e-4 (the same prompt's
        // logits computed from a shorter prefix differ that much), so the bound is relative.
        let scale = try adapted.abs.max().float()
        XCTAssertLessThan(diff / scale, 1e-5, "max |merged − adapted| = \(diff) over logits up to \(scale)")
        XCTAssertGreaterThan(try maxAbsDiff(adapted, base), 1e-2, "the adapters change the logits")
    }

    func testSaveLoadRoundTripOnTheRealModel() throws {
        let dir = try temporaryDirectory(self)
        let model = try PEFTTestSupport.loadSmolLM2()
        let config = PEFTConfig(r: 8, loraAlpha: 16, targetModules: .names(["q_proj", "v_proj"]), useDora: true)
        try Adapters.attach(config, to: model, key: RandomKey(seed: 2))
        try randomizeAdapters(model, seed: 3, std: 0.02)
        let expected = model(ids)
        try Adapters.save(adapterOf: model, config: config, to: dir.path)
        let keys = try TensorIO.loadSafetensors(dir.appendingPathComponent("adapter_model.safetensors").path).tensors.keys
        XCTAssertEqual(keys.count, 30 * 2 * 3)
        XCTAssertTrue(keys.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
        XCTAssertTrue(keys.contains("base_model.model.model.layers.29.self_attn.v_proj.lora_magnitude_vector"))

        let fresh = try PEFTTestSupport.loadSmolLM2()
        try Adapters.load(from: dir.path, into: fresh)
        XCTAssertTrue(try arrayEqual(fresh(ids), expected))
    }

    /// QLoRA: the 4-bit base stays packed and frozen; the adapters get the gradient.
    func testQLoRATrainsAdaptersOnTheFrozenQuantizedBase() throws {
        let model = try PEFTTestSupport.loadSmolLM2(LoadOptions(keepQuantized: true))
        let q = model.modules().first { $0.0 == "model.layers.0.self_attn.q_proj" }!.1 as! QuantizedLinear
        let packed = q.weight
        XCTAssertEqual(packed.dtype, .uint32)
        let before = model(ids)

        let paths = try Adapters.attach(PEFTConfig(r: 8, loraAlpha: 16, targetModules: .names(["q_proj", "v_proj"])), to: model, key: RandomKey(seed: 4))
        XCTAssertEqual(paths.count, 60)
        XCTAssertTrue(q.adapter is LoRA)
        XCTAssertEqual(q.weight.dtype, .uint32)
        XCTAssertTrue(try arrayEqual(model(ids), before), "B = 0: attaching changes nothing")
        let trainable = model.trainableParameters()
        XCTAssertEqual(trainable.count, 120)
        XCTAssertTrue(trainable.keys.allSatisfy { $0.contains(".adapter.lora_") })
        XCTAssertTrue(trainable.values.allSatisfy { $0.dtype == .float32 })

        let inputs = ids[0..., 0..<11], targets = ids[0..., 1...]
        func loss(_ tree: [String: Tensor]) throws -> Tensor {
            try model.update(parameters: tree)
            return Losses.crossEntropy(logits: model(inputs), targets: targets).mean
        }
        let opt = AdamW(learningRate: 1e-3, weightDecay: 0)
        let (value, grads) = try valueAndGrad(loss, at: trainable)
        XCTAssertEqual(Set(grads.keys), Set(trainable.keys))
        let bNorm = try grads.filter { $0.key.hasSuffix("lora_B") }.values.map { try $0.abs.max().float() }.max()!
        XCTAssertGreaterThan(bNorm, 0, "B gets a gradient through the quantized base")
        try model.update(parameters: opt.update(parameters: trainable, gradients: grads))
        try eval([value] + Array(model.parameters().values))

        XCTAssertEqual(q.weight.dtype, .uint32, "the base is still 4-bit after the step")
        XCTAssertTrue(try arrayEqual(q.weight, packed), "the packed weights did not move")
        XCTAssertTrue(model.modules().allSatisfy { !($0.1 is QuantizedLinear) || ($0.1 as! QuantizedLinear).weight.dtype == .uint32 })
        XCTAssertGreaterThan(try (q.adapter as! LoRA).loraB.abs.max().float(), 0, "the step moved B")
        // A second gradient now reaches A as well (B ≠ 0), and the loss on this batch went down.
        let (after, grads2) = try valueAndGrad(loss, at: model.trainableParameters())
        let aNorm = try grads2.filter { $0.key.hasSuffix("lora_A") }.values.map { try $0.abs.max().float() }.max()!
        XCTAssertGreaterThan(aNorm, 0)
        XCTAssertLessThan(try after.float(), try value.float())
    }
}
