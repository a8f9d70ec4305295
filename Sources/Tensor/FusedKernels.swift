import CMLX

/// Our own fused CPU kernels (CMLX's `cmlx_kernels.h`), registered in MLX as primitives with their
/// own gradients, so they compose with `valueAndGrad`, `vjp` and `compile` like any op.
///
/// On the CPU they replace the two hottest parts of a training step: attention without the
/// [B, H, L, S] score matrix (FlashAttention-style blocking, vectorised exp, several threads) and
/// the vocabulary cross-entropy without the [N, V] logits. On other devices the same calls build
/// the equivalent MLX ops, so callers may use them unconditionally; `isAvailable` says whether
/// the fused kernels themselves will run.
public enum FusedKernels {
    /// Whether calls will run the fused CPU kernels (MLX's default device is the CPU).
    public static var isAvailable: Bool { Engine.defaultDevice == .cpu }

    /// softmax(q kᵀ · scale + mask) v with grouped-query heads.
    ///
    /// - Parameters:
    ///   - queries: [B, Hq, L, D].
    ///   - keys, values: [B, Hkv, S, D] with Hq a multiple of Hkv; all three share one of float32,
    ///     float16 or bfloat16 (computed in float32, returned in that dtype).
    ///   - causal: query i sees keys j ≤ i + S − L (queries aligned to the end of the keys, as
    ///     after a cached prefix); combined with `mask` when both are given.
    ///   - mask: boolean (true = attend) or additive float mask, broadcastable to [B, Hq, L, S].
    /// - Returns: [B, Hq, L, D]. Rows that see no key at all are 0, and get no gradient.
    public static func attention(queries: Tensor, keys: Tensor, values: Tensor, scale: Float,
                                 causal: Bool, mask: Tensor? = nil) -> Tensor {
        let inputs = [queries, keys, values] + (mask.map { [$0] } ?? [])
        return op("fused_attention", inputs) { r in
            pt_fused_attention(r[0], r[1], r[2], scale, causal, mask == nil ? nil : r[3])
        }
    }

    /// Per-position cross-entropy of the logits `hidden · weightᵀ`, computed a vocabulary chunk
    /// at a time so that the [N, V] logits never exist.
    ///
    /// - Parameters:
    ///   - hidden: [..., D] final hidden states.
    ///   - weight: [V, D] output projection (the tied embedding for tied models).
    ///   - targets: integer class ids of shape [...]; ids outside 0..<V (e.g. -100) are ignored:
    ///     their loss and gradient are 0.
    /// - Returns: float32 losses of shape [...]: logsumexp(logits) − logits[target].
    public static func linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Tensor) -> Tensor {
        op("fused_linear_cross_entropy", [hidden, weight, targets]) { r in
            pt_fused_linear_cross_entropy(r[0], r[1], r[2])
        }
    }

    /// Like `Tensor.op`, but failures of these entry points carry `pt_kernels_last_error`.
    private static func op(_ name: String, _ inputs: [Tensor], _ body: ([pt_array]) -> pt_array?) -> Tensor {
        var raws: [pt_array] = []
        raws.reserveCapacity(inputs.count)
        for t in inputs {
            guard let h = t.handle else { return t }
            raws.append(h.raw)
        }
        guard let result = body(raws) else {
            return Tensor(failure: MLXError("\(name): \(String(cString: pt_kernels_last_error()))"))
        }
        return Tensor(handle: ArrayHandle(result))
    }
}
