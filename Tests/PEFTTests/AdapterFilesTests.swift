import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// Adapter directories in Hugging Face PEFT's format: what is written, what is read back, and
/// the errors for files that do not fit the model.
final class AdapterFilesTests: XCTestCase {
    let x = Random.normal([4, 16], key: RandomKey(seed: 31))

    func adaptedModel(_ config: PEFTConfig, seed: UInt64 = 1) throws -> ToyModel {
        let model = ToyModel(seed: seed)
        model.eval()
        try Adapters.attach(config, to: model, key: RandomKey(seed: 5))
        try randomizeAdapters(model, seed: 6)
        return model
    }

    func testRoundTripReproducesOutputsAndWritesPEFTNames() throws {
        let dir = try temporaryDirectory(self)
        let config = PEFTConfig(r: 4, loraAlpha: 16, loraDropout: 0.05, targetModules: .names(["q_proj", "v_proj"]),
                                baseModelNameOrPath: "HuggingFaceTB/SmolLM2-135M-Instruct")
        let model = try adaptedModel(config)
        let expected = model(x)
        try Adapters.save(adapterOf: model, config: config, to: dir.path)

        let (tensors, metadata) = try TensorIO.loadSafetensors(dir.appendingPathComponent("adapter_model.safetensors").path)
        XCTAssertEqual(metadata["format"], "pt")
        let keys = (0..<3).flatMap { l in
            ["q_proj", "v_proj"].flatMap { p in
                ["lora_A", "lora_B"].map { "base_model.model.model.layers.\(l).self_attn.\(p).\($0).weight" }
            }
        }
        XCTAssertEqual(Set(tensors.keys), Set(keys))
        XCTAssertEqual(tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]?.shape, [4, 16])
        XCTAssertEqual(tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]?.shape, [16, 4])

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(json["peft_type"] as? String, "LORA")
        XCTAssertEqual(json["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(json["r"] as? Int, 4)
        XCTAssertEqual(json["lora_alpha"] as? Int, 16)
        XCTAssertEqual(json["lora_dropout"] as? Double, 0.05)
        XCTAssertEqual(json["target_modules"] as? [String], ["q_proj", "v_proj"])
        XCTAssertEqual(json["inference_mode"] as? Bool, true)
        XCTAssertEqual(json["use_dora"] as? Bool, false)
        XCTAssertEqual(json["use_rslora"] as? Bool, false)
        XCTAssertEqual(json["bias"] as? String, "none")
        XCTAssertEqual(json["fan_in_fan_out"] as? Bool, false)
        XCTAssertEqual(json["base_model_name_or_path"] as? String, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertTrue(json["modules_to_save"] is NSNull)
        XCTAssertTrue(json["layers_to_transform"] is NSNull)

        let fresh = ToyModel(seed: 1)
        fresh.eval()
        let loaded = try Adapters.load(from: dir.path, into: fresh)
        XCTAssertEqual(loaded.r, 4)
        XCTAssertTrue(try arrayEqual(fresh(x), expected), "the loaded adapters must reproduce the outputs exactly")
        XCTAssertEqual(Set(fresh.trainableParameters().keys), Set(model.trainableParameters().keys))
    }

    func testDoRARoundTripStoresTheMagnitudeVector() throws {
        let dir = try temporaryDirectory(self)
        let config = PEFTConfig(r: 2, loraAlpha: 4, targetModules: .names(["down_proj"]), layersToTransform: [1], useRslora: true, useDora: true)
        let model = try adaptedModel(config)
        let expected = model(x)
        try Adapters.save(adapterOf: model, config: config, to: dir.path)
        let tensors = try TensorIO.loadSafetensors(dir.appendingPathComponent("adapter_model.safetensors").path).tensors
        XCTAssertEqual(Set(tensors.keys), ["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight",
                                           "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight",
                                           "base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector"])
        XCTAssertEqual(tensors["base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector"]?.shape, [16])

        let fresh = ToyModel(seed: 1)
        fresh.eval()
        let loaded = try Adapters.load(from: dir.path, into: fresh, trainable: false)
        XCTAssertEqual(loaded, { var c = config; c.inferenceMode = true; return c }())
        XCTAssertTrue(try arrayEqual(fresh(x), expected))
        XCTAssertEqual(fresh.trainableParameterCount(), 0, "trainable: false freezes the adapters too")
    }

    /// What Hugging Face PEFT writes (and what some tools keep): a config with PEFT's other
    /// fields, keys with the adapter name "default" still in them, the magnitude with ".weight".
    func testLoadsPEFTFilesWithAdapterNames() throws {
        let dir = try temporaryDirectory(self)
        let config = """
        {
          "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
          "bias": "none", "corda_config": null, "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false,
          "inference_mode": true, "init_lora_weights": true, "layer_replication": null, "layers_pattern": null,
          "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 8, "lora_bias": false, "lora_dropout": 0.1,
          "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA",
          "r": 2, "rank_pattern": {}, "revision": null, "target_modules": ["down_proj", "q_proj"],
          "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_dora": true, "use_rslora": false
        }
        """
        try Data(config.utf8).write(to: dir.appendingPathComponent("adapter_config.json"))
        var tensors: [String: Tensor] = [:]
        var seed: UInt64 = 40
        func draw(_ shape: [Int]) -> Tensor {
            seed += 1
            return Random.normal(shape, std: 0.2, key: RandomKey(seed: seed))
        }
        for l in 0..<3 {
            for m in ["self_attn.q_proj", "mlp.down_proj"] {
                let base = "base_model.model.model.layers.\(l).\(m)"
                tensors["\(base).lora_A.default.weight"] = draw([2, 16])
                tensors["\(base).lora_B.default.weight"] = draw([16, 2])
                tensors["\(base).lora_magnitude_vector.default.weight"] = draw([16]).abs + 0.5
            }
        }
        try TensorIO.saveSafetensors(tensors, to: dir.appendingPathComponent("adapter_model.safetensors").path)

        let model = ToyModel()
        let loaded = try Adapters.load(from: dir.path, into: model)
        XCTAssertTrue(loaded.useDora)
        XCTAssertEqual(loaded.targetModules, .names(["down_proj", "q_proj"]))
        let params = model.parameters()
        for (key, value) in tensors {
            let modelPath = key.replacingOccurrences(of: "base_model.model.", with: "")
                .replacingOccurrences(of: ".default.weight", with: "")
                .replacingOccurrences(of: "lora_magnitude_vector", with: "adapter.lora_magnitude_vector")
                .replacingOccurrences(of: "lora_A", with: "adapter.lora_A").replacingOccurrences(of: "lora_B", with: "adapter.lora_B")
            XCTAssertTrue(try arrayEqual(params[modelPath]!, value), "\(key) → \(modelPath)")
        }
        let dora = Adapters.adaptedLayers(of: model).first!.adapter as! DoRA
        XCTAssertEqual(dora.dropout?.p, 0.1)
    }

    func testMissingUnexpectedAndMisshapenKeysAreNamed() throws {
        let dir = try temporaryDirectory(self)
        let config = PEFTConfig(r: 4, targetModules: .names(["v_proj"]))
        try Adapters.save(adapterOf: try adaptedModel(config), config: config, to: dir.path)
        let file = dir.appendingPathComponent("adapter_model.safetensors").path
        let good = try TensorIO.loadSafetensors(file).tensors

        func expectFailure(_ tensors: [String: Tensor], _ check: (PEFTError) -> Void) throws {
            try TensorIO.saveSafetensors(tensors, to: file)
            let model = ToyModel()
            let count = model.trainableParameterCount()
            XCTAssertThrowsError(try Adapters.load(from: dir.path, into: model)) { error in
                guard let e = error as? PEFTError else { return XCTFail("\(error)") }
                check(e)
                XCTAssertTrue("\(e)".contains(file), "\(e)")
            }
            XCTAssertTrue(Adapters.adaptedLayers(of: model).isEmpty, "a failed load must leave the model untouched")
            XCTAssertEqual(model.trainableParameterCount(), count)
        }

        let missing = "base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight"
        var tensors = good
        tensors[missing] = nil
        try expectFailure(tensors) { XCTAssertEqual($0, .missingKey(missing, file: file)) }

        tensors = good
        tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = Tensor.zeros([4, 16])
        try expectFailure(tensors) {
            XCTAssertEqual($0, .unexpectedKey("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", file: file))
        }

        tensors = good
        tensors["base_model.model.model.layers.0.self_attn.v_proj.lora_embedding_A"] = Tensor.zeros([4, 16])
        try expectFailure(tensors) {
            XCTAssertEqual($0, .unexpectedKey("base_model.model.model.layers.0.self_attn.v_proj.lora_embedding_A", file: file))
        }

        tensors = good
        let key = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"
        tensors[key] = Tensor.zeros([8, 16])
        try expectFailure(tensors) { XCTAssertEqual($0, .shapeMismatch(key, file: file, expected: [4, 16], got: [8, 16])) }
    }

    func testBadConfigFilesAreNamed() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("adapter_config.json").path
        XCTAssertThrowsError(try Adapters.load(from: dir.path, into: ToyModel())) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
        try Data(#"{"peft_type": "LORA", "r": "eight"}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Adapters.load(from: dir.path, into: ToyModel())) { XCTAssertTrue("\($0)".contains("adapter_config.json: r:"), "\($0)") }
        try Data(#"{"peft_type": "IA3", "target_modules": ["q_proj"]}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Adapters.load(from: dir.path, into: ToyModel())) { XCTAssertTrue("\($0)".contains("IA3"), "\($0)") }
        // Fields that change what the adapter computes are refused rather than ignored.
        try Data(#"{"target_modules": ["q_proj"], "lora_bias": true}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Adapters.load(from: dir.path, into: ToyModel())) { XCTAssertTrue("\($0)".contains("lora_bias"), "\($0)") }
        try Data(#"{"target_modules": ["q_proj"], "init_lora_weights": "pissa"}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Adapters.load(from: dir.path, into: ToyModel())) { XCTAssertTrue("\($0)".contains("pissa"), "\($0)") }
    }

    func testSaveRefusesAConfigThatDoesNotDescribeTheAdapters() throws {
        let dir = try temporaryDirectory(self)
        let model = try adaptedModel(PEFTConfig(r: 4, targetModules: .names(["q_proj"])))
        XCTAssertThrowsError(try Adapters.save(adapterOf: model, config: PEFTConfig(r: 4, targetModules: .names(["v_proj"])), to: dir.path))
        XCTAssertThrowsError(try Adapters.save(adapterOf: model, config: PEFTConfig(r: 8, targetModules: .names(["q_proj"])), to: dir.path))
        XCTAssertThrowsError(try Adapters.save(adapterOf: model, config: PEFTConfig(r: 4, targetModules: .names(["q_proj"]), useDora: true), to: dir.path))
        XCTAssertThrowsError(try Adapters.save(adapterOf: ToyModel(), config: PEFTConfig(r: 4, targetModules: .names(["q_proj"])), to: dir.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter_config.json").path))
    }

    func testConfigJSONRoundTrip() throws {
        let config = PEFTConfig(r: 16, loraAlpha: 12.5, loraDropout: 0.1, targetModules: .regex(".*proj"),
                                excludeModules: .names(["lm_head"]), layersToTransform: [1, 3], layersPattern: ["layers"],
                                rankPattern: ["q_proj": 8], alphaPattern: ["v_proj": 4], useRslora: true, useDora: true,
                                initLoraWeights: .gaussian)
        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try JSONDecoder().decode(PEFTConfig.self, from: data), config)
        // PEFT also writes a single layer index and a single pattern as scalars.
        let scalar = try JSONDecoder().decode(PEFTConfig.self, from: Data(#"{"target_modules": "all-linear", "layers_to_transform": 2, "layers_pattern": "h", "init_lora_weights": false}"#.utf8))
        XCTAssertEqual(scalar.targetModules, .allLinear)
        XCTAssertEqual(scalar.layersToTransform, [2])
        XCTAssertEqual(scalar.layersPattern, ["h"])
        XCTAssertEqual(scalar.initLoraWeights, .random)
        XCTAssertEqual(scalar.r, 8)
    }
}
