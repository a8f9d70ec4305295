import Foundation
import NN
import Tensor

extension Adapters {
    /// Reads a PEFT adapter directory (ours or one written by Hugging Face PEFT), attaches fresh
    /// adapters to `model` as its config says, and fills them with the saved tensors.
    ///
    /// Every key is checked before the model is touched: a tensor that no adapter takes, a missing
    /// one or a wrong shape fails with an error naming the key and the file, and the model is left
    /// as it was.
    ///
    /// - Parameters:
    ///   - trainable: leave the adapters trainable (to go on training) or freeze them too (inference).
    ///   - key: seeds the adapters' dropout masks.
    /// - Returns: the adapter's config.
    @discardableResult
    public static func load(from directory: String, into model: Module, trainable: Bool = true,
                            dtype: DType = .float32, key: RandomKey = RandomKey(seed: 0)) throws -> PEFTConfig {
        let dir = URL(fileURLWithPath: directory)
        let config = try readConfig(dir.appendingPathComponent(configFileName).path)
        try config.validate()
        let file = dir.appendingPathComponent(weightsFileName).path
        if !FileManager.default.fileExists(atPath: file),
           FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter_model.bin").path) {
            throw PEFTError.badConfigFile(path: dir.appendingPathComponent("adapter_model.bin").path,
                                          reason: "PyTorch pickle adapters are not read; save the adapter with safe_serialization=True (safetensors)")
        }
        let stored = try TensorIO.loadSafetensors(file).tensors

        // Which layers the config adapts and what each must receive.
        let selector = try TargetSelector(config)
        let layers = linearLayers(of: model).filter { selector.selects($0.path) }
        guard !layers.isEmpty else {
            throw PEFTError.noTargetModules(selection: describe(config), available: examples(linearLayers(of: model).map(\.path)))
        }
        var expected: [String: (shape: [Int], target: String)] = [:]
        for (path, layer) in layers {
            let r = selector.rank(path)
            expected[fileKey(modulePath: path, suffix: "lora_A.weight")] = ([r, layer.inputDimensions], "\(path).adapter.lora_A")
            expected[fileKey(modulePath: path, suffix: "lora_B.weight")] = ([layer.outputDimensions, r], "\(path).adapter.lora_B")
            if config.useDora {
                expected[fileKey(modulePath: path, suffix: "lora_magnitude_vector")] = ([layer.outputDimensions], "\(path).adapter.lora_magnitude_vector")
            }
        }

        var updates: [String: Tensor] = [:]
        var seen: [String: String] = [:]
        for name in stored.keys.sorted() {
            guard let (path, suffix) = parseFileKey(name) else { throw PEFTError.unexpectedKey(name, file: file) }
            let canonical = fileKey(modulePath: path, suffix: suffix)
            guard let want = expected[canonical] else { throw PEFTError.unexpectedKey(name, file: file) }
            if let earlier = seen[canonical] {
                throw PEFTError.badConfigFile(path: file, reason: "tensors \(earlier) and \(name) both hold \(canonical) (several adapters in one file?)")
            }
            seen[canonical] = name
            let t = stored[name]!
            guard t.shape == want.shape else { throw PEFTError.shapeMismatch(name, file: file, expected: want.shape, got: t.shape) }
            guard t.dtype.isFloatingPoint else {
                throw PEFTError.badConfigFile(path: file, reason: "tensor \(name) has dtype \(t.dtype), expected a float type")
            }
            updates[want.target] = t.asType(dtype)
        }
        if let missing = expected.keys.sorted().first(where: { seen[$0] == nil }) {
            throw PEFTError.missingKey(missing, file: file)
        }

        try attach(config, to: model, key: key, dtype: dtype)
        try model.update(parameters: updates)
        if !trainable {
            for (_, _, adapter) in adaptedLayers(of: model) { adapter.freeze() }
        }
        try eval(Array(updates.values))
        return config
    }

    /// Decodes adapter_config.json, naming the file in every error.
    static func readConfig(_ path: String) throws -> PEFTConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PEFTError.badConfigFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
        do {
            return try JSONDecoder().decode(PEFTConfig.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw PEFTError.badConfigFile(path: path, reason: "invalid JSON or value: \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw PEFTError.badConfigFile(path: path, reason: "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch {
            throw PEFTError.badConfigFile(path: path, reason: "\(error)")
        }
    }
}
