import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// Which layers `attach` adapts and what becomes trainable.
final class AttachTests: XCTestCase {
    func testOnlyAdapterParametersTrainAfterAttach() throws {
        let model = ToyModel(dims: 16, layers: 3, vocab: 24)
        let total = model.parameterCount()
        let paths = try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj"])),
                                        to: model, key: RandomKey(seed: 1))
        XCTAssertEqual(paths, (0..<3).flatMap { ["model.layers.\($0).self_attn.q_proj", "model.layers.\($0).self_attn.v_proj"] })
        let trainable = model.trainableParameters()
        XCTAssertTrue(trainable.keys.allSatisfy { $0.contains(".adapter.lora_") }, "\(trainable.keys.sorted())")
        XCTAssertEqual(trainable.count, 12)
        // r·(in + out) per adapted 16×16 layer.
        XCTAssertEqual(model.trainableParameterCount(), 6 * 4 * (16 + 16))
        XCTAssertEqual(model.parameterCount(), total + 6 * 4 * 32)
        XCTAssertEqual(Adapters.parameterCounts(model).trainable, 768)
        // 3 × (q 16·16+16, v 16·16, down 16·16+16) + lm_head 24·16 = 2,784 base parameters.
        XCTAssertEqual(total, 2784)
        XCTAssertEqual(Adapters.summary(model), "trainable params: 768 || all params: 3,552 || trainable%: 21.6216")
    }

    func testDoRAAddsAMagnitudePerOutputFeature() throws {
        let model = ToyModel()
        try Adapters.attach(PEFTConfig(r: 2, targetModules: .names(["down_proj"]), useDora: true), to: model, key: RandomKey(seed: 1))
        XCTAssertEqual(model.trainableParameterCount(), 3 * (2 * (16 + 16) + 16))
        XCTAssertNotNil(model.trainableParameters()["model.layers.1.mlp.down_proj.adapter.lora_magnitude_vector"])
    }

    func testAllLinearSkipsTheOutputHead() throws {
        let model = ToyModel()
        let paths = try Adapters.attach(PEFTConfig(targetModules: .allLinear), to: model, key: RandomKey(seed: 1))
        XCTAssertEqual(paths, model.linearPaths.filter { $0 != "lm_head" })
        XCTAssertEqual(paths.count, 9)
    }

    func testLayersToTransformAndPatterns() throws {
        let model = ToyModel(layers: 4)
        var config = PEFTConfig(targetModules: .names(["q_proj", "down_proj"]), layersToTransform: [0, 2])
        XCTAssertEqual(try Adapters.attach(config, to: model, key: RandomKey(seed: 1)),
                       ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj",
                        "model.layers.2.self_attn.q_proj", "model.layers.2.mlp.down_proj"])

        // A dotted name matches the end of the path; exclude_modules removes matches.
        let second = ToyModel(layers: 2)
        config = PEFTConfig(targetModules: .names(["self_attn.v_proj", "down_proj"]), excludeModules: .names(["layers.1.mlp.down_proj"]))
        XCTAssertEqual(try Adapters.attach(config, to: second, key: RandomKey(seed: 1)),
                       ["model.layers.0.self_attn.v_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.v_proj"])

        // A regex must match the whole path.
        let third = ToyModel(layers: 3)
        config = PEFTConfig(targetModules: .regex(#".*\.[12]\.self_attn\.(q|v)_proj"#))
        XCTAssertEqual(try Adapters.attach(config, to: third, key: RandomKey(seed: 1)),
                       ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
                        "model.layers.2.self_attn.q_proj", "model.layers.2.self_attn.v_proj"])

        // A layers_pattern that names no module list selects nothing.
        config = PEFTConfig(targetModules: .names(["q_proj"]), layersToTransform: [0], layersPattern: ["blocks"])
        XCTAssertThrowsError(try Adapters.attach(config, to: ToyModel(), key: RandomKey(seed: 1)))
    }

    func testRankAndAlphaPatternsOverridePerModule() throws {
        let model = ToyModel(layers: 2)
        let config = PEFTConfig(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj"]),
                                rankPattern: ["v_proj": 2, "layers.1.self_attn.q_proj": 8], alphaPattern: ["q_proj": 32])
        try Adapters.attach(config, to: model, key: RandomKey(seed: 1))
        let ranks = Dictionary(uniqueKeysWithValues: Adapters.adaptedLayers(of: model).map { ($0.path, ($0.adapter.rank, $0.adapter.scale)) })
        XCTAssertEqual(ranks["model.layers.0.self_attn.q_proj"]?.0, 4)
        XCTAssertEqual(ranks["model.layers.0.self_attn.q_proj"]?.1, 8)
        XCTAssertEqual(ranks["model.layers.1.self_attn.q_proj"]?.0, 8)
        XCTAssertEqual(ranks["model.layers.1.self_attn.q_proj"]?.1, 4)
        XCTAssertEqual(ranks["model.layers.0.self_attn.v_proj"]?.0, 2)
        XCTAssertEqual(ranks["model.layers.0.self_attn.v_proj"]?.1, 4)
    }

    func testNoMatchErrorNamesThePatternsAndTheAvailableModules() throws {
        let model = ToyModel()
        let before = model.trainableParameterCount()
        let config = PEFTConfig(targetModules: .names(["query", "value"]))
        XCTAssertThrowsError(try Adapters.attach(config, to: model, key: RandomKey(seed: 1))) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("query") && message.contains("value"), message)
            XCTAssertTrue(message.contains("q_proj") && message.contains("down_proj") && message.contains("lm_head"), message)
        }
        XCTAssertEqual(model.trainableParameterCount(), before, "a failed attach must not freeze the model")
        XCTAssertTrue(Adapters.adaptedLayers(of: model).isEmpty)
    }

    func testRejectsUnsupportedConfigsAndDoubleAttach() throws {
        let model = ToyModel()
        var config = PEFTConfig(targetModules: .names(["q_proj"]))
        try Adapters.attach(config, to: model, key: RandomKey(seed: 1))
        XCTAssertThrowsError(try Adapters.attach(config, to: model, key: RandomKey(seed: 2))) { error in
            XCTAssertEqual(error as? PEFTError, .alreadyAdapted("model.layers.0.self_attn.q_proj"))
        }
        config.bias = "all"
        XCTAssertThrowsError(try Adapters.attach(config, to: ToyModel(), key: RandomKey(seed: 1))) { XCTAssertTrue("\($0)".contains("bias")) }
        config = PEFTConfig(loraDropout: 1, targetModules: .names(["q_proj"]))
        XCTAssertThrowsError(try Adapters.attach(config, to: ToyModel(), key: RandomKey(seed: 1))) { XCTAssertTrue("\($0)".contains("lora_dropout")) }
        config = PEFTConfig(targetModules: nil)
        XCTAssertThrowsError(try Adapters.attach(config, to: ToyModel(), key: RandomKey(seed: 1))) { XCTAssertTrue("\($0)".contains("target_modules")) }
    }

    func testRefusesOneLayerReachableUnderTwoPaths() throws {
        final class Shared: Module, @unchecked Sendable {
            let first: Linear, second: Linear
            override init() {
                let layer = Linear(4, 4, key: RandomKey(seed: 1))
                first = layer
                second = layer
                super.init()
            }
        }
        let model = Shared()
        XCTAssertThrowsError(try Adapters.attach(PEFTConfig(targetModules: .names(["first", "second"])), to: model, key: RandomKey(seed: 1))) {
            XCTAssertTrue("\($0)".contains("same layer"), "\($0)")
        }
        XCTAssertEqual(try Adapters.attach(PEFTConfig(targetModules: .names(["first"])), to: model, key: RandomKey(seed: 1)), ["first"])
    }

    func testFullFineTuningUnfreezesEverythingButRefusesQuantizedWeights() throws {
        let model = ToyModel()
        try Adapters.attach(PEFTConfig(targetModules: .names(["q_proj"])), to: model, key: RandomKey(seed: 1))
        try Adapters.enableFullFineTuning(model)
        XCTAssertEqual(model.trainableParameterCount(), model.parameterCount())

        let quantized = ToyModel(dims: 32)
        try quantized.replaceModule(at: "lm_head", with: QuantizedLinear(quantized.lmHead as! Linear, groupSize: 32, bits: 4))
        XCTAssertThrowsError(try Adapters.enableFullFineTuning(quantized)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("float weights") && message.contains("lm_head"), message)
        }
    }

    func testQuantizedWeightsCountTheirLogicalSize() throws {
        let model = ToyModel(dims: 32, layers: 1, vocab: 64)
        let floatCount = Adapters.parameterCounts(model).total
        XCTAssertEqual(floatCount, model.parameterCount())
        try model.replaceModule(at: "lm_head", with: QuantizedLinear(model.lmHead as! Linear, groupSize: 32, bits: 4))
        XCTAssertEqual(Adapters.parameterCounts(model).total, floatCount, "a 4-bit 64×32 matrix still counts 2,048 weights")
        XCTAssertEqual(Adapters.parameterCounts(model).trainable, floatCount - 64 * 32)
    }
}
