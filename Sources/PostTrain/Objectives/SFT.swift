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
        let logits = model.logits(fromHidden: selected)
        let perToken = Losses.crossEntropyPerToken(logits: logits, targets: batch.lossTargets)
        return ObjectiveOutput(sum: perToken.sum(), count: Tensor(Double(batch.lossTokenCount)))
    }

    /// Packed rows attend only within their own example (block-diagonal causal mask).
    public static func forwardOptions(_ batch: TokenBatch) -> ForwardOptions {
        guard let seg = batch.segments else { return ForwardOptions() }
        let (b, l) = batch.shape
        let idx = Tensor.arange(l)
        let causal = idx.reshaped(1, 1, 1, l) .<= idx.reshaped(1, 1, l, 1)
        let same = seg.reshaped(b, 1, l, 1) .== seg.reshaped(b, 1, 1, l)
        return ForwardOptions(mask: .array(causal .&& same), positions: batch.positions)
    }
}
