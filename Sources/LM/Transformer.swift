import Foundation
import NN
import Tensor

/// Options for one forward pass.
public struct ForwardOptions {
    /// One cache per layer for incremental decoding; nil for training and scoring.
    public var cache: [KVCache]?
    /// The attention mask; nil means causal (or none for a single new position).
    public var mask: Fast.AttentionMask?
    /// RoPE position of the first input row per batch entry (left-padded batches start at -pad);
    /// nil uses the cache offset.
    public var positionOffsets: Tensor?
    /// Explicit RoPE positions [B, L] (packed rows restart at 0 for every example).
    public var positions: Tensor?

    public init(cache: [KVCache]? = nil, mask: Fast.AttentionMask? = nil, positionOffsets: Tensor? = nil,
                positions: Tensor? = nil) {
        self.cache = cache
        self.mask = mask
        self.positionOffsets = positionOffsets
        self.positions = positions
    }
}

/// A causal language model: token ids in, next-token logits out.
public protocol LanguageModel: Module {
    var config: ModelConfig { get }
    /// Final hidden states [B, L, D] for token ids [B, L], or for input embeddings [B, L, D].
    func hiddenStates(_ ids: Tensor?, embeddings: Tensor?, options: ForwardOptions) -> Tensor
    /// Logits [..., V] from hidden states.
    func logits(fromHidden h: Tensor) -> Tensor
    /// Token embeddings for ids (prompt tuning and adversarial training perturb these).
    func embed(_ ids: Tensor) -> Tensor
    func makeCache() -> [KVCache]
    /// The plain [V, D] output matrix, if the head is one (for fused losses).
    var outputProjection: Tensor? { get }
}

extension LanguageModel {
    public func callAsFunction(_ ids: Tensor, options: ForwardOptions = ForwardOptions()) -> Tensor {
        logits(fromHidden: hiddenStates(ids, embeddings: nil, options: options))
    }

    public func makeCache() -> [KVCache] { (0..<config.numHiddenLayers).map { _ in KVCache() } }

    public var outputProjection: Tensor? { nil }
}

/// Grouped-query self-attention with rotary positions.
public final class Attention: Module {
    @Child public var qProj: any LinearLayer
    @Child public var kProj: any LinearLayer
    @Child public var vProj: any LinearLayer
    @Child public var oProj: any LinearLayer
    @Child public var qNorm: RMSNorm?
    @Child public var kNorm: RMSNorm?
    let heads: Int, kvHeads: Int, headDim: Int
    let rope: RoPE
    let scale: Float

    init(_ c: ModelConfig, rope: RoPE) {
        heads = c.numAttentionHeads
        kvHeads = c.numKeyValueHeads
        headDim = c.headDim
        self.rope = rope
        scale = 1 / Float(c.headDim).squareRoot()
        let d = c.hiddenSize
        _qProj = Child(wrappedValue: Linear(d, heads * headDim, bias: c.attentionBias), key: "q_proj")
        _kProj = Child(wrappedValue: Linear(d, kvHeads * headDim, bias: c.attentionBias), key: "k_proj")
        _vProj = Child(wrappedValue: Linear(d, kvHeads * headDim, bias: c.attentionBias), key: "v_proj")
        _oProj = Child(wrappedValue: Linear(heads * headDim, d, bias: false), key: "o_proj")
        _qNorm = Child(wrappedValue: c.qkNorm ? RMSNorm(c.headDim, eps: Float(c.rmsNormEps)) : nil, key: "q_norm")
        _kNorm = Child(wrappedValue: c.qkNorm ? RMSNorm(c.headDim, eps: Float(c.rmsNormEps)) : nil, key: "k_norm")
        super.init()
    }

    func callAsFunction(_ x: Tensor, cache: KVCache?, mask: Fast.AttentionMask, offsets: Tensor?, positions: Tensor? = nil) -> Tensor {
        let (b, l) = (x.dim(0), x.dim(1))
        var q = qProj(x).reshaped(b, l, heads, headDim)
        var k = kProj(x).reshaped(b, l, kvHeads, headDim)
        let v = vProj(x).reshaped(b, l, kvHeads, headDim).transposed(0, 2, 1, 3)
        if let qNorm, let kNorm {
            q = qNorm(q)
            k = kNorm(k)
        }
        q = q.transposed(0, 2, 1, 3)
        k = k.transposed(0, 2, 1, 3)
        let start = cache?.offset ?? 0
        if let positions {
            q = rope(q, positions: positions)
            k = rope(k, positions: positions)
        } else {
            q = rope(q, offset: start, offsets: offsets)
            k = rope(k, offset: start, offsets: offsets)
        }
        var keys = k, values = v
        if let cache { (keys, values) = cache.update(keys: k, values: v) }
        let out: Tensor
        if l > 1 && FusedKernels.isAvailable {
            // Training and prefill on the CPU: our fused kernel never builds the [B, H, L, S] scores.
            switch mask {
            case .none: out = FusedKernels.attention(queries: q, keys: keys, values: values, scale: scale, causal: false)
            case .causal: out = FusedKernels.attention(queries: q, keys: keys, values: values, scale: scale, causal: true)
            case .array(let m): out = FusedKernels.attention(queries: q, keys: keys, values: values, scale: scale, causal: false, mask: m)
            case .causalAnd(let m): out = FusedKernels.attention(queries: q, keys: keys, values: values, scale: scale, causal: true, mask: m)
            }
        } else {
            out = Fast.scaledDotProductAttention(queries: q, keys: keys, values: values, scale: scale, mask: mask)
        }
        return oProj(out.transposed(0, 2, 1, 3).reshaped(b, l, heads * headDim))
    }
}

/// Rotary position embedding with the config's base, layout and scaling.
struct RoPE {
    let dims: Int
    let traditional: Bool
    let base: Float
    let scale: Float
    let freqs: Tensor?

    init(_ c: ModelConfig) {
        dims = c.headDim
        traditional = c.ropeTraditional
        var base = Float(c.ropeTheta)
        var scale: Float = 1
        var freqs: Tensor? = nil
        if let s = c.ropeScaling {
            switch s.type {
            case "linear": scale = Float(1 / s.factor)
            case "llama3": freqs = RoPE.llama3Frequencies(c, s)
            case "dynamic", "ntk": base = base * Float(Foundation.pow(s.factor, Double(c.headDim) / Double(c.headDim - 2)))
            default: break
            }
        }
        self.base = base
        self.scale = scale
        self.freqs = freqs
    }

    /// Llama 3.1's wavelength-dependent frequency scaling.
    static func llama3Frequencies(_ c: ModelConfig, _ s: ModelConfig.RopeScaling) -> Tensor {
        let low = s.lowFreqFactor ?? 1, high = s.highFreqFactor ?? 4
        let old = Double(s.originalMaxPositionEmbeddings ?? 8192)
        let lowWavelen = old / low, highWavelen = old / high
        var out: [Float] = []
        for i in stride(from: 0, to: c.headDim, by: 2) {
            let freq = Foundation.pow(c.ropeTheta, Double(i) / Double(c.headDim))
            let wavelen = 2 * Double.pi * freq
            if wavelen < highWavelen {
                out.append(Float(freq))
            } else if wavelen > lowWavelen {
                out.append(Float(freq * s.factor))
            } else {
                let smooth = (old / wavelen - low) / (high - low)
                out.append(Float(freq / ((1 - smooth) / s.factor + smooth)))
            }
        }
        return Tensor(out)
    }

    func callAsFunction(_ x: Tensor, offset: Int, offsets: Tensor?) -> Tensor {
        Fast.rope(x, dims: dims, traditional: traditional, base: base, scale: scale,
                  offset: offset, offsets: offsets.map { $0 + Tensor(offset, dtype: $0.dtype) }, freqs: freqs)
    }

    /// RoPE at arbitrary positions [B, L] for x [B, H, L, D], from cos/sin tables: the fused
    /// kernel only takes one starting offset per row.
    func callAsFunction(_ x: Tensor, positions: Tensor) -> Tensor {
        let half = dims / 2
        let inverse: Tensor
        if let freqs {
            inverse = 1.0 / freqs
        } else {
            let exps = (0..<half).map { Float(Foundation.pow(Double(base), -Double(2 * $0) / Double(dims))) }
            inverse = Tensor(exps)
        }
        let angles = (positions.asType(.float32) * Double(scale)).expandedDims(-1) * inverse  // [B, L, half]
        let cos = angles.cos().expandedDims(1).asType(x.dtype), sin = angles.sin().expandedDims(1).asType(x.dtype)
        let rotated = x[.ellipsis, 0..<dims]
        let out: Tensor
        if traditional {
            let pairs = rotated.reshaped(Array(x.shape.dropLast()) + [half, 2])
            let a = pairs[.ellipsis, 0], b = pairs[.ellipsis, 1]
            out = stacked([a * cos - b * sin, a * sin + b * cos], axis: -1).reshaped(Array(x.shape.dropLast()) + [dims])
        } else {
            let a = rotated[.ellipsis, 0..<half], b = rotated[.ellipsis, half...]
            out = concatenated([a * cos - b * sin, a * sin + b * cos], axis: -1)
        }
        if dims == x.dim(-1) { return out }
        return concatenated([out, x[.ellipsis, dims...]], axis: -1)
    }
}

/// down(silu(gate(x)) · up(x)).
public final class GatedMLP: Module {
    @Child public var gateProj: any LinearLayer
    @Child public var upProj: any LinearLayer
    @Child public var downProj: any LinearLayer

    init(_ c: ModelConfig) {
        _gateProj = Child(wrappedValue: Linear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias), key: "gate_proj")
        _upProj = Child(wrappedValue: Linear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias), key: "up_proj")
        _downProj = Child(wrappedValue: Linear(c.intermediateSize, c.hiddenSize, bias: c.mlpBias), key: "down_proj")
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let g = gateProj(x), u = upProj(x)
        // While training, keep only g and u for the backward pass and recompute silu(g)·u
        // there: the sigmoid, its product and the gated product are the largest activations of
        // a step (three [B, L, intermediate] tensors per layer).
        if training, let h = try? GatedMLP.swiglu([g, u]).first { return downProj(h) }
        return downProj(silu(g) * u)
    }

    nonisolated(unsafe) static let swiglu = try! CompiledFunction(checkpointing: { xs in [silu(xs[0]) * xs[1]] })
}

/// Pre-norm block: x + attn(norm(x)), then + mlp(norm(·)).
public final class DecoderBlock: Module {
    @Child public var attention: Attention
    @Child public var mlp: GatedMLP
    @Child public var inputNorm: RMSNorm
    @Child public var postAttentionNorm: RMSNorm

    init(_ c: ModelConfig, rope: RoPE) {
        _attention = Child(wrappedValue: Attention(c, rope: rope), key: "self_attn")
        _mlp = Child(wrappedValue: GatedMLP(c), key: "mlp")
        _inputNorm = Child(wrappedValue: RMSNorm(c.hiddenSize, eps: Float(c.rmsNormEps)), key: "input_layernorm")
        _postAttentionNorm = Child(wrappedValue: RMSNorm(c.hiddenSize, eps: Float(c.rmsNormEps)), key: "post_attention_layernorm")
        super.init()
    }

    func callAsFunction(_ x: Tensor, cache: KVCache?, mask: Fast.AttentionMask, offsets: Tensor?, positions: Tensor?) -> Tensor {
        let h = x + attention(inputNorm(x), cache: cache, mask: mask, offsets: offsets, positions: positions)
        return h + mlp(postAttentionNorm(h))
    }
}

/// The embedding, the blocks and the final norm: HF's `model.` prefix.
public final class DecoderStack: Module {
    @Child public var embedTokens: Module
    public let layers: [DecoderBlock]
    @Child public var norm: RMSNorm

    init(_ c: ModelConfig) {
        let rope = RoPE(c)
        _embedTokens = Child(wrappedValue: Embedding(c.vocabSize, c.hiddenSize), key: "embed_tokens")
        layers = (0..<c.numHiddenLayers).map { _ in DecoderBlock(c, rope: rope) }
        _norm = Child(wrappedValue: RMSNorm(c.hiddenSize, eps: Float(c.rmsNormEps)), key: "norm")
        super.init()
    }
}
