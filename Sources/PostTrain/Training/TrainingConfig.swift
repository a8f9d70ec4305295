import Foundation
import NN

/// Settings of the shared training loop (every method uses the same fields).
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var maxSteps: Int = 100
    /// Micro-batches per optimizer step.
    public var gradientAccumulation: Int = 1
    public var learningRate: Double = 1e-4
    public var schedule: LRSchedule.Decay = .cosine
    public var warmupSteps: Int = 0
    public var minLearningRateRatio: Double = 0.1
    public var optimizer: OptimizerKind = .adamw
    public var weightDecay: Double = 0.0
    public var adamBetas: [Double] = [0.9, 0.999]
    public var adamEps: Double = 1e-8
    /// Global gradient-norm clip; 0 turns clipping off.
    public var maxGradNorm: Double = 1.0
    public var seed: UInt64 = 0
    /// Evaluate on the validation set every N steps (0: only at the end).
    public var evalEvery: Int = 50
    /// Validation batches per evaluation (0: all).
    public var evalBatches: Int = 0
    /// Also evaluate before the first step, to show where training starts from.
    public var evalOnStart: Bool = false
    /// Stop when the validation loss has not improved for this many evaluations (0: never).
    public var earlyStoppingPatience: Int = 0
    public var saveEvery: Int = 100
    /// Checkpoints kept on disk (the newest ones).
    public var keepCheckpoints: Int = 2
    public var logEvery: Int = 1
    /// Stop after this many consecutive non-finite losses (the update is skipped each time).
    public var maxNonFiniteSteps: Int = 3

    public enum OptimizerKind: String, Codable, Sendable { case adamw, adam, sgd, adafactor }

    enum CodingKeys: String, CodingKey {
        case maxSteps, gradientAccumulation, learningRate, schedule, warmupSteps, minLearningRateRatio, optimizer
        case weightDecay, adamBetas, adamEps, maxGradNorm, seed, evalEvery, evalBatches, evalOnStart, earlyStoppingPatience
        case saveEvery, keepCheckpoints, logEvery, maxNonFiniteSteps
    }

    public init() {}

    public func makeOptimizer() -> any Optimizer {
        switch optimizer {
        case .adamw:
            return AdamW(learningRate: learningRate, betas: (adamBetas[0], adamBetas[1]), eps: adamEps, weightDecay: weightDecay)
        case .adam:
            return Adam(learningRate: learningRate, betas: (adamBetas[0], adamBetas[1]), eps: adamEps, weightDecay: weightDecay)
        case .sgd:
            return SGD(learningRate: learningRate, momentum: 0.9, weightDecay: weightDecay)
        case .adafactor:
            return Adafactor(learningRate: learningRate, weightDecay: weightDecay, scaleParameter: false, relativeStep: false)
        }
    }

    public func makeSchedule() -> LRSchedule {
        LRSchedule(peak: learningRate, decay: schedule, warmupSteps: warmupSteps, totalSteps: maxSteps,
                   minRatio: minLearningRateRatio)
    }
}
