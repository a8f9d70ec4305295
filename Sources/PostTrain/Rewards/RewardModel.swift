import Foundation
import LM
import NN
import PEFT
import Tensor

/// A language model with a scalar value head: the reward of a row is the head applied to the
/// final hidden state of its last real token (as Hugging Face's `*ForSequenceClassification`
/// with one label, which TRL's reward trainer uses). The LM part trains with adapters or fully;
/// the head always trains.
///
/// It is itself a `LanguageModel` (forwarding to the base), so the shared `Trainer` trains it;
/// parameters are `base.…` and `value_head.weight`/`value_head.bias`.
public final class RewardModel: Module, LanguageModel, @unchecked Sendable {
    @Child public var base: any LanguageModel
    @Child public var valueHead: Linear

    public init(base: any LanguageModel, key: RandomKey = RandomKey(seed: 0)) {
        _base = Child(wrappedValue: base, key: "base")
        _valueHead = Child(wrappedValue: Linear(base.config.hiddenSize, 1, bias: true, key: key), key: "value_head")
        super.init()
    }

    public init(base: any LanguageModel, head: Linear) {
        _base = Child(wrappedValue: base, key: "base")
        _valueHead = Child(wrappedValue: head, key: "value_head")
        super.init()
    }

    public var config: ModelConfig { base.config }

    public func hiddenStates(_ ids: Tensor?, embeddings: Tensor?, options: ForwardOptions) -> Tensor {
        base.hiddenStates(ids, embeddings: embeddings, options: options)
    }

    public func logits(fromHidden h: Tensor) -> Tensor { base.logits(fromHidden: h) }
    public func embed(_ ids: Tensor) -> Tensor { base.embed(ids) }
    public func makeCache() -> [KVCache] { base.makeCache() }

    /// Rewards [N] from hidden states [N, L, D] at the flat positions `lastIndices` [N].
    public func rewards(hidden: Tensor, lastIndices: Tensor) -> Tensor {
        valueHead(hidden.reshaped(-1, hidden.dim(-1)).take(lastIndices, axis: 0)).squeezed(-1)
    }

    /// Rewards [N] of answer rows.
    public func rewards(_ rows: AnswerRows) -> Tensor {
        rewards(hidden: hiddenStates(rows.tokens.inputs, embeddings: nil, options: ForwardOptions()), lastIndices: rows.lastIndices)
    }

    /// Scores tokenized rows in batches of similar length, without gradients.
    public func scores(_ rows: [TokenizedExample], padId: Int, batchSize: Int = 8) throws -> [Double] {
        let wasTraining = training
        train(false)
        defer { train(wasTraining) }
        var out = [Double](repeating: 0, count: rows.count)
        let order = rows.indices.sorted { rows[$0].ids.count > rows[$1].ids.count }
        for start in stride(from: 0, to: order.count, by: max(1, batchSize)) {
            let idx = Array(order[start..<min(start + max(1, batchSize), order.count)])
            let r = rewards(AnswerRows(idx.map { rows[$0] }, padId: padId))
            _ = try r.eval()
            for (i, v) in zip(idx, try r.floats()) { out[i] = Double(v) }
        }
        return out
    }
}

// MARK: Saving and loading

/// What `reward_config.json` records: enough to rebuild the reward model anywhere.
public struct RewardModelConfig: Codable, Sendable, Equatable {
    public var format = "posttrain-reward-model"
    public var version = 1
    /// The base model as given (an alias, GGUF file or HF directory) and its resolved path.
    public var baseModel: String
    public var baseModelPath: String?
    /// "adapter" (a PEFT adapter in `adapter/` over the base) or "model" (full weights in `model/`).
    public var weights: String
    public var hiddenSize: Int
    /// The longest row the model was trained on (prompt + answer tokens).
    public var maxLength: Int
    /// How it was trained (pointwise, pairwise or listwise), for the record.
    public var loss: String?

    public init(baseModel: String, baseModelPath: String?, weights: String, hiddenSize: Int, maxLength: Int, loss: String?) {
        self.baseModel = baseModel
        self.baseModelPath = baseModelPath
        self.weights = weights
        self.hiddenSize = hiddenSize
        self.maxLength = maxLength
        self.loss = loss
    }

    enum CodingKeys: String, CodingKey {
        case format, version, baseModel = "base_model", baseModelPath = "base_model_path", weights
        case hiddenSize = "hidden_size", maxLength = "max_length", loss
    }
}

/// A reward model loaded from its folder, with what it needs to read text.
public struct LoadedRewardModel {
    public var model: RewardModel
    public var loaded: LoadedModel
    public var config: RewardModelConfig
}

extension RewardModel {
    public static let configFile = "reward_config.json"
    public static let headFile = "value_head.safetensors"

    /// Saves the reward model as a folder: `reward_config.json`, `value_head.safetensors`, and
    /// the adapter (`adapter/`, PEFT format, over the base model named in the config) or, for
    /// full fine-tuning, the whole model (`model/`, a Hugging Face directory). The folder is
    /// written beside its final place and renamed in, so it is never half-written.
    public func save(to dir: URL, loaded: LoadedModel, peft: PEFTConfig?, baseModel: String, maxLength: Int, loss: String?) throws {
        let fm = FileManager.default
        let tmp = dir.deletingLastPathComponent().appendingPathComponent(".tmp-\(dir.lastPathComponent)-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        let weights: String
        if let peft {
            let adapterDir = tmp.appendingPathComponent("adapter")
            try fm.createDirectory(at: adapterDir, withIntermediateDirectories: true)
            try Adapters.save(adapterOf: base, config: peft, to: adapterDir.path)
            weights = "adapter"
        } else {
            var full = loaded
            full.model = base
            try HFExport.save(full, to: tmp.appendingPathComponent("model"))
            weights = "model"
        }
        var head = ["weight": valueHead.weight]
        if let b = valueHead.bias?.value { head["bias"] = b }
        try TensorIO.saveSafetensors(head, to: tmp.appendingPathComponent(Self.headFile).path)
        let config = RewardModelConfig(baseModel: baseModel, baseModelPath: loaded.source.path, weights: weights,
                                       hiddenSize: base.config.hiddenSize, maxLength: maxLength, loss: loss)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(config).write(to: tmp.appendingPathComponent(Self.configFile))
        if fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }
        try fm.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.moveItem(at: tmp, to: dir)
    }

    /// Loads a saved reward model for scoring (frozen, evaluation mode). `baseModel` overrides
    /// where the base model of an adapter is found (when the folder moved to another machine).
    public static func load(_ directory: String, baseModel override: String? = nil) throws -> LoadedRewardModel {
        let dir = URL(fileURLWithPath: directory)
        let configURL = dir.appendingPathComponent(configFile)
        guard let data = try? Data(contentsOf: configURL) else {
            throw RewardError.badRewardModel(path: directory, reason: "no \(configFile): not a reward model folder (train one with `posttrain rm`)")
        }
        let config: RewardModelConfig
        do { config = try JSONDecoder().decode(RewardModelConfig.self, from: data) } catch {
            throw RewardError.badRewardModel(path: configURL.path, reason: "unreadable: \(error)")
        }
        guard config.format == "posttrain-reward-model" else {
            throw RewardError.badRewardModel(path: configURL.path, reason: "unknown format \"\(config.format)\"")
        }
        var loaded: LoadedModel
        switch config.weights {
        case "adapter":
            let spec: String
            if let override {
                spec = override
            } else if let p = config.baseModelPath, FileManager.default.fileExists(atPath: p) {
                spec = p
            } else {
                spec = config.baseModel
            }
            loaded = try ModelLoader.load(spec, options: LoadOptions(dtype: .float32))
            try Adapters.load(from: dir.appendingPathComponent("adapter").path, into: loaded.model, trainable: false)
        case "model":
            loaded = try ModelLoader.load(dir.appendingPathComponent("model").path, options: LoadOptions(dtype: .float32))
        default:
            throw RewardError.badRewardModel(path: configURL.path, reason: "unknown weights kind \"\(config.weights)\" (adapter or model)")
        }
        guard loaded.config.hiddenSize == config.hiddenSize else {
            throw RewardError.badRewardModel(path: directory, reason: "the base model has hidden size \(loaded.config.hiddenSize), the value head expects \(config.hiddenSize)")
        }
        let headURL = dir.appendingPathComponent(headFile)
        let head = try TensorIO.loadSafetensors(headURL.path).tensors
        guard let w = head["weight"], w.shape == [1, config.hiddenSize] else {
            throw RewardError.badRewardModel(path: headURL.path, reason: "expected a \"weight\" of shape [1, \(config.hiddenSize)]")
        }
        let model = RewardModel(base: loaded.model, head: Linear(weight: w, bias: head["bias"]))
        model.freeze()
        model.eval()
        loaded.model.eval()
        return LoadedRewardModel(model: model, loaded: loaded, config: config)
    }
}

/// A reward model as a `RewardFunction`: renders each prompt and answer with the model's chat
/// template and reads the value head.
public final class ModelReward: RewardFunction {
    public let name: String
    public let model: RewardModel
    public let renderer: PreferenceRenderer
    public let padId: Int
    public var batchSize: Int

    public init(model: RewardModel, chat: ChatFormatter, maxLength: Int, padId: Int, name: String = "reward_model", batchSize: Int = 8) {
        self.name = name
        self.model = model
        self.renderer = PreferenceRenderer(chat: chat, maxLength: maxLength)
        self.padId = padId
        self.batchSize = batchSize
    }

    /// Loads the reward model saved in `directory`.
    public convenience init(directory: String, name: String? = nil, batchSize: Int = 8, baseModel: String? = nil) throws {
        let r = try RewardModel.load(directory, baseModel: baseModel)
        self.init(model: r.model, chat: try r.loaded.chat(), maxLength: r.config.maxLength,
                  padId: r.loaded.tokenizer.padTokenId ?? r.loaded.tokenizer.eosTokenId ?? 0,
                  name: name ?? URL(fileURLWithPath: directory).lastPathComponent, batchSize: batchSize)
    }

    public func scores(_ queries: [RewardQuery]) throws -> [Double] {
        let rows = try queries.map { q -> TokenizedExample in
            guard let row = try renderer.tokenize(prompt: q.prompt, tools: q.tools, answers: [q.answer]).first else {
                throw RewardError.badScores("the answer renders to nothing")
            }
            return row
        }
        return try model.scores(rows, padId: padId, batchSize: batchSize)
    }
}
