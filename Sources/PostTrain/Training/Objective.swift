import LM
import Tensor

/// A training method's loss over one batch, as a pure function of the model and the batch.
///
/// The loss comes back as a *sum* with the count of units it sums over (loss tokens for SFT,
/// pairs for DPO), so that gradient accumulation over micro-batches of different sizes yields
/// exactly the mean over all units of the optimizer step.
public protocol Objective {
    associatedtype Batch
    func loss(model: any LanguageModel, batch: Batch, training: Bool) -> ObjectiveOutput
}

public struct ObjectiveOutput {
    /// Sum of the per-unit losses.
    public var sum: Tensor
    /// Number of units summed (a float scalar).
    public var count: Tensor
    /// Extra quantities to log, each also a sum over the same units (their mean is logged).
    public var metrics: [String: Tensor]

    public init(sum: Tensor, count: Tensor, metrics: [String: Tensor] = [:]) {
        self.sum = sum
        self.count = count
        self.metrics = metrics
    }
}

/// What the training loop needs to know of a batch beyond the objective.
public protocol BatchInfo {
    /// Tokens processed (inputs, excluding padding), for throughput.
    var tokenCount: Int { get }
}
