import Foundation
import LM
import NN
import PEFT
import Tensor

/// `posttrain sft`: supervised fine-tuning from a run config, end to end.
public struct SFTRun {
    public var config: RunConfig
    public var resume: Bool
    public var log: (String) -> Void

    public init(config: RunConfig, resume: Bool = false, log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.config = config
        self.resume = resume
        self.log = log
    }

    public struct Outcome {
        public var result: TrainingResult
        public var output: URL
        /// Where the adapter (or full model) was saved.
        public var artifact: URL
        public var trainReport: DataReport
        public var validationLoss: Double?
    }

    /// Builds the training and validation batches for a loaded model.
    public static func data(_ config: RunConfig, loaded: LoadedModel) throws -> (SFTBatches, SFTBatches?, DataReport) {
        guard !config.train.isEmpty else { throw DataError(file: "config", field: "train", "no training data given") }
        let renderer = ExampleRenderer(chat: try loaded.chat(), scope: config.loss, maxLength: config.maxLength)
        var train = try TokenizedDataset(sources: config.train, renderer: renderer, policy: config.badRows)
        var valid: TokenizedDataset? = nil
        if !config.valid.isEmpty {
            valid = try TokenizedDataset(sources: config.valid, renderer: renderer, policy: config.badRows)
        } else if config.validationFraction > 0 && train.examples.count > 1 {
            (train, valid) = train.split(validationFraction: config.validationFraction, seed: config.training.seed)
        }
        guard !train.examples.isEmpty else {
            throw DataError(file: config.train.map(\.path).joined(separator: ", "), "no usable training examples (\(train.report.summary))")
        }
        var options = BatchingOptions()
        options.batchSize = config.batchSize
        options.packing = config.packing
        options.maxLength = config.maxLength
        options.seed = config.training.seed
        let pad = loaded.tokenizer.padTokenId ?? loaded.tokenizer.eosTokenId ?? 0
        var validOptions = options
        validOptions.packing = false
        let validBatches = valid.map { SFTBatches($0, options: validOptions, padId: pad, shuffle: false) }
        return (SFTBatches(train, options: options, padId: pad), validBatches, train.report)
    }

    public func run() throws -> Outcome {
        let output = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try writeAtomically(Data(try config.yaml().utf8), to: output.appendingPathComponent("config.yaml").path)
        let (loaded, peft) = try ModelSetup.load(config, log: log)
        let (train, valid, report) = try Self.data(config, loaded: loaded)
        log("training data: \(report.summary)")
        if let valid { log("validation data: \(valid.dataset.examples.count) examples") }
        let trainer = try Trainer(model: loaded.model, objective: SFTObjective(), config: config.training, output: output, resume: resume)
        if resume { log("resuming at step \(trainer.state.step)") }
        trainer.onCheckpoint = { dir in try ModelSetup.saveResult(loaded, peft: peft, to: ModelSetup.resultDirectory(in: dir, peft: peft)) }
        let result = try trainer.train(train, validation: valid)
        let artifact = ModelSetup.resultDirectory(in: output, peft: peft)
        try ModelSetup.saveResult(loaded, peft: peft, to: artifact)
        return Outcome(result: result, output: output, artifact: artifact, trainReport: report,
                       validationLoss: result.finalValidationLoss)
    }
}
