import CMLX

/// MLX's fused kernels.
public enum Fast {
    /// x / rms(x) · weight over the last axis.
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
        guard let weight else { return Tensor.op("rms_norm", x) { pt_rms_norm($0, nil, eps) } }
        return Tensor.op("rms_norm", x, weight) { pt_rms_norm($0, $1, eps) }
    }

    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return Tensor.op("layer_norm", inputs) { r in
            pt_layer_norm(r[0], weight == nil ? nil : r[1], bias == nil ? nil : r[weight == nil ? 1 : 2], eps)
        }
    }

    /// Rotary position embedding over the first `dims` features of the last axis.
    /// `traditional` rotates interleaved pairs (GGUF/GPT-J layout); otherwise the two halves (NeoX/HF).
    /// `offset` is the position of the first row; `offsets` (one per batch row) overrides it.
    public static func rope(_ x: Tensor, dims: Int, traditional: Bool, base: Float, scale: Float = 1,
                            offset: Int = 0, offsets: Tensor? = nil, freqs: Tensor? = nil) -> Tensor {
        let inputs = [x] + [offsets, freqs].compactMap { $0 }
        return Tensor.op("rope", inputs) { r in
            let o = offsets == nil ? nil : r[1]
            let f = freqs == nil ? nil : r[offsets == nil ? 1 : 2]
            return pt_rope(r[0], Int32(dims), traditional, base, scale, Int32(offset), o, f)
        }
    }

    public enum AttentionMask {
        case none
        case causal
        /// Additive float mask or boolean mask (true = attend), broadcastable to [B, H, Lq, Lk].
        case array(Tensor)
        /// Causal, further restricted by a boolean mask (packed rows, left padding): the fused
        /// kernel then skips the blocks above the diagonal.
        case causalAnd(Tensor)
    }

    /// softmax(q kᵀ · scale + mask) v with grouped-query heads: q [B, Hq, L, D], k/v [B, Hkv, S, D].
    public static func scaledDotProductAttention(queries q: Tensor, keys k: Tensor, values v: Tensor,
                                                 scale: Float, mask: AttentionMask = .none) -> Tensor {
        switch mask {
        case .none:
            return Tensor.op("sdpa", [q, k, v]) { pt_sdpa($0[0], $0[1], $0[2], scale, "", nil) }
        case .causal:
            return Tensor.op("sdpa", [q, k, v]) { pt_sdpa($0[0], $0[1], $0[2], scale, "causal", nil) }
        case .array(let m):
            return Tensor.op("sdpa", [q, k, v, m]) { pt_sdpa($0[0], $0[1], $0[2], scale, "", $0[3]) }
        case .causalAnd(let m):
            let (l, s) = (q.dim(-2), k.dim(-2))
            let qi = Tensor.arange(l).reshaped(l, 1) + Tensor(s - l, dtype: .int32)
            let causal = Tensor.arange(s).reshaped(1, s) .<= qi
            return scaledDotProductAttention(queries: q, keys: k, values: v, scale: scale, mask: .array(causal .&& m))
        }
    }

    /// Per-position cross-entropy of `logits` [..., V] against integer `targets` [...].
    public static func crossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
        Tensor.op("cross_entropy", logits, targets) { pt_cross_entropy($0, $1) }
    }
}
