import LM
import NN
import Tensor

/// Simple preference optimisation (Meng et al., 2024): DPO without a reference model, on
/// length-normalised log-probs with a target margin γ, as TRL's `CPOTrainer` with
/// `loss_type="simpo"`. With per-token average log-probs ℓ⁺, ℓ⁻ and z = β(ℓ⁺ − ℓ⁻) − γ:
///   loss = −(1 − ε) log σ(z) − ε log σ(−z)
/// Rewards are βℓ.
public struct SimPOObjective: Objective {
    public var beta: Double
    public var gamma: Double
    public var labelSmoothing: Double

    public init(beta: Double = 2.0, gamma: Double = 0.5, labelSmoothing: Double = 0) {
        self.beta = beta
        self.gamma = gamma
        self.labelSmoothing = labelSmoothing
    }

    /// Per-pair losses [P] from average log-probs.
    public static func losses(chosenAverage c: Tensor, rejectedAverage r: Tensor, beta: Double, gamma: Double,
                              labelSmoothing eps: Double = 0) -> Tensor {
        let z = (c - r) * beta - gamma
        return -logSigmoid(z) * (1 - eps) - logSigmoid(-z) * eps
    }

    public func loss(model: any LanguageModel, batch: PreferenceBatch, training: Bool) -> ObjectiveOutput {
        guard case .pairs(let c, let r, let w, _) = batch.layout else { preconditionFailure("SimPO needs chosen/rejected pairs") }
        let avg = SequenceLogProbs.averages(SequenceLogProbs.sums(model: model, rows: batch.rows), rows: batch.rows)
        let weight = PairMetrics.floats(w)
        let pc = avg.take(PairMetrics.indices(c), axis: 0), pr = avg.take(PairMetrics.indices(r), axis: 0)
        let perPair = Self.losses(chosenAverage: pc, rejectedAverage: pr, beta: beta, gamma: gamma, labelSmoothing: labelSmoothing)
        var metrics = PairMetrics.make(chosen: pc * beta, rejected: pr * beta, weight: weight)
        metrics["logps_chosen"] = (pc.stopGradient() * weight).sum()
        metrics["logps_rejected"] = (pr.stopGradient() * weight).sum()
        return ObjectiveOutput(sum: (perPair * weight).sum(), count: Tensor(Double(batch.unitCount)), metrics: metrics)
    }
}
