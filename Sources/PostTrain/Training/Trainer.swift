import Foundation
import LM
import NN
import Tensor

/// Supplies micro-batches deterministically: the same cursor always yields the same batch, so a
/// resumed run sees exactly the data an uninterrupted one would.
public protocol BatchSource {
    associatedtype Batch: BatchInfo
    /// Micro-batches in one epoch.
    var batchesPerEpoch: Int { get }
    /// Micro-batch `index` of epoch `epoch` (epochs differ in their shuffle).
    func batch(epoch: Int, index: Int) throws -> Batch
}

extension BatchSource {
    public func next(_ cursor: inout DataCursor) throws -> Batch {
        if cursor.index >= batchesPerEpoch {
            cursor.epoch += 1
            cursor.index = 0
        }
        let b = try batch(epoch: cursor.epoch, index: cursor.index)
        cursor.index += 1
        return b
    }
}

/// What a finished (or stopped) run reports.
public struct TrainingResult {
    public var steps: Int
    public var finalTrainingLoss: Double?
    public var finalValidationLoss: Double?
    public var bestValidationLoss: Double?
    public var stoppedEarly: Bool
    public var interrupted: Bool
    public var tokensPerSecond: Double
    public var peakMemoryBytes: Int
    public var seconds: Double
}

/// The training loop, written once for every method: accumulation, clipping, the optimizer and
/// schedule, evaluation, early stopping, checkpoints with exact resume, Ctrl-C, NaN guards and
/// logging. A method supplies an `Objective` and batches.
public final class Trainer<O: Objective> where O.Batch: BatchInfo {
    public let model: any LanguageModel
    public let objective: O
    public let config: TrainingConfig
    public let optimizer: any Optimizer
    public let schedule: LRSchedule
    /// Run folder for checkpoints, metrics and the report; nil keeps everything in memory.
    public let output: URL?
    public let log: RunLog
    public private(set) var state = TrainerState()
    /// Called after each optimizer step with the step number and logged values.
    public var onStep: ((Int, [String: Double]) -> Void)?
    /// Called after each checkpoint is written (for example to also save an adapter).
    public var onCheckpoint: ((URL) throws -> Void)?

    private let boxes: [(String, Parameter)]

    public init(model: any LanguageModel, objective: O, config: TrainingConfig, output: URL?, resume: Bool = false) throws {
        self.model = model
        self.objective = objective
        self.config = config
        self.optimizer = config.makeOptimizer()
        self.schedule = config.makeSchedule()
        self.output = output
        let trainable = Set(model.trainableParameters().keys)
        boxes = model.parameterBoxes().filter { trainable.contains($0.0) }.sorted { $0.0 < $1.0 }
        guard !boxes.isEmpty else { throw TrainingError.noData("the model has no trainable parameters") }
        state.seed = config.seed
        if resume, let output, let dir = Checkpoint.latest(output) {
            let (weights, opt, st) = try Checkpoint.load(dir)
            let known = Set(boxes.map(\.0))
            let unknown = Set(weights.keys).subtracting(known)
            let missing = known.subtracting(weights.keys)
            guard unknown.isEmpty && missing.isEmpty else {
                throw TrainingError.badCheckpoint("\(dir.path) does not match the model's trainable parameters (missing: \(missing.sorted().prefix(3)), unexpected: \(unknown.sorted().prefix(3)))")
            }
            try model.update(parameters: weights)
            try optimizer.loadState(opt)
            state = st
        }
        log = try RunLog(output: output, resumeFrom: state.step)
    }

    public var trainableParameters: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: boxes.map { ($0.0, $0.1.value) })
    }

    /// Loss, gradients and metric sums of one micro-batch.
    func lossAndGradients(_ batch: O.Batch) throws -> (sum: Tensor, count: Tensor, metrics: [String: Tensor], grads: [Tensor]) {
        let originals = boxes.map { $0.1.value }
        var metricKeys: [String] = []
        defer { for (i, b) in boxes.enumerated() { b.1.value = originals[i] } }
        let (values, grads) = try valueAndGrad({ xs in
            for (i, b) in self.boxes.enumerated() { b.1.value = xs[i] }
            let out = self.objective.loss(model: self.model, batch: batch, training: true)
            metricKeys = out.metrics.keys.sorted()
            return [out.sum, out.count] + metricKeys.map { out.metrics[$0]! }
        }, at: originals)
        var metrics: [String: Tensor] = [:]
        for (i, k) in metricKeys.enumerated() { metrics[k] = values[2 + i].stopGradient() }
        return (values[0], values[1], metrics, grads)
    }

    /// Mean loss (and metrics) over validation batches, without gradients.
    public func evaluate<S: BatchSource>(_ source: S, maxBatches: Int = 0) throws -> (loss: Double, metrics: [String: Double]) where S.Batch == O.Batch {
        model.train(false)
        defer { model.train(true) }
        var sum = 0.0, count = 0.0
        var metricSums: [String: Double] = [:]
        let n = maxBatches > 0 ? min(maxBatches, source.batchesPerEpoch) : source.batchesPerEpoch
        for i in 0..<n {
            let out = objective.loss(model: model, batch: try source.batch(epoch: 0, index: i), training: false)
            try eval([out.sum, out.count] + Array(out.metrics.values))
            sum += Double(try out.sum.float())
            count += Double(try out.count.float())
            for (k, v) in out.metrics { metricSums[k, default: 0] += Double(try v.float()) }
        }
        guard count > 0 else { throw TrainingError.noData("the validation set produced no loss units") }
        return (sum / count, metricSums.mapValues { $0 / count })
    }

    public func train<Train: BatchSource, Valid: BatchSource>(
        _ source: Train, validation: Valid?
    ) throws -> TrainingResult where Train.Batch == O.Batch, Valid.Batch == O.Batch {
        guard source.batchesPerEpoch > 0 else { throw TrainingError.noData("the training set produced no batches") }
        Interrupt.install()
        model.train(true)
        Engine.Memory.resetPeak()
        let start = Date()
        let startStep = state.step
        var tokensThisRun = 0
        var lastLoss: Double?
        var lastValidation: Double?
        var nonFinite = 0
        var stoppedEarly = false
        var interrupted = false
        if config.evalOnStart, state.step == 0, let validation {
            let (vl, _) = try evaluate(validation, maxBatches: config.evalBatches)
            log.record(step: 0, ["validation_loss": vl, "validation_perplexity": Foundation.exp(vl)])
            log.message(String(format: "step 0: validation loss %.4f (perplexity %.2f)", vl, Foundation.exp(vl)))
        }

        while state.step < config.maxSteps {
            let stepStart = Date()
            optimizer.learningRate = schedule(state.step)
            var gradSum: [Tensor]? = nil
            var lossSum = Tensor(0.0), countSum = Tensor(0.0)
            var metricSums: [String: Tensor] = [:]
            var stepTokens = 0
            for micro in 0..<max(1, config.gradientAccumulation) {
                // Dropout and other draws use the global generator, reseeded from the step so a
                // resumed run draws exactly what an uninterrupted one would.
                Random.seed(config.seed &* 1_000_003 &+ UInt64(state.step * max(1, config.gradientAccumulation) + micro))
                let batch = try source.next(&state.cursor)
                stepTokens += batch.tokenCount
                let r = try lossAndGradients(batch)
                gradSum = gradSum.map { zip($0, r.grads).map { $0 + $1 } } ?? r.grads
                lossSum = lossSum + r.sum
                countSum = countSum + r.count
                for (k, v) in r.metrics { metricSums[k] = (metricSums[k] ?? Tensor(0.0)) + v }
                // Evaluate per micro-batch so its activations are freed before the next one.
                try eval(gradSum! + [lossSum, countSum] + Array(metricSums.values))
            }
            let count = try countSum.float()
            let loss = Double(try lossSum.float()) / Double(max(count, 1e-9))
            state.step += 1
            state.tokensSeen += stepTokens
            tokensThisRun += stepTokens

            var values: [String: Double] = ["learning_rate": optimizer.learningRate, "loss": loss,
                                            "tokens": Double(stepTokens), "loss_units": Double(count)]
            if !loss.isFinite {
                nonFinite += 1
                log.message("step \(state.step): non-finite loss (\(loss)); update skipped")
                if nonFinite >= config.maxNonFiniteSteps {
                    let saved = try saveCheckpoint(stepBack: true)
                    throw TrainingError.nonFiniteLoss(step: state.step, checkpoint: saved?.path)
                }
            } else {
                nonFinite = 0
                var grads = Dictionary(uniqueKeysWithValues: zip(boxes.map(\.0), gradSum!.map { $0 / Double(max(count, 1e-9)) }))
                let (clipped, norm) = clipGradNorm(grads, maxNorm: config.maxGradNorm)
                grads = clipped
                let updated = optimizer.update(parameters: trainableParameters, gradients: grads)
                for (key, box) in boxes { if let v = updated[key] { box.value = v } }
                try eval(boxes.map { $0.1.value } + optimizer.stateTensors() + [norm])
                values["grad_norm"] = Double(try norm.float())
                lastLoss = loss
            }
            for (k, v) in metricSums { values[k] = Double(try v.float()) / Double(max(count, 1e-9)) }
            let seconds = Date().timeIntervalSince(stepStart)
            values["tokens_per_second"] = Double(stepTokens) / max(seconds, 1e-9)
            values["step_seconds"] = seconds
            values["peak_memory_gb"] = Double(Engine.Memory.peak) / 1e9
            if state.step % max(1, config.logEvery) == 0 || state.step == config.maxSteps {
                log.record(step: state.step, values)
            }
            log.progress(step: state.step, total: config.maxSteps, values: values, elapsed: Date().timeIntervalSince(start))
            onStep?(state.step, values)

            let isLast = state.step == config.maxSteps
            if let validation, (config.evalEvery > 0 && state.step % config.evalEvery == 0) || isLast {
                let (vl, vm) = try evaluate(validation, maxBatches: config.evalBatches)
                lastValidation = vl
                var entry: [String: Double] = ["validation_loss": vl, "validation_perplexity": Foundation.exp(vl)]
                for (k, v) in vm { entry["validation_\(k)"] = v }
                log.record(step: state.step, entry)
                log.message(String(format: "step %d: validation loss %.4f (perplexity %.2f)", state.step, vl, Foundation.exp(vl)))
                if vl < (state.bestValidationLoss ?? .infinity) {
                    state.bestValidationLoss = vl
                    state.evaluationsWithoutImprovement = 0
                } else {
                    state.evaluationsWithoutImprovement += 1
                    if config.earlyStoppingPatience > 0 && state.evaluationsWithoutImprovement >= config.earlyStoppingPatience {
                        log.message("early stopping: no improvement in \(config.earlyStoppingPatience) evaluations")
                        stoppedEarly = true
                    }
                }
            }
            if Interrupt.requested {
                let saved = try saveCheckpoint()
                interrupted = true
                log.message("stopped at step \(state.step)\(saved.map { "; checkpoint \($0.path)" } ?? "")")
                Interrupt.simulate(false)
                break
            }
            if (config.saveEvery > 0 && state.step % config.saveEvery == 0) || isLast || stoppedEarly {
                try saveCheckpoint()
            }
            if stoppedEarly { break }
        }
        let seconds = Date().timeIntervalSince(start)
        try writeReport()
        return TrainingResult(steps: state.step - startStep, finalTrainingLoss: lastLoss, finalValidationLoss: lastValidation,
                              bestValidationLoss: state.bestValidationLoss, stoppedEarly: stoppedEarly, interrupted: interrupted,
                              tokensPerSecond: Double(tokensThisRun) / max(seconds, 1e-9),
                              peakMemoryBytes: Engine.Memory.peak, seconds: seconds)
    }

    /// Writes a checkpoint of the current state (or skips when there is no output folder).
    @discardableResult
    public func saveCheckpoint(stepBack: Bool = false) throws -> URL? {
        guard let output else { return nil }
        try Checkpoint.save(output: output, step: state.step, weights: trainableParameters,
                            optimizer: optimizer.state(), state: state, keep: config.keepCheckpoints)
        let dir = Checkpoint.directory(output, step: state.step)
        try onCheckpoint?(dir)
        return dir
    }

    func writeReport() throws {
        guard let output else { return }
        try Report.write(entries: log.entries, config: config, to: output.appendingPathComponent("report.html"))
    }
}
