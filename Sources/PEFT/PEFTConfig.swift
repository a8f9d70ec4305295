import Foundation

/// A LoRA/DoRA configuration with the fields and JSON names of Hugging Face PEFT's `LoraConfig`,
/// so that `adapter_config.json` files go both ways. DoRA is LoRA with `useDora`.
/// Fields of PEFT's config that this implementation does not act on are ignored when read.
public struct PEFTConfig: Codable, Equatable, Sendable {
    /// "LORA" (the only type this implementation attaches).
    public var peftType: String
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    /// PEFT writes `true` into saved configs; loaded adapters start frozen when it is set unless
    /// the caller asks to keep training.
    public var inferenceMode: Bool
    /// The rank of the update B·A.
    public var r: Int
    public var loraAlpha: Double
    /// Dropout on the adapter's input while training.
    public var loraDropout: Double
    /// Which layers get adapters; nil is an error (PEFT would guess from the model type).
    public var targetModules: TargetModules?
    /// Layers to leave alone even when `targetModules` matches them.
    public var excludeModules: TargetModules?
    /// Only layers whose index (the number after `layers.` in the path) is listed.
    public var layersToTransform: [Int]?
    /// Names of the module list that holds the layers (default: the first numbered component).
    public var layersPattern: [String]?
    /// Per-module ranks and alphas, keyed by a regex matched against the end of the module path.
    public var rankPattern: [String: Int]
    public var alphaPattern: [String: Double]
    /// Rank-stabilised scaling alpha/√r (Kalajdzievski 2023) instead of alpha/r.
    public var useRslora: Bool
    /// Weight-decomposed LoRA (Liu et al. 2024): a learned magnitude per output feature.
    public var useDora: Bool
    /// "none": biases are not trained (the only mode supported).
    public var bias: String
    /// True only for GPT-2's Conv1D weights stored [in, out]; not supported.
    public var fanInFanOut: Bool
    /// Whole modules trained and saved beside the adapters; not supported.
    public var modulesToSave: [String]?
    public var initLoraWeights: LoRAInitialization

    public init(r: Int = 8, loraAlpha: Double = 8, loraDropout: Double = 0, targetModules: TargetModules?,
                excludeModules: TargetModules? = nil, layersToTransform: [Int]? = nil, layersPattern: [String]? = nil,
                rankPattern: [String: Int] = [:], alphaPattern: [String: Double] = [:],
                useRslora: Bool = false, useDora: Bool = false, initLoraWeights: LoRAInitialization = .standard,
                taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.peftType = "LORA"
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.revision = nil
        self.inferenceMode = inferenceMode
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.targetModules = targetModules
        self.excludeModules = excludeModules
        self.layersToTransform = layersToTransform
        self.layersPattern = layersPattern
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.useRslora = useRslora
        self.useDora = useDora
        self.bias = "none"
        self.fanInFanOut = false
        self.modulesToSave = nil
        self.initLoraWeights = initLoraWeights
    }

    /// Which modules to adapt: PEFT's `target_modules` (a list of names, a regex, or "all-linear").
    public enum TargetModules: Codable, Equatable, Sendable {
        /// A module matches when its path equals a name or ends with "." + name.
        case names([String])
        /// A regex the whole module path must match.
        case regex(String)
        /// Every linear layer except the output head (`lm_head`).
        case allLinear

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                self = s == "all-linear" ? .allLinear : .regex(s)
            } else {
                self = .names(try c.decode([String].self))
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .names(let names): try c.encode(names)
            case .regex(let pattern): try c.encode(pattern)
            case .allLinear: try c.encode("all-linear")
            }
        }

        var summary: String {
            switch self {
            case .names(let names): "[\(names.joined(separator: ", "))]"
            case .regex(let pattern): "regex \"\(pattern)\""
            case .allLinear: "\"all-linear\""
            }
        }
    }

    /// PEFT's `init_lora_weights`: true (Kaiming-uniform A, zero B), "gaussian" (A ~ N(0, 1/r),
    /// zero B) or false (both random: the adapter changes the output from the start; for tests).
    public enum LoRAInitialization: Codable, Equatable, Sendable {
        case standard, gaussian, random

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = b ? .standard : .random
                return
            }
            let s = try c.decode(String.self)
            guard s.lowercased() == "gaussian" else {
                throw DecodingError.dataCorruptedError(
                    in: c, debugDescription: "init_lora_weights \"\(s)\" is not supported (true, false or \"gaussian\")")
            }
            self = .gaussian
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .standard: try c.encode(true)
            case .gaussian: try c.encode("gaussian")
            case .random: try c.encode(false)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", taskType = "task_type", baseModelNameOrPath = "base_model_name_or_path"
        case revision, inferenceMode = "inference_mode", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
        case targetModules = "target_modules", excludeModules = "exclude_modules"
        case layersToTransform = "layers_to_transform", layersPattern = "layers_pattern"
        case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern", useRslora = "use_rslora", useDora = "use_dora"
        case bias, fanInFanOut = "fan_in_fan_out", modulesToSave = "modules_to_save", initLoraWeights = "init_lora_weights"
    }

    /// PEFT fields that change what an adapter computes or which tensors it has; a file that sets
    /// them cannot be reproduced here, so reading it fails instead of loading something else.
    enum UnsupportedKeys: String, CodingKey, CaseIterable {
        case loraBias = "lora_bias", useQalora = "use_qalora", layerReplication = "layer_replication"
        case targetParameters = "target_parameters", trainableTokenIndices = "trainable_token_indices"
        case aloraInvocationTokens = "alora_invocation_tokens"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        revision = try c.decodeIfPresent(String.self, forKey: .revision)
        inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? false
        r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? 0
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules)
        excludeModules = try c.decodeIfPresent(TargetModules.self, forKey: .excludeModules)
        // PEFT accepts a single index or a list, and a single pattern or a list.
        if let one = try? c.decodeIfPresent(Int.self, forKey: .layersToTransform) {
            layersToTransform = [one]
        } else {
            layersToTransform = try c.decodeIfPresent([Int].self, forKey: .layersToTransform)
        }
        if let one = try? c.decodeIfPresent(String.self, forKey: .layersPattern) {
            layersPattern = [one]
        } else {
            layersPattern = try c.decodeIfPresent([String].self, forKey: .layersPattern)
        }
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern) ?? [:]
        useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? false
        useDora = try c.decodeIfPresent(Bool.self, forKey: .useDora) ?? false
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
        initLoraWeights = try c.decodeIfPresent(LoRAInitialization.self, forKey: .initLoraWeights) ?? .standard

        let other = try decoder.container(keyedBy: UnsupportedKeys.self)
        for key in UnsupportedKeys.allCases where other.contains(key) {
            // null, false and empty values are PEFT's defaults and harmless.
            if try other.decodeNil(forKey: key) { continue }
            if let flag = try? other.decode(Bool.self, forKey: key), !flag { continue }
            if let list = try? other.decode([Int].self, forKey: key), list.isEmpty { continue }
            if let list = try? other.decode([String].self, forKey: key), list.isEmpty { continue }
            throw PEFTError.unsupportedConfig("\(key.rawValue) is set; this implementation does not support it")
        }
    }

    /// Writes every field, absent ones as null, as PEFT's `save_pretrained` does.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try encodeOrNull(&c, taskType, .taskType)
        try encodeOrNull(&c, baseModelNameOrPath, .baseModelNameOrPath)
        try encodeOrNull(&c, revision, .revision)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(r, forKey: .r)
        // PEFT declares lora_alpha an int; write integral values without a fraction.
        if loraAlpha.rounded() == loraAlpha, Swift.abs(loraAlpha) < 1e15 {
            try c.encode(Int(loraAlpha), forKey: .loraAlpha)
        } else {
            try c.encode(loraAlpha, forKey: .loraAlpha)
        }
        try c.encode(loraDropout, forKey: .loraDropout)
        try encodeOrNull(&c, targetModules, .targetModules)
        try encodeOrNull(&c, excludeModules, .excludeModules)
        try encodeOrNull(&c, layersToTransform, .layersToTransform)
        try encodeOrNull(&c, layersPattern, .layersPattern)
        try c.encode(rankPattern, forKey: .rankPattern)
        try c.encode(alphaPattern, forKey: .alphaPattern)
        try c.encode(useRslora, forKey: .useRslora)
        try c.encode(useDora, forKey: .useDora)
        try c.encode(bias, forKey: .bias)
        try c.encode(fanInFanOut, forKey: .fanInFanOut)
        try encodeOrNull(&c, modulesToSave, .modulesToSave)
        try c.encode(initLoraWeights, forKey: .initLoraWeights)
    }

    private func encodeOrNull<T: Encodable>(_ c: inout KeyedEncodingContainer<CodingKeys>, _ value: T?, _ key: CodingKeys) throws {
        if let value { try c.encode(value, forKey: key) } else { try c.encodeNil(forKey: key) }
    }

    /// The scaling of B·A for a layer of rank `r` and alpha `alpha`.
    public func scale(rank r: Int, alpha: Double) -> Double {
        useRslora ? alpha / Double(r).squareRoot() : alpha / Double(r)
    }

    /// Rejects what this implementation would otherwise get silently wrong.
    public func validate() throws {
        guard peftType.uppercased() == "LORA" else {
            throw PEFTError.unsupportedConfig("peft_type \"\(peftType)\" (only LORA, with use_dora for DoRA)")
        }
        guard r > 0 else { throw PEFTError.unsupportedConfig("r must be positive, got \(r)") }
        if let bad = rankPattern.first(where: { $0.value <= 0 }) {
            throw PEFTError.unsupportedConfig("rank_pattern[\"\(bad.key)\"] must be positive, got \(bad.value)")
        }
        guard loraDropout >= 0, loraDropout < 1 else {
            throw PEFTError.unsupportedConfig("lora_dropout must be in [0, 1), got \(loraDropout)")
        }
        guard targetModules != nil else {
            throw PEFTError.unsupportedConfig("target_modules is not set (e.g. [\"q_proj\", \"v_proj\"] or \"all-linear\")")
        }
        guard bias == "none" else {
            throw PEFTError.unsupportedConfig("bias \"\(bias)\" (only \"none\": biases stay frozen)")
        }
        guard !fanInFanOut else {
            throw PEFTError.unsupportedConfig("fan_in_fan_out (weights stored [in, out], as GPT-2's Conv1D) is not supported")
        }
        if let m = modulesToSave, !m.isEmpty {
            throw PEFTError.unsupportedConfig("modules_to_save \(m) (whole trainable modules beside the adapters) is not supported")
        }
    }
}
