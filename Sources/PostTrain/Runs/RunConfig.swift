import Foundation
import Yams

/// Settings common to every training command (`sft`, `dpo`, `rm`, ...): a YAML file gives them,
/// flags override them. Keys are snake_case in YAML (`learning_rate`), as in TRL and LLaMA-Factory.
public struct RunConfig: Codable, Sendable, Equatable {
    public var model: String?
    /// Training data: one path, or several sources with weights and caps.
    public var train: [DataSource] = []
    public var valid: [DataSource] = []
    /// Held-out fraction of the training data when no validation file is given.
    public var validationFraction: Double = 0.05
    public var output: String = "runs/latest"
    /// lora, qlora, dora or full.
    public var peft: PEFTMethod = .lora
    public var rank: Int = 8
    public var alpha: Double?
    public var dropout: Double = 0
    public var targetModules: [String] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    /// Adapt only the last N layers (0: all).
    public var numLayers: Int = 0
    /// Start from an existing adapter (PEFT format).
    public var adapter: String?
    public var maxLength: Int = 1024
    public var batchSize: Int = 4
    public var packing: Bool = false
    public var loss: LossScope = .completion
    public var badRows: BadRowPolicy = .fail
    /// Recompute activations in the backward pass to save memory.
    public var gradientCheckpointing: Bool = false
    public var training = TrainingConfig()

    public enum PEFTMethod: String, Codable, Sendable { case lora, qlora, dora, full }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, train, valid, validationFraction, output, peft, rank, alpha, dropout, targetModules, numLayers
        case adapter, maxLength, batchSize, packing, loss, badRows, gradientCheckpointing, training
    }

    /// Reads a YAML (or JSON) config. Training-loop fields may sit at the top level
    /// (`learning_rate: 1e-4`) or under `training:`; a data entry may be a path or a mapping.
    public static func load(_ path: String) throws -> RunConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError(file: path, "cannot read the config file")
        }
        let raw: Any?
        do { raw = try Yams.load(yaml: text) } catch { throw DataError(file: path, "invalid YAML: \(error)") }
        guard var dict = raw as? [String: Any] else { throw DataError(file: path, "expected a mapping of settings") }
        dict.removeValue(forKey: "dpo")
        dict.removeValue(forKey: "reward")
        let trainingKeys = Set(["max_steps", "gradient_accumulation", "learning_rate", "schedule", "warmup_steps",
                                "min_learning_rate_ratio", "optimizer", "weight_decay", "adam_betas", "adam_eps",
                                "max_grad_norm", "seed", "eval_every", "eval_batches", "eval_on_start", "early_stopping_patience",
                                "save_every", "keep_checkpoints", "log_every", "max_non_finite_steps"])
        var training = dict["training"] as? [String: Any] ?? [:]
        for (k, v) in dict where trainingKeys.contains(k) {
            training[k] = v
            dict.removeValue(forKey: k)
        }
        dict["training"] = training
        for key in ["train", "valid"] {
            if let s = dict[key] as? String { dict[key] = [["path": s]] }
            if let list = dict[key] as? [Any] { dict[key] = list.map { ($0 as? String).map { ["path": $0] } ?? $0 } }
        }
        // `dpo:` and `reward:` sections belong to the preference and reward commands.
        let known = Set(CodingKeys.allCasesSnake).union(["dpo", "reward"])
        if let unknown = dict.keys.first(where: { !known.contains($0) }) {
            throw DataError(file: path, field: unknown, "unknown setting (known: \(known.sorted().joined(separator: ", ")))")
        }
        let data = try JSONSerialization.data(withJSONObject: dict)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(RunConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            throw DataError(file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), ctx.debugDescription)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw DataError(file: path, field: (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."), "missing setting")
        }
    }

    /// The config as YAML, saved in each run folder so a run can be repeated.
    public func yaml() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let obj = try JSONSerialization.jsonObject(with: encoder.encode(self))
        return try Yams.dump(object: obj, sortKeys: true)
    }
}

extension RunConfig.CodingKeys {
    static var allCasesSnake: [String] {
        ["model", "train", "valid", "validation_fraction", "output", "peft", "rank", "alpha", "dropout", "target_modules",
         "num_layers", "adapter", "max_length", "batch_size", "packing", "loss", "bad_rows", "gradient_checkpointing",
         "training"]
    }
}

// Decoding tolerates missing keys: every field has a default.
extension RunConfig {
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? model
        train = try c.decodeIfPresent([DataSource].self, forKey: .train) ?? train
        valid = try c.decodeIfPresent([DataSource].self, forKey: .valid) ?? valid
        validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction) ?? validationFraction
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? output
        peft = try c.decodeIfPresent(PEFTMethod.self, forKey: .peft) ?? peft
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? rank
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? alpha
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? dropout
        targetModules = try c.decodeIfPresent([String].self, forKey: .targetModules) ?? targetModules
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? numLayers
        adapter = try c.decodeIfPresent(String.self, forKey: .adapter) ?? adapter
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? maxLength
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        packing = try c.decodeIfPresent(Bool.self, forKey: .packing) ?? packing
        loss = try c.decodeIfPresent(LossScope.self, forKey: .loss) ?? loss
        badRows = try c.decodeIfPresent(BadRowPolicy.self, forKey: .badRows) ?? badRows
        gradientCheckpointing = try c.decodeIfPresent(Bool.self, forKey: .gradientCheckpointing) ?? gradientCheckpointing
        training = try c.decodeIfPresent(TrainingConfig.self, forKey: .training) ?? training
    }
}

extension TrainingConfig {
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps) ?? maxSteps
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? gradientAccumulation
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? learningRate
        schedule = try c.decodeIfPresent(LRScheduleDecay.self, forKey: .schedule) ?? schedule
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? warmupSteps
        minLearningRateRatio = try c.decodeIfPresent(Double.self, forKey: .minLearningRateRatio) ?? minLearningRateRatio
        optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? optimizer
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        adamBetas = try c.decodeIfPresent([Double].self, forKey: .adamBetas) ?? adamBetas
        adamEps = try c.decodeIfPresent(Double.self, forKey: .adamEps) ?? adamEps
        maxGradNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradNorm) ?? maxGradNorm
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? evalBatches
        evalOnStart = try c.decodeIfPresent(Bool.self, forKey: .evalOnStart) ?? evalOnStart
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience) ?? earlyStoppingPatience
        saveEvery = try c.decodeIfPresent(Int.self, forKey: .saveEvery) ?? saveEvery
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? keepCheckpoints
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? logEvery
        maxNonFiniteSteps = try c.decodeIfPresent(Int.self, forKey: .maxNonFiniteSteps) ?? maxNonFiniteSteps
    }
}

public typealias LRScheduleDecay = NN.LRSchedule.Decay
import NN
