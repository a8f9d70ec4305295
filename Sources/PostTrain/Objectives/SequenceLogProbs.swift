import LM
import NN
import PEFT
import Tensor

/// Log-probabilities of whole answers, the quantity every preference method compares.
public enum SequenceLogProbs {
    /// Sum of log p(token) over each row's answer tokens [N].
    public static func sums(model: any LanguageModel, rows: AnswerRows) -> Tensor {
        let hidden = model.hiddenStates(rows.tokens.inputs, embeddings: nil, options: ForwardOptions())
        return sums(model: model, hidden: hidden, rows: rows)
    }

    /// The same from hidden states already computed: the vocabulary projection runs only at
    /// answer positions, then one matmul with the ownership matrix sums tokens into rows.
    public static func sums(model: any LanguageModel, hidden: Tensor, rows: AnswerRows) -> Tensor {
        let selected = hidden.reshaped(-1, hidden.dim(-1)).take(rows.tokens.lossIndices, axis: 0)
        let tokenLogps = -SFTObjective.tokenLosses(model: model, hidden: selected, targets: rows.tokens.lossTargets)
        return matmul(rows.ownership, tokenLogps.expandedDims(-1)).squeezed(-1)
    }

    /// Per-token averages from sums: SimPO's and ORPO's length normalisation, IPO's log-probs.
    public static func averages(_ sums: Tensor, rows: AnswerRows) -> Tensor {
        sums / Tensor(rows.lengths.map { Float(Swift.max($0, 1)) })
    }
}

/// Where the reference policy's log-probs come from.
public enum ReferenceModel {
    /// Computed once before training and carried by every batch: no reference model in memory.
    case cached
    /// The policy with its adapters switched off: the base model, for LoRA started from scratch.
    case adaptersDisabled
    /// A separate frozen model held in memory (full fine-tuning, or a LoRA run started from an
    /// adapter, without precomputation).
    case separate(any LanguageModel)

    /// Reference log-prob sums of `rows`, never differentiated.
    public func logps(policy: any LanguageModel, rows: AnswerRows, cached: Tensor?) -> Tensor {
        switch self {
        case .cached:
            guard let cached else {
                preconditionFailure("the batch carries no reference log-probs: compute them with ReferenceLogProbs before training")
            }
            return cached
        case .adaptersDisabled:
            do {
                return try Adapters.withAdaptersDisabled(policy) { SequenceLogProbs.sums(model: policy, rows: rows) }.stopGradient()
            } catch {
                // Runs check for merged adapters before training; reaching this is a programming error.
                preconditionFailure("cannot disable the adapters for the reference pass: \(error)")
            }
        case .separate(let model):
            return SequenceLogProbs.sums(model: model, rows: rows).stopGradient()
        }
    }
}

/// Metrics of pairwise comparisons, as sums over pairs weighted by each pair's share of its unit,
/// so that the trainer's division by the unit count gives means.
enum PairMetrics {
    static func make(chosen: Tensor, rejected: Tensor, weight: Tensor) -> [String: Tensor] {
        let c = chosen.stopGradient(), r = rejected.stopGradient()
        return [
            "reward_chosen": (c * weight).sum(),
            "reward_rejected": (r * weight).sum(),
            "reward_margin": ((c - r) * weight).sum(),
            "reward_accuracy": ((c .> r).asType(.float32) * weight).sum(),
        ]
    }

    static func indices(_ rows: [Int]) -> Tensor { Tensor(rows) }
    static func floats(_ xs: [Double]) -> Tensor { Tensor(xs.map { Float($0) }) }
}
