import Foundation
import LM
import NN
import PEFT
import Tensor

/// `posttrain dpo`: preference optimisation (DPO and its loss variants, KTO, ORPO, SimPO) from a
/// run config, end to end, on the shared trainer.
public struct PreferenceRun {
    public var config: RunConfig
    public var preference: PreferenceConfig
    public var resume: Bool
    public var log: (String) -> Void

    public init(config: RunConfig, preference: PreferenceConfig, resume: Bool = false,
                log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.config = config
        self.preference = preference
        self.resume = resume
        self.log = log
    }

    public struct Outcome {
        public var result: TrainingResult
        public var output: URL
        /// Where the adapter (or full model) was saved.
        public var artifact: URL
        public var trainReport: DataReport
        /// The last logged training values and validation values (`validation_…` keys).
        public var lastTraining: [String: Double]
        public var lastValidation: [String: Double]
        /// How the reference log-probs were obtained.
        public var reference: String
    }

    public var layout: PreferenceLayout {
        preference.lossType == .kto ? .labels(mismatched: preference.ktoKl == .mismatched) : .pairs
    }

    /// Tokenized training and validation sets (a held-out split when no validation file is given).
    public static func data(_ config: RunConfig, layout: PreferenceLayout, fields: PreferenceFields, maxPromptLength: Int?,
                            loaded: LoadedModel) throws -> (train: PreferenceDataset, valid: PreferenceDataset?) {
        guard !config.train.isEmpty else { throw DataError(file: "config", field: "train", "no training data given") }
        let renderer = PreferenceRenderer(chat: try loaded.chat(), maxLength: config.maxLength, maxPromptLength: maxPromptLength)
        var train = try PreferenceDataset(sources: config.train, renderer: renderer, layout: layout, names: fields,
                                          policy: config.badRows, seed: config.training.seed)
        var valid: PreferenceDataset? = nil
        if !config.valid.isEmpty {
            valid = try PreferenceDataset(sources: config.valid, renderer: renderer, layout: layout, names: fields,
                                          policy: config.badRows, seed: config.training.seed)
        } else if config.validationFraction > 0 && Set(train.unitRecord).count > 1 {
            (train, valid) = train.split(validationFraction: config.validationFraction, seed: config.training.seed)
        }
        guard !train.units.isEmpty else {
            throw DataError(file: config.train.map(\.path).joined(separator: ", "), "no usable training examples (\(train.report.summary))")
        }
        return (train, valid)
    }

    public func run() throws -> Outcome {
        try preference.validate()
        let output = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try writeAtomically(Data(try ConfigSection.yaml(config, section: "dpo", preference).utf8),
                            to: output.appendingPathComponent("config.yaml").path)
        let (loaded, peft) = try ModelSetup.load(config, log: log)
        var (train, valid) = try Self.data(config, layout: layout, fields: preference.fields,
                                           maxPromptLength: preference.maxPromptLength, loaded: loaded)
        log("training data: \(train.report.summary)")
        if let valid { log("validation data: \(valid.units.count) units") }
        let padId = loaded.tokenizer.padTokenId ?? loaded.tokenizer.eosTokenId ?? 0

        var reference = ReferenceModel.cached
        var referenceNote = "none (\(preference.lossType.rawValue) is reference-free)"
        if preference.needsReference {
            if Adapters.adaptedLayers(of: loaded.model).contains(where: { $0.adapter.isMerged }) {
                throw TrainingError.noData("the policy's adapters are merged; the reference cannot be computed")
            }
            let separate = try referenceModel(peft: peft)
            if preference.precomputeRefLogProbs {
                // The starting policy (fresh LoRA adds nothing; an SFT adapter is the SFT model) or the given reference.
                var sets = ["train": train]
                if let valid { sets["valid"] = valid }
                let source = preference.refModel.map { "ref_model:\($0)" }
                    ?? "policy:\(config.model ?? ModelLoader.defaultModel)|adapter:\(config.adapter ?? "")|peft:\(config.peft.rawValue)"
                try ReferenceLogProbs.attach(model: separate ?? loaded.model, datasets: &sets, padId: padId,
                                             cache: output.appendingPathComponent(ReferenceLogProbs.fileName), source: source, log: log)
                train = sets["train"]!
                valid = sets["valid"]
                referenceNote = "precomputed (\(ReferenceLogProbs.fileName))"
            } else if let separate {
                reference = .separate(separate)
                referenceNote = "separate model in memory"
            } else {
                reference = .adaptersDisabled
                referenceNote = "policy with adapters disabled"
            }
        }
        log("reference: \(referenceNote)")

        let trainBatches = PreferenceBatches(train, batchSize: config.batchSize, padId: padId, seed: config.training.seed)
        let validBatches = valid.map { PreferenceBatches($0, batchSize: config.batchSize, padId: padId, seed: config.training.seed, shuffle: false) }
        let beta = preference.effectiveBeta, eps = preference.effectiveLabelSmoothing
        let outcome: (TrainingResult, [RunLog.Entry])
        switch preference.lossType {
        case .sigmoid, .cdpo:
            outcome = try fit(DPOObjective(lossType: .sigmoid, beta: beta, labelSmoothing: eps, reference: reference),
                                loaded: loaded, peft: peft, trainBatches, validBatches, output)
        case .ipo, .hinge, .robust:
            let type = DPOObjective.LossType(rawValue: preference.lossType.rawValue)!
            outcome = try fit(DPOObjective(lossType: type, beta: beta, labelSmoothing: eps, reference: reference),
                                loaded: loaded, peft: peft, trainBatches, validBatches, output)
        case .kto:
            outcome = try fit(KTOObjective(beta: beta, desirableWeight: preference.desirableWeight,
                                             undesirableWeight: preference.undesirableWeight,
                                             estimateKL: preference.ktoKl == .mismatched, reference: reference),
                                loaded: loaded, peft: peft, trainBatches, validBatches, output)
        case .orpo:
            outcome = try fit(ORPOObjective(lambda: preference.orpoLambda), loaded: loaded, peft: peft, trainBatches, validBatches, output)
        case .simpo:
            outcome = try fit(SimPOObjective(beta: beta, gamma: preference.simpoGamma, labelSmoothing: eps),
                                loaded: loaded, peft: peft, trainBatches, validBatches, output)
        }
        let artifact = ModelSetup.resultDirectory(in: output, peft: peft)
        try ModelSetup.saveResult(loaded, peft: peft, to: artifact)
        let (result, entries) = outcome
        let lastTraining = entries.last { $0.values["loss"] != nil }?.values ?? [:]
        let lastValidation = entries.last { $0.values["validation_loss"] != nil }?.values ?? [:]
        return Outcome(result: result, output: output, artifact: artifact, trainReport: train.report,
                       lastTraining: lastTraining, lastValidation: lastValidation, reference: referenceNote)
    }

    /// A reference model besides the policy, when one is needed: the given `ref_model`, or a copy
    /// of the starting policy when disabling adapters would not give it (full fine-tuning, or
    /// LoRA continuing from an adapter) and log-probs are not precomputed. Nil: the policy serves.
    func referenceModel(peft: PEFTConfig?) throws -> (any LanguageModel)? {
        let spec: String
        if let r = preference.refModel {
            spec = r
        } else if !preference.precomputeRefLogProbs && (peft == nil || config.adapter != nil) {
            spec = config.model ?? ModelLoader.defaultModel
        } else {
            return nil
        }
        let start = Date()
        let loaded = try ModelLoader.load(spec, options: LoadOptions(dtype: .float32, keepQuantized: config.peft == .qlora))
        if preference.refModel == nil, let adapter = config.adapter {
            try Adapters.load(from: adapter, into: loaded.model, trainable: false)
        }
        loaded.model.freeze()
        loaded.model.eval()
        log(String(format: "reference model %@ loaded in %.1fs", loaded.source.lastPathComponent, Date().timeIntervalSince(start)))
        return loaded.model
    }

    func fit<O: Objective>(_ objective: O, loaded: LoadedModel, peft: PEFTConfig?, _ trainBatches: PreferenceBatches,
                             _ validBatches: PreferenceBatches?, _ output: URL) throws -> (TrainingResult, [RunLog.Entry])
        where O.Batch == PreferenceBatch {
        let trainer = try Trainer(model: loaded.model, objective: objective, config: config.training, output: output, resume: resume)
        if resume { log("resuming at step \(trainer.state.step)") }
        trainer.onCheckpoint = { dir in try ModelSetup.saveResult(loaded, peft: peft, to: ModelSetup.resultDirectory(in: dir, peft: peft)) }
        let result = try trainer.train(trainBatches, validation: validBatches)
        return (result, trainer.log.entries)
    }
}
