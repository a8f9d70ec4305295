import Foundation
import GGUF
import NN
import Tensor

/// Builds a model from a GGUF file: hyperparameters from its metadata, tensors renamed to
/// Hugging Face names, q/k projections of Llama-architecture files un-permuted back to the
/// half-rotation RoPE layout (llama.cpp's converter interleaves them), so adapters trained here
/// are valid on the HF checkpoint too.
enum GGUFLoader {
    static func config(_ f: GGUFFile) throws -> ModelConfig {
        guard let arch = f.architecture else { throw ModelLoadError.badConfig(f.path, "no general.architecture") }
        guard Architectures.supported.contains(arch) else { throw ModelLoadError.unknownArchitecture(arch, path: f.path) }
        func int(_ k: String) throws -> Int { try f.int("\(arch).\(k)") }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let vocab = try f.intIfPresent("\(arch).vocab_size") ?? f.stringArray("tokenizer.ggml.tokens").count
        let eps = try f.floatIfPresent("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5
        var eos: [Int] = []
        if let e = try f.intIfPresent("tokenizer.ggml.eos_token_id") { eos.append(e) }
        var scaling: ModelConfig.RopeScaling?
        if let type = try f.stringIfPresent("\(arch).rope.scaling.type"), type != "none",
           let factor = try f.floatIfPresent("\(arch).rope.scaling.factor") {
            scaling = .init(type: type, factor: factor, lowFreqFactor: nil, highFreqFactor: nil,
                            originalMaxPositionEmbeddings: try f.intIfPresent("\(arch).rope.scaling.original_context_length"))
        }
        return ModelConfig(
            modelType: arch, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
            numHiddenLayers: try int("block_count"), numAttentionHeads: heads,
            numKeyValueHeads: try f.intIfPresent("\(arch).attention.head_count_kv") ?? heads,
            headDim: try f.intIfPresent("\(arch).attention.key_length") ?? hidden / heads,
            vocabSize: vocab, rmsNormEps: Double(Float(eps)),
            ropeTheta: try f.floatIfPresent("\(arch).rope.freq_base") ?? 10000, ropeScaling: scaling,
            tieWordEmbeddings: f.tensor(named: "output.weight") == nil,
            attentionBias: f.tensor(named: "blk.0.attn_q.bias") != nil,
            qkNorm: f.tensor(named: "blk.0.attn_q_norm.weight") != nil,
            maxPositionEmbeddings: try f.intIfPresent("\(arch).context_length") ?? 4096,
            bosTokenId: try f.intIfPresent("tokenizer.ggml.bos_token_id"), eosTokenIds: eos)
    }

    static let blockNames: [String: String] = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]

    /// "blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight".
    static func huggingFaceName(_ name: String) -> String? {
        let parts = name.split(separator: ".").map(String.init)
        guard let suffix = parts.last else { return nil }
        switch parts.first {
        case "token_embd": return "model.embed_tokens.\(suffix)"
        case "output_norm": return "model.norm.\(suffix)"
        case "output": return "lm_head.\(suffix)"
        case "blk":
            guard parts.count == 4, let mapped = blockNames[parts[2]] else { return nil }
            return "model.layers.\(parts[1]).\(mapped).\(suffix)"
        default: return nil
        }
    }

    static func load(_ path: String, options: LoadOptions) throws -> (any LanguageModel, GGUFFile) {
        let file = try GGUFFile(path: path)
        var config = try config(file)
        let mlxNative: Set<GGMLType> = [.f32, .f16, .bf16, .q4_0, .q4_1, .q8_0]
        var raw: [String: Tensor]
        if file.tensors.allSatisfy({ mlxNative.contains($0.type) }) {
            raw = try TensorIO.loadGGUF(path)
        } else {
            raw = try dequantizeAll(file, dtype: options.dtype)
        }
        var tensors: [String: Tensor] = [:]
        for (name, t) in raw {
            // MLX names the parts of a quantized tensor "x.weight", "x.scales", "x.biases".
            guard let hf = huggingFaceName(name) else {
                if name == "rope_freqs.weight" { continue }
                throw ModelLoadError.unsupported("\(path): unexpected tensor \(name)")
            }
            tensors[hf] = t
        }
        if file.architecture == "llama" {
            for l in 0..<config.numHiddenLayers {
                for (proj, heads) in [("q_proj", config.numAttentionHeads), ("k_proj", config.numKeyValueHeads)] {
                    for part in ["weight", "scales", "biases"] {
                        let key = "model.layers.\(l).self_attn.\(proj).\(part)"
                        if let t = tensors[key] { tensors[key] = unpermuteRows(t, heads: heads) }
                    }
                }
            }
        }
        config.ropeTraditional = false
        let model = try Architectures.make(config, path: path)
        try WeightLoader.apply(tensors, to: model, options: options, groupSize: { _ in 32 }, path: path)
        return (model, file)
    }

    /// Inverse of llama.cpp's permute, which reorders each head's rows from (2, half) to
    /// (half, 2) so interleaved RoPE computes half-rotation RoPE; this restores (2, half).
    static func unpermuteRows(_ w: Tensor, heads: Int) -> Tensor {
        let rows = w.dim(0)
        return w.reshaped(heads, rows / heads / 2, 2, -1).swappedAxes(1, 2).reshaped(rows, -1)
    }

    /// Reads tensors MLX cannot (K-quants and friends) with our own GGML kernels, as floats.
    static func dequantizeAll(_ file: GGUFFile, dtype: DType) throws -> [String: Tensor] {
        let data = try Data(contentsOf: URL(fileURLWithPath: file.path), options: .alwaysMapped)
        var out: [String: Tensor] = [:]
        try data.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
            for t in file.tensors {
                let slice = UnsafeRawBufferPointer(rebasing: all[t.absoluteOffset..<(t.absoluteOffset + t.byteCount)])
                let target: DType = t.type == .f32 ? .float32 : dtype
                out[t.name] = try GGML.dequantize(slice, type: t.type.rawValue, shape: t.shape, dtype: target)
            }
        }
        return out
    }
}
