import LM
import NN
import Tensor

/// Reward-model training on a `RewardModel` (an LM with a scalar value head):
/// - pointwise: (r − s)² to the data's scores;
/// - pairwise: Bradley–Terry, −log σ(r⁺ − r⁻ − m), with the margin m of the pair when the data
///   gives one (LLaMA 2) or the configured constant, as TRL's `RewardTrainer`;
/// - listwise: over K ranked answers, the mean of −log σ(rᵢ − rⱼ) over every pair i better than
///   j (InstructGPT's K-choose-2 comparisons, one unit per prompt; ties form no pair).
/// Optional: TRL's reward centring, c·(r⁺ + r⁻)², and an LM loss on the best answer (per-token
/// mean NLL, times `lmWeight`) as a regulariser that keeps the model a language model.
public struct RewardObjective: Objective {
    public enum Loss: String, Codable, Sendable, CaseIterable { case pointwise, pairwise, listwise }

    public var kind: Loss
    /// Margin for pairs whose data gives none.
    public var margin: Double
    public var lmWeight: Double
    public var centerRewardsCoefficient: Double

    public init(kind: Loss = .pairwise, margin: Double = 0, lmWeight: Double = 0, centerRewardsCoefficient: Double = 0) {
        self.kind = kind
        self.margin = margin
        self.lmWeight = lmWeight
        self.centerRewardsCoefficient = centerRewardsCoefficient
    }

    /// (r − s)² per answer.
    public static func pointwise(rewards: Tensor, targets: Tensor) -> Tensor { (rewards - targets).square() }

    /// −log σ(r⁺ − r⁻ − m) per pair.
    public static func pairwise(chosen: Tensor, rejected: Tensor, margin: Tensor) -> Tensor {
        -logSigmoid(chosen - rejected - margin)
    }

    /// Sum over units of the ranking loss, for rewards [N] of rows compared by pairs with their
    /// unit shares (1 per pair, 1/(pairs in the group) for a ranked group).
    public static func ranking(rewards: Tensor, chosen: [Int], rejected: [Int], weight: [Double], margin: [Double]) -> Tensor {
        let rc = rewards.take(PairMetrics.indices(chosen), axis: 0), rr = rewards.take(PairMetrics.indices(rejected), axis: 0)
        return (pairwise(chosen: rc, rejected: rr, margin: PairMetrics.floats(margin)) * PairMetrics.floats(weight)).sum()
    }

    public func loss(model: any LanguageModel, batch: PreferenceBatch, training: Bool) -> ObjectiveOutput {
        guard let rm = model as? RewardModel else { preconditionFailure("reward objectives train a RewardModel") }
        let hidden = rm.hiddenStates(batch.rows.tokens.inputs, embeddings: nil, options: ForwardOptions())
        let rewards = rm.rewards(hidden: hidden, lastIndices: batch.rows.lastIndices)
        var total: Tensor
        var metrics: [String: Tensor] = [:]
        switch batch.layout {
        case .pairs(let c, let r, let w, let m):
            let margins = m.map { $0 ?? margin }
            total = Self.ranking(rewards: rewards, chosen: c, rejected: r, weight: w, margin: margins)
            let weight = PairMetrics.floats(w)
            let rc = rewards.take(PairMetrics.indices(c), axis: 0), rr = rewards.take(PairMetrics.indices(r), axis: 0)
            if centerRewardsCoefficient > 0 {
                total = total + ((rc + rr).square() * weight).sum() * centerRewardsCoefficient
            }
            metrics = PairMetrics.make(chosen: rc, rejected: rr, weight: weight)
        case .scored(let rows, let scores):
            let predicted = rewards.take(PairMetrics.indices(rows), axis: 0)
            let squared = Self.pointwise(rewards: predicted, targets: PairMetrics.floats(scores))
            total = squared.sum()
            metrics = ["mse": squared.stopGradient().sum(), "reward_mean": predicted.stopGradient().sum()]
        case .labelled:
            preconditionFailure("reward models train on pairs, ranked groups or scores, not KTO labels")
        }
        if lmWeight > 0, !batch.bestRows.isEmpty {
            let nll = Self.bestAnswerNLL(model: rm, hidden: hidden, rows: batch.rows, best: batch.bestRows)
            total = total + nll * lmWeight
            metrics["lm_loss"] = nll.stopGradient()
        }
        return ObjectiveOutput(sum: total, count: Tensor(Double(batch.unitCount)), metrics: metrics)
    }

    /// Σ over units of the per-token mean NLL of the unit's best answer; the vocabulary
    /// projection runs only on those answers' tokens.
    static func bestAnswerNLL(model: any LanguageModel, hidden: Tensor, rows: AnswerRows, best: [Int]) -> Tensor {
        var multiplicity: [Int: Int] = [:]
        for r in best { multiplicity[r, default: 0] += 1 }
        var positions: [Int] = [], weights: [Float] = []
        for (t, r) in rows.lossRows.enumerated() {
            guard let k = multiplicity[r] else { continue }
            positions.append(t)
            weights.append(Float(k) / Float(max(1, rows.lengths[r])))
        }
        let pick = Tensor(positions)
        let selected = hidden.reshaped(-1, hidden.dim(-1)).take(rows.tokens.lossIndices.take(pick, axis: 0), axis: 0)
        let perToken = Losses.crossEntropyPerToken(logits: model.logits(fromHidden: selected),
                                                   targets: rows.tokens.lossTargets.take(pick, axis: 0))
        return (perToken * Tensor(weights)).sum()
    }
}
