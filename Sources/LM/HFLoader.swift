import Foundation
import NN
import Tensor

/// Builds a model from a Hugging Face directory: config.json and model.safetensors or shards
/// listed in model.safetensors.index.json. Quantized checkpoints in mlx-lm's layout (a
/// "quantization" entry in config.json, `.scales`/`.biases` tensors) load as quantized layers.
enum HFLoader {
    static func load(_ dir: URL, options: LoadOptions) throws -> (any LanguageModel, ModelConfig) {
        let configURL = dir.appendingPathComponent("config.json")
        guard let configData = try? Data(contentsOf: configURL) else {
            throw ModelLoadError.notFound("\(dir.path): no config.json (is this a Hugging Face model directory?)")
        }
        let config = try ModelConfig(huggingFaceJSON: configData, path: configURL.path)
        var groupSize = 64
        if let obj = try? JSONSerialization.jsonObject(with: configData) as? [String: Any],
           let q = (obj["quantization"] ?? obj["quantization_config"]) as? [String: Any],
           let g = q["group_size"] as? Int {
            groupSize = g
        }
        var tensors: [String: Tensor] = [:]
        for file in try shardFiles(dir) {
            for (k, v) in try TensorIO.loadSafetensors(file.path).tensors { tensors[k] = v }
        }
        if config.tieWordEmbeddings { tensors.removeValue(forKey: "lm_head.weight") }
        let model = try Architectures.make(config, path: dir.path)
        try WeightLoader.apply(tensors, to: model, options: options, groupSize: { _ in groupSize }, path: dir.path)
        return (model, config)
    }

    static func shardFiles(_ dir: URL) throws -> [URL] {
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        if let data = try? Data(contentsOf: index) {
            guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = obj["weight_map"] as? [String: String] else {
                throw ModelLoadError.badConfig(index.path, "no \"weight_map\" object")
            }
            return Set(map.values).sorted().map { dir.appendingPathComponent($0) }
        }
        let single = dir.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single.path) { return [single] }
        let any = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !any.isEmpty else { throw ModelLoadError.notFound("\(dir.path): no .safetensors weights") }
        return any.map { dir.appendingPathComponent($0) }
    }
}
