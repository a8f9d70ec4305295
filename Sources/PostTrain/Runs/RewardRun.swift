import Foundation
import LM
import NN
import PEFT
import Tensor

/// `posttrain rm`: trains a reward model (the policy LM with LoRA or fully, plus a value head)
/// on pairs, ranked lists or scores, and saves it as a folder that `RewardModel.load` (and
/// `posttrain score`, PPO, best-of-N) reads.
public struct RewardRun {
    public var config: RunConfig
    public var reward: RewardConfig
    public var resume: Bool
    public var log: (String) -> Void

    public init(config: RunConfig, reward: RewardConfig, resume: Bool = false,
                log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.config = config
        self.reward = reward
        self.resume = resume
        self.log = log
    }

    public struct Outcome {
        public var result: TrainingResult
        public var output: URL
        /// The saved reward model folder.
        public var rewardModel: URL
        public var trainReport: DataReport
        public var lastTraining: [String: Double]
        public var lastValidation: [String: Double]
    }

    public var layout: PreferenceLayout {
        switch reward.loss {
        case .pointwise: .scores
        case .pairwise: .pairs
        case .listwise: .groups
        }
    }

    public static let folderName = "reward_model"

    public func run() throws -> Outcome {
        try reward.validate()
        let output = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try writeAtomically(Data(try ConfigSection.yaml(config, section: "reward", reward).utf8),
                            to: output.appendingPathComponent("config.yaml").path)
        let (loaded, peft) = try ModelSetup.load(config, log: log)
        let model = RewardModel(base: loaded.model, key: RandomKey(seed: config.training.seed ^ 0x5C0E))
        try eval(Array(model.valueHead.parameters().values))
        let (train, valid) = try PreferenceRun.data(config, layout: layout, fields: reward.fields,
                                                    maxPromptLength: reward.maxPromptLength, loaded: loaded)
        log("training data: \(train.report.summary)")
        if let valid { log("validation data: \(valid.units.count) units") }
        let padId = loaded.tokenizer.padTokenId ?? loaded.tokenizer.eosTokenId ?? 0
        let trainBatches = PreferenceBatches(train, batchSize: config.batchSize, padId: padId, seed: config.training.seed)
        let validBatches = valid.map { PreferenceBatches($0, batchSize: config.batchSize, padId: padId, seed: config.training.seed, shuffle: false) }

        let objective = RewardObjective(kind: reward.loss, margin: reward.margin, lmWeight: reward.lmWeight,
                                        centerRewardsCoefficient: reward.centerRewardsCoefficient)
        let trainer = try Trainer(model: model, objective: objective, config: config.training, output: output, resume: resume)
        if resume { log("resuming at step \(trainer.state.step)") }
        let baseSpec = config.model ?? ModelLoader.defaultModel
        func save(_ dir: URL) throws {
            try model.save(to: dir, loaded: loaded, peft: peft, baseModel: baseSpec, maxLength: config.maxLength, loss: reward.loss.rawValue)
        }
        trainer.onCheckpoint = { dir in try save(dir.appendingPathComponent(Self.folderName)) }
        let result = try trainer.train(trainBatches, validation: validBatches)
        let folder = output.appendingPathComponent(Self.folderName)
        try save(folder)
        let entries = trainer.log.entries
        return Outcome(result: result, output: output, rewardModel: folder, trainReport: train.report,
                       lastTraining: entries.last { $0.values["loss"] != nil }?.values ?? [:],
                       lastValidation: entries.last { $0.values["validation_loss"] != nil }?.values ?? [:])
    }
}
