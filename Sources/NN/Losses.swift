import Tensor

/// Loss functions. Each returns a scalar unless said otherwise.
public enum Losses {
    /// Token-level cross-entropy of `logits` [..., V] against `targets` [...], averaged over the
    /// positions where `mask` is true (all positions when nil). Also returns the summed loss and
    /// the number of counted positions, which gradient accumulation needs.
    public static func crossEntropy(logits: Tensor, targets: Tensor, mask: Tensor? = nil) -> (mean: Tensor, sum: Tensor, count: Tensor) {
        let perToken = crossEntropyPerToken(logits: logits, targets: targets)
        guard let mask else {
            let n = Tensor(Double(perToken.size))
            let s = perToken.sum()
            return (s / n, s, n)
        }
        let m = mask.asType(perToken.dtype)
        let s = (perToken * m).sum()
        let n = m.sum()
        return (s / maximum(n, 1), s, n)
    }

    /// Cross-entropy per position: logsumexp(logits) - logits[target].
    public static func crossEntropyPerToken(logits: Tensor, targets: Tensor) -> Tensor {
        let lse = logits.logSumExp(axis: -1)
        let picked = logits.takeAlong(targets.expandedDims(-1), axis: -1).squeezed(-1)
        return lse - picked
    }

    /// Cross-entropy with an ignore value in the targets (the HF convention, -100).
    public static func crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex: Int) -> Tensor {
        let mask = targets .!= Tensor(ignoreIndex, dtype: targets.dtype)
        let safe = select(mask, targets, Tensor(0, dtype: targets.dtype))
        return crossEntropy(logits: logits, targets: safe, mask: mask).mean
    }

    public static func mse(_ prediction: Tensor, _ target: Tensor) -> Tensor { (prediction - target).square().mean() }

    /// -log σ(x), averaged: the pairwise preference / Bradley–Terry loss on reward differences.
    public static func negativeLogSigmoid(_ x: Tensor) -> Tensor { -logSigmoid(x).mean() }

    /// Binary cross-entropy on logits.
    public static func binaryCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
        (maximum(logits, 0) - logits * targets + logAddExp(Tensor.zeros(like: logits), -logits.abs)).mean()
    }
}
