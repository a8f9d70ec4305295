import LM
import NN
import Tensor

/// Supervised fine-tuning: next-token cross-entropy on the positions the data marks for loss
/// (assistant turns, completions, or everything), summed over tokens.
public struct SFTObjective: Objective {
    public init() {}

    public func loss(model: any LanguageModel, batch: TokenBatch, training: Bool) -> ObjectiveOutput {
        let hidden = model.hiddenStates(batch.inputs, embeddings: nil, options: Self.forwardOptions(batch))
        let d = hidden.dim(-1)
        let selected = hidden.reshaped(-1, d).take(batch.lossIndices, axis: 0)
        return ObjectiveOutput(sum: Self.tokenLosses(model: model, hidden: selected, targets: batch.lossTargets).sum(),
                               count: Tensor(Double(batch.lossTokenCount)))
    }

    /// Cross-entropy of next-token predictions from final hidden states [N, D]: fused with the
    /// output projection on the CPU (no [N, V] logits), through the logits elsewhere.
    public static func tokenLosses(model: any LanguageModel, hidden: Tensor, targets: Tensor) -> Tensor {
        if FusedKernels.isAvailable, let w = model.outputProjection {
            return FusedKernels.linearCrossEntropy(hidden: hidden, weight: w, targets: targets)
        }
        return Losses.crossEntropyPerToken(logits: model.logits(fromHidden: hidden), targets: targets)
    }

    /// Packed rows attend only within their own example (block-diagonal causal mask).
    public static func forwardOptions(_ batch: TokenBatch) -> ForwardOptions {
        guard let seg = batch.segments else { return ForwardOptions() }
        let (b, l) = batch.shape
        let same = seg.reshaped(b, 1, l, 1) .== seg.reshaped(b, 1, 1, l)
        return ForwardOptions(mask: .causalAnd(same), positions: batch.positions)
    }
}
