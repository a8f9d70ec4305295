import LM
import NN
import Tensor

/// Direct preference optimisation (Rafailov et al., 2023) and the variants that share its
/// reference-relative margin h = (log π(y⁺) − log π_ref(y⁺)) − (log π(y⁻) − log π_ref(y⁻)),
/// computed as TRL's `DPOTrainer` does for each `loss_type`:
/// - sigmoid: −log σ(βh); with label smoothing ε, conservative DPO (cDPO):
///   −(1 − ε) log σ(βh) − ε log σ(−βh).
/// - ipo: (h − 1/(2β))² on per-token *average* log-probs (Azar et al., 2023).
/// - hinge: max(0, 1 − βh) (SLiC).
/// - robust: (−(1 − ε) log σ(βh) + ε log σ(−βh)) / (1 − 2ε) (Chowdhury et al., 2024).
/// The implicit rewards β(log π − log π_ref) of each side are logged with their margin and the
/// fraction of pairs where the chosen one is higher.
public struct DPOObjective: Objective {
    public enum LossType: String, Codable, Sendable, CaseIterable { case sigmoid, ipo, hinge, robust }

    public var lossType: LossType
    public var beta: Double
    public var labelSmoothing: Double
    public var reference: ReferenceModel

    public init(lossType: LossType = .sigmoid, beta: Double = 0.1, labelSmoothing: Double = 0, reference: ReferenceModel = .cached) {
        self.lossType = lossType
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.reference = reference
    }

    /// Per-pair losses [P] from policy and reference log-probs of the chosen and rejected answers
    /// (sums, or averages for IPO).
    public static func losses(_ type: LossType, beta: Double, labelSmoothing: Double = 0, chosen: Tensor, rejected: Tensor,
                              referenceChosen: Tensor, referenceRejected: Tensor) -> Tensor {
        let h = (chosen - referenceChosen) - (rejected - referenceRejected)
        let eps = labelSmoothing
        switch type {
        case .sigmoid:
            return -logSigmoid(h * beta) * (1 - eps) - logSigmoid(h * -beta) * eps
        case .ipo:
            return (h - 1 / (2 * beta)).square()
        case .hinge:
            return maximum(1 - h * beta, 0)
        case .robust:
            return (-logSigmoid(h * beta) * (1 - eps) + logSigmoid(h * -beta) * eps) / (1 - 2 * eps)
        }
    }

    public func loss(model: any LanguageModel, batch: PreferenceBatch, training: Bool) -> ObjectiveOutput {
        guard case .pairs(let c, let r, let w, _) = batch.layout else { preconditionFailure("DPO needs chosen/rejected pairs") }
        var policy = SequenceLogProbs.sums(model: model, rows: batch.rows)
        var ref = reference.logps(policy: model, rows: batch.rows, cached: batch.referenceLogps)
        if lossType == .ipo {
            policy = SequenceLogProbs.averages(policy, rows: batch.rows)
            ref = SequenceLogProbs.averages(ref, rows: batch.rows)
        }
        let ci = PairMetrics.indices(c), ri = PairMetrics.indices(r), weight = PairMetrics.floats(w)
        let pc = policy.take(ci, axis: 0), pr = policy.take(ri, axis: 0)
        let rc = ref.take(ci, axis: 0), rr = ref.take(ri, axis: 0)
        let perPair = Self.losses(lossType, beta: beta, labelSmoothing: labelSmoothing, chosen: pc, rejected: pr,
                                  referenceChosen: rc, referenceRejected: rr)
        var metrics = PairMetrics.make(chosen: (pc - rc) * beta, rejected: (pr - rr) * beta, weight: weight)
        metrics["logps_chosen"] = (pc.stopGradient() * weight).sum()
        metrics["logps_rejected"] = (pr.stopGradient() * weight).sum()
        return ObjectiveOutput(sum: (perPair * weight).sum(), count: Tensor(Double(batch.unitCount)), metrics: metrics)
    }
}
