import Foundation
import GGUF
import NN
import Tensor
import Tokenizers

/// Writes a model as a Hugging Face directory: config.json, model.safetensors (float weights,
/// HF tensor names), generation_config.json, and the tokenizer files (tokenizer.json,
/// tokenizer_config.json with the chat template). Files are written atomically.
public enum HFExport {
    public static func save(_ loaded: LoadedModel, to dir: URL, dtype: DType = .float32) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (path, module) in loaded.model.modules() {
            switch module {
            case let q as QuantizedLinear:
                tensors["\(path).weight"] = q.denseWeight().asType(dtype)
                if let b = q.bias?.value { tensors["\(path).bias"] = b.asType(dtype) }
            case let q as QuantizedEmbedding:
                tensors["\(path).weight"] = q.quantized.dequantized(dtype: dtype)
            default:
                for (name, p) in module.items().parameters {
                    tensors[path.isEmpty ? name : "\(path).\(name)"] = p.value.asType(dtype)
                }
            }
        }
        if let adapted = tensors.keys.first(where: { $0.contains("lora_") }) {
            throw ModelLoadError.unsupported("the model still has adapters (\(adapted)); merge them before exporting")
        }
        try TensorIO.saveSafetensors(tensors, to: dir.appendingPathComponent("model.safetensors").path, metadata: ["format": "pt"])
        var config = loaded.config
        config.ropeTraditional = false
        try writeAtomically(try config.huggingFaceJSON(), to: dir.appendingPathComponent("config.json").path)
        var generation: [String: Any] = [:]
        if let b = config.bosTokenId ?? loaded.tokenizer.bosTokenId { generation["bos_token_id"] = b }
        let eos = Array(loaded.stopTokenIds).sorted()
        if !eos.isEmpty { generation["eos_token_id"] = eos.count == 1 ? eos[0] : eos }
        if let p = loaded.tokenizer.padTokenId { generation["pad_token_id"] = p }
        try writeAtomically(try JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys]),
                            to: dir.appendingPathComponent("generation_config.json").path)
        try saveTokenizer(loaded, to: dir)
    }

    /// Tokenizer files: copied when the model came as an HF directory, generated otherwise.
    static func saveTokenizer(_ loaded: LoadedModel, to dir: URL) throws {
        let fm = FileManager.default
        if loaded.format == .huggingFace {
            for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
                let src = loaded.source.appendingPathComponent(name)
                guard fm.fileExists(atPath: src.path) else { continue }
                try writeAtomically(try Data(contentsOf: src), to: dir.appendingPathComponent(name).path)
            }
            return
        }
        let gguf = try GGUFFile(path: loaded.source.path, validateTensorData: false)
        let files = try GGUFTokenizerExport.files(gguf, chatTemplate: loaded.chatTemplate, maxLength: loaded.config.maxPositionEmbeddings)
        for (name, data) in files { try writeAtomically(data, to: dir.appendingPathComponent(name).path) }
    }
}
