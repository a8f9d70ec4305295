import LM
import NN
import Tensor

/// Odds-ratio preference optimisation (Hong et al., 2024): supervised fine-tuning on the chosen
/// answer plus an odds-ratio term, with no reference model. With per-token average log-probs
/// ℓ⁺, ℓ⁻ and log odds(ℓ) = ℓ − log(1 − e^ℓ), as TRL's `ORPOTrainer`:
///   loss = −ℓ⁺ − λ log σ(log odds(ℓ⁺) − log odds(ℓ⁻))
/// The NLL term is each pair's per-token average (TRL averages tokens over the whole batch; the
/// two agree for one pair, and this form keeps gradient accumulation exact). Rewards are λℓ.
public struct ORPOObjective: Objective {
    public var lambda: Double

    public init(lambda: Double = 0.1) { self.lambda = lambda }

    /// log(1 − e^ℓ) for ℓ ≤ 0, stable near 0 (expm1), floored so a certain answer stays finite.
    static func log1mexp(_ x: Tensor) -> Tensor { maximum(-x.expm1(), 1e-30).log() }

    /// Per-pair losses [P], NLL [P] and log odds ratios [P] from average log-probs.
    public static func losses(chosenAverage c: Tensor, rejectedAverage r: Tensor, lambda: Double)
        -> (loss: Tensor, nll: Tensor, logOdds: Tensor) {
        let logOdds = (c - r) - (log1mexp(c) - log1mexp(r))
        let nll = -c
        return (nll - logSigmoid(logOdds) * lambda, nll, logOdds)
    }

    public func loss(model: any LanguageModel, batch: PreferenceBatch, training: Bool) -> ObjectiveOutput {
        guard case .pairs(let c, let r, let w, _) = batch.layout else { preconditionFailure("ORPO needs chosen/rejected pairs") }
        let avg = SequenceLogProbs.averages(SequenceLogProbs.sums(model: model, rows: batch.rows), rows: batch.rows)
        let weight = PairMetrics.floats(w)
        let pc = avg.take(PairMetrics.indices(c), axis: 0), pr = avg.take(PairMetrics.indices(r), axis: 0)
        let (perPair, nll, logOdds) = Self.losses(chosenAverage: pc, rejectedAverage: pr, lambda: lambda)
        var metrics = PairMetrics.make(chosen: pc * lambda, rejected: pr * lambda, weight: weight)
        metrics["nll"] = (nll.stopGradient() * weight).sum()
        metrics["log_odds_ratio"] = (logOdds.stopGradient() * weight).sum()
        return ObjectiveOutput(sum: (perPair * weight).sum(), count: Tensor(Double(batch.unitCount)), metrics: metrics)
    }
}
