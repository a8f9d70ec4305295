import Foundation

/// Hyperparameters of a decoder-only transformer, named as Hugging Face `config.json` names them.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var vocabSize: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tieWordEmbeddings: Bool
    /// Biases on the q/k/v projections (Qwen2).
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// RMSNorm on queries and keys per head (Qwen3, Gemma 3).
    public var qkNorm: Bool
    public var maxPositionEmbeddings: Int
    /// Rotate interleaved pairs (GGUF Llama layout) instead of halves (HF layout).
    public var ropeTraditional: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]

    public struct RopeScaling: Codable, Sendable, Equatable {
        public var type: String
        public var factor: Double
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?
    }

    public init(modelType: String, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil, vocabSize: Int,
                rmsNormEps: Double = 1e-5, ropeTheta: Double = 10000, ropeScaling: RopeScaling? = nil,
                tieWordEmbeddings: Bool = false, attentionBias: Bool = false, mlpBias: Bool = false,
                qkNorm: Bool = false, maxPositionEmbeddings: Int = 4096, ropeTraditional: Bool = false,
                bosTokenId: Int? = nil, eosTokenIds: [Int] = []) {
        self.modelType = modelType
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? hiddenSize / numAttentionHeads
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.qkNorm = qkNorm
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.ropeTraditional = ropeTraditional
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
    }

    /// Reads a Hugging Face config.json; unknown keys are ignored, missing required ones named.
    public init(huggingFaceJSON data: Data, path: String = "config.json") throws {
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelLoadError.badConfig(path, "not a JSON object")
        }
        // Multimodal wrappers (Gemma 3, Qwen-VL) nest the language model's settings.
        let c = (obj["text_config"] as? [String: Any]).map { obj.merging($0) { _, t in t } } ?? obj
        func int(_ k: String) throws -> Int {
            guard let v = c[k] as? NSNumber else { throw ModelLoadError.badConfig(path, "missing integer field \"\(k)\"") }
            return v.intValue
        }
        func double(_ k: String, _ d: Double) -> Double { (c[k] as? NSNumber)?.doubleValue ?? d }
        func bool(_ k: String, _ d: Bool) -> Bool { (c[k] as? NSNumber)?.boolValue ?? d }
        guard let type = c["model_type"] as? String else { throw ModelLoadError.badConfig(path, "missing \"model_type\"") }
        var scaling: RopeScaling?
        if let rs = c["rope_scaling"] as? [String: Any] {
            let t = (rs["rope_type"] as? String) ?? (rs["type"] as? String) ?? "default"
            if t != "default" {
                scaling = RopeScaling(type: t, factor: (rs["factor"] as? NSNumber)?.doubleValue ?? 1,
                                      lowFreqFactor: (rs["low_freq_factor"] as? NSNumber)?.doubleValue,
                                      highFreqFactor: (rs["high_freq_factor"] as? NSNumber)?.doubleValue,
                                      originalMaxPositionEmbeddings: (rs["original_max_position_embeddings"] as? NSNumber)?.intValue)
            }
        }
        var eos: [Int] = []
        if let e = c["eos_token_id"] as? NSNumber { eos = [e.intValue] }
        if let e = c["eos_token_id"] as? [NSNumber] { eos = e.map(\.intValue) }
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        self.init(modelType: type, hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
                  numHiddenLayers: try int("num_hidden_layers"), numAttentionHeads: heads,
                  numKeyValueHeads: (c["num_key_value_heads"] as? NSNumber)?.intValue ?? heads,
                  headDim: (c["head_dim"] as? NSNumber)?.intValue ?? hidden / heads,
                  vocabSize: try int("vocab_size"), rmsNormEps: double("rms_norm_eps", 1e-6),
                  ropeTheta: double("rope_theta", 10000), ropeScaling: scaling,
                  tieWordEmbeddings: bool("tie_word_embeddings", type.hasPrefix("gemma")),
                  attentionBias: bool("attention_bias", type == "qwen2"), mlpBias: bool("mlp_bias", false),
                  qkNorm: type == "qwen3" || type.hasPrefix("gemma3"),
                  maxPositionEmbeddings: (c["max_position_embeddings"] as? NSNumber)?.intValue ?? 4096,
                  bosTokenId: (c["bos_token_id"] as? NSNumber)?.intValue, eosTokenIds: eos)
    }

    /// The config.json that Hugging Face tools expect for this model.
    public func huggingFaceJSON() throws -> Data {
        let archName: String = switch modelType {
        case "qwen2": "Qwen2ForCausalLM"
        case "qwen3": "Qwen3ForCausalLM"
        case "mistral": "MistralForCausalLM"
        default: "LlamaForCausalLM"
        }
        var d: [String: Any] = [
            "architectures": [archName], "model_type": modelType, "hidden_size": hiddenSize,
            "intermediate_size": intermediateSize, "num_hidden_layers": numHiddenLayers,
            "num_attention_heads": numAttentionHeads, "num_key_value_heads": numKeyValueHeads,
            "head_dim": headDim, "vocab_size": vocabSize, "rms_norm_eps": rmsNormEps, "rope_theta": ropeTheta,
            "tie_word_embeddings": tieWordEmbeddings, "attention_bias": attentionBias, "mlp_bias": mlpBias,
            "max_position_embeddings": maxPositionEmbeddings, "hidden_act": "silu", "torch_dtype": "float32",
        ]
        if let b = bosTokenId { d["bos_token_id"] = b }
        if eosTokenIds.count == 1 { d["eos_token_id"] = eosTokenIds[0] } else if !eosTokenIds.isEmpty { d["eos_token_id"] = eosTokenIds }
        if let s = ropeScaling {
            var r: [String: Any] = ["rope_type": s.type, "factor": s.factor]
            if let v = s.lowFreqFactor { r["low_freq_factor"] = v }
            if let v = s.highFreqFactor { r["high_freq_factor"] = v }
            if let v = s.originalMaxPositionEmbeddings { r["original_max_position_embeddings"] = v }
            d["rope_scaling"] = r
        }
        return try JSONSerialization.data(withJSONObject: d, options: [.prettyPrinted, .sortedKeys])
    }
}

public enum ModelLoadError: Error, CustomStringConvertible {
    case badConfig(String, String)
    case unknownArchitecture(String, path: String)
    case missingTensor(String, path: String)
    case shapeMismatch(String, expected: [Int], got: [Int], path: String)
    case unsupported(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .badConfig(let p, let m): "\(p): \(m)"
        case .unknownArchitecture(let a, let p): "\(p): unknown architecture \"\(a)\" (supported: \(Architectures.supported.joined(separator: ", ")))"
        case .missingTensor(let t, let p): "\(p): missing tensor \(t)"
        case .shapeMismatch(let t, let e, let g, let p): "\(p): tensor \(t) has shape \(g), the model expects \(e)"
        case .unsupported(let m): m
        case .notFound(let m): m
        }
    }
}
