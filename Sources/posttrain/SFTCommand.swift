import ArgumentParser
import Foundation
import LM
import PostTrain

/// Flags shared by the training commands; each overrides the same field of `--config`.
struct TrainingOptions: ParsableArguments {
    @Option(help: "A YAML run config; flags override its fields.") var config: String?
    @Option(help: "Model: a GGUF file, a Hugging Face directory or an installed alias.") var model: String?
    @Option(help: "Training data file (.jsonl or .json); repeat to mix several.") var train: [String] = []
    @Option(help: "Validation data file.") var valid: [String] = []
    @Option(help: "Run folder for checkpoints, metrics, the report and the result.") var output: String?
    @Option(name: .customLong("max-steps")) var maxSteps: Int?
    @Option(name: .customLong("batch-size")) var batchSize: Int?
    @Option(name: .customLong("max-length")) var maxLength: Int?
    @Option(name: .customLong("learning-rate")) var learningRate: Double?
    @Option(help: "lora, qlora, dora or full.") var peft: RunConfig.PEFTMethod?
    @Option(help: "LoRA rank.") var rank: Int?
    @Option(help: "LoRA alpha (default 2 × rank).") var alpha: Double?
    @Option(name: .customLong("lora-dropout")) var loraDropout: Double?
    @Option(name: .customLong("num-layers"), help: "Adapt only the last N layers.") var numLayers: Int?
    @Option(help: "Start from this adapter (PEFT format).") var adapter: String?
    @Option var seed: UInt64?
    @Option(name: .customLong("grad-accum")) var gradAccum: Int?
    @Option(name: .customLong("warmup-steps")) var warmupSteps: Int?
    @Option(name: .customLong("eval-every")) var evalEvery: Int?
    @Option(name: .customLong("save-every")) var saveEvery: Int?
    @Option(help: "adamw, adam, sgd or adafactor.") var optimizer: TrainingConfig.OptimizerKind?
    @Option(help: "constant, linear or cosine.") var schedule: LRScheduleDecay?
    @Option(name: .customLong("weight-decay")) var weightDecay: Double?
    @Option(name: .customLong("max-grad-norm")) var maxGradNorm: Double?
    @Option(help: "completion (assistant turns only) or all.") var loss: LossScope?
    @Option(name: .customLong("bad-rows"), help: "fail or skip.") var badRows: BadRowPolicy?
    @Flag(help: "Pack short examples into full rows.") var packing = false
    @Flag(name: .customLong("gradient-checkpointing"), help: "Recompute activations in backward to save memory.")
    var gradientCheckpointing = false
    @Flag(help: "Continue from the newest checkpoint in the output folder.") var resume = false
    @Flag(name: .customLong("eval-on-start"), help: "Evaluate once before training.") var evalOnStart = false

    func runConfig() throws -> RunConfig {
        var c = try config.map { try RunConfig.load($0) } ?? RunConfig()
        if let model { c.model = model }
        if !train.isEmpty { c.train = train.map { DataSource(path: $0) } }
        if !valid.isEmpty { c.valid = valid.map { DataSource(path: $0) } }
        if let output { c.output = output }
        if let maxSteps { c.training.maxSteps = maxSteps }
        if let batchSize { c.batchSize = batchSize }
        if let maxLength { c.maxLength = maxLength }
        if let learningRate { c.training.learningRate = learningRate }
        if let peft { c.peft = peft }
        if let rank { c.rank = rank }
        if let alpha { c.alpha = alpha }
        if let loraDropout { c.dropout = loraDropout }
        if let numLayers { c.numLayers = numLayers }
        if let adapter { c.adapter = adapter }
        if let seed { c.training.seed = seed }
        if let gradAccum { c.training.gradientAccumulation = gradAccum }
        if let warmupSteps { c.training.warmupSteps = warmupSteps }
        if let evalEvery { c.training.evalEvery = evalEvery }
        if let saveEvery { c.training.saveEvery = saveEvery }
        if let optimizer { c.training.optimizer = optimizer }
        if let schedule { c.training.schedule = schedule }
        if let weightDecay { c.training.weightDecay = weightDecay }
        if let maxGradNorm { c.training.maxGradNorm = maxGradNorm }
        if let loss { c.loss = loss }
        if let badRows { c.badRows = badRows }
        if packing { c.packing = true }
        if gradientCheckpointing { c.gradientCheckpointing = true }
        if evalOnStart { c.training.evalOnStart = true }
        return c
    }
}

extension RunConfig.PEFTMethod: ExpressibleByArgument {}
extension TrainingConfig.OptimizerKind: ExpressibleByArgument {}
extension LRScheduleDecay: ExpressibleByArgument {}
extension LossScope: ExpressibleByArgument {}
extension BadRowPolicy: ExpressibleByArgument {}

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft", abstract: "Supervised fine-tuning (LoRA, QLoRA, DoRA or full) on chat, instruction or text data.")

    @OptionGroup var options: TrainingOptions

    func run() throws {
        let config = try options.runConfig()
        let outcome = try SFTRun(config: config, resume: options.resume).run()
        let r = outcome.result
        if let v = outcome.validationLoss {
            print(String(format: "final validation loss: %.4f (perplexity %.2f)", v, Foundation.exp(v)))
        } else if let t = r.finalTrainingLoss {
            print(String(format: "final training loss: %.4f", t))
        }
        print(String(format: "%d steps in %.0fs, %.1f tokens/s, peak memory %.2f GB", r.steps, r.seconds, r.tokensPerSecond,
                     Double(r.peakMemoryBytes) / 1e9))
        if r.interrupted { print("interrupted: continue with --resume") }
        print("output: \(outcome.output.path) (\(outcome.artifact.lastPathComponent): \(outcome.artifact.path))")
    }
}
