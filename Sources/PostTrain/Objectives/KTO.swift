import LM
import NN
import Tensor

/// Kahneman–Tversky optimisation (Ethayarajh et al., 2024) on answers labelled desirable or
/// not, as TRL's `KTOTrainer` computes it. With r = log π(y|x) − log π_ref(y|x) and the reference
/// point z = max(0, KL estimate) (no gradient):
///   desirable:   λ_D (1 − σ(β(r − z)))
///   undesirable: λ_U (1 − σ(β(z − r)))
/// The KL estimate is the batch mean of r over mismatched pairs (each prompt with another unit's
/// answer); without them z = 0.
public struct KTOObjective: Objective {
    public var beta: Double
    public var desirableWeight: Double
    public var undesirableWeight: Double
    /// Estimate z from the batch's mismatched rows (false: z = 0, no extra forward pass).
    public var estimateKL: Bool
    public var reference: ReferenceModel

    public init(beta: Double = 0.1, desirableWeight: Double = 1, undesirableWeight: Double = 1, estimateKL: Bool = true,
                reference: ReferenceModel = .cached) {
        self.beta = beta
        self.desirableWeight = desirableWeight
        self.undesirableWeight = undesirableWeight
        self.estimateKL = estimateKL
        self.reference = reference
    }

    /// Per-unit losses [U] from policy and reference log-probs, labels (1 desirable, 0 not) and z.
    public static func losses(policy: Tensor, reference: Tensor, desirable: Tensor, kl: Tensor, beta: Double,
                              desirableWeight: Double = 1, undesirableWeight: Double = 1) -> Tensor {
        let r = policy - reference
        let chosen = 1 - ((r - kl) * beta).sigmoid()
        let rejected = 1 - ((kl - r) * beta).sigmoid()
        return desirable * chosen * desirableWeight + (1 - desirable) * rejected * undesirableWeight
    }

    /// z: the mean log-ratio over mismatched pairs, clamped at 0, without gradient.
    public static func klEstimate(policy: Tensor, reference: Tensor) -> Tensor {
        maximum((policy - reference).mean(), 0).stopGradient()
    }

    public func loss(model: any LanguageModel, batch: PreferenceBatch, training: Bool) -> ObjectiveOutput {
        guard case .labelled(let rows, let desirable, let mismatched) = batch.layout else {
            preconditionFailure("KTO needs answers labelled desirable or not")
        }
        let index = PairMetrics.indices(rows)
        let policy = SequenceLogProbs.sums(model: model, rows: batch.rows).take(index, axis: 0)
        let ref = reference.logps(policy: model, rows: batch.rows, cached: batch.referenceLogps).take(index, axis: 0)
        var kl = Tensor(0.0)
        if estimateKL, let mrows = batch.mismatchedRows {
            let present = PairMetrics.indices(mismatched.compactMap { $0 })
            let p = SequenceLogProbs.sums(model: model, rows: mrows).stopGradient().take(present, axis: 0)
            let q = reference.logps(policy: model, rows: mrows, cached: batch.mismatchedReferenceLogps).take(present, axis: 0)
            kl = Self.klEstimate(policy: p, reference: q)
        }
        let labels = PairMetrics.floats(desirable.map { $0 ? 1 : 0 })
        let perUnit = Self.losses(policy: policy, reference: ref, desirable: labels, kl: kl, beta: beta,
                                  desirableWeight: desirableWeight, undesirableWeight: undesirableWeight)
        // Rewards of each side are means within the micro-batch, scaled by its unit count so the
        // trainer's division by units gives back the mean (micro-batches lacking a side add 0).
        let n = Double(rows.count)
        let nd = Double(desirable.filter { $0 }.count), nu = n - nd
        let rewards = ((policy - ref) * beta).stopGradient()
        let chosenMean = nd > 0 ? (rewards * labels).sum() / nd : Tensor(0.0)
        let rejectedMean = nu > 0 ? (rewards * (1 - labels)).sum() / nu : Tensor(0.0)
        let correct = select(labels .> 0.5, rewards .> kl * beta, rewards .< kl * beta).asType(.float32)
        let metrics: [String: Tensor] = [
            "reward_chosen": chosenMean * n,
            "reward_rejected": rejectedMean * n,
            "reward_margin": nd > 0 && nu > 0 ? (chosenMean - rejectedMean) * n : Tensor(0.0),
            "reward_accuracy": correct.sum(),
            "kl": kl * n,
        ]
        return ObjectiveOutput(sum: perUnit.sum(), count: Tensor(n), metrics: metrics)
    }
}
