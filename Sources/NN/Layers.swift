import Tensor

/// A lookup table of vectors; also the output projection when embeddings are tied.
public final class Embedding: Module {
    @Parameter public var weight: Tensor

    public init(weight: Tensor) {
        _weight = Parameter(wrappedValue: weight)
        super.init()
    }

    public convenience init(_ count: Int, _ dimensions: Int, key: RandomKey? = nil) {
        self.init(weight: Random.normal([count, dimensions], std: 0.02, key: key))
    }

    public func callAsFunction(_ ids: Tensor) -> Tensor { weight.take(ids, axis: 0) }

    /// x Eᵀ: logits over the vocabulary for tied input/output embeddings.
    public func asLinear(_ x: Tensor) -> Tensor { matmul(x, weight.T) }
}

/// An embedding table stored quantized (GGUF Q8_0 / Q4 token embeddings).
public final class QuantizedEmbedding: Module {
    @Parameter public var weight: Tensor
    @Parameter public var scales: Tensor
    @Parameter public var biases: Tensor
    public let groupSize: Int
    public let bits: Int

    public init(_ q: QuantizedWeight) {
        _weight = Parameter(wrappedValue: q.weight)
        _scales = Parameter(wrappedValue: q.scales)
        _biases = Parameter(wrappedValue: q.biases)
        groupSize = q.groupSize
        bits = q.bits
        super.init()
        freeze()
    }

    public var quantized: QuantizedWeight {
        QuantizedWeight(weight: weight, scales: scales, biases: biases, groupSize: groupSize, bits: bits)
    }

    /// Dequantizes only the rows looked up.
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        QuantizedWeight(weight: weight.take(ids, axis: 0), scales: scales.take(ids, axis: 0),
                        biases: biases.take(ids, axis: 0), groupSize: groupSize, bits: bits).dequantized()
    }

    public func asLinear(_ x: Tensor) -> Tensor {
        let rows = x.size / Swift.max(1, x.dim(-1))
        if Engine.defaultDevice == .cpu && rows >= 8 { return matmul(x, quantized.dequantized(dtype: x.dtype).T) }
        if Engine.defaultDevice == .cpu && quantized.supportsGEMV { return quantizedGEMV(x, quantized) }
        return quantizedMatmul(x, quantized)
    }
}

/// x / rms(x) · weight.
public final class RMSNorm: Module {
    @Parameter public var weight: Tensor
    public let eps: Float

    public init(weight: Tensor, eps: Float = 1e-5) {
        _weight = Parameter(wrappedValue: weight)
        self.eps = eps
        super.init()
    }

    public convenience init(_ dimensions: Int, eps: Float = 1e-5) {
        self.init(weight: Tensor.ones([dimensions]), eps: eps)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Fast.rmsNorm(x, weight: weight, eps: eps) }
}

/// (x - mean) / std · weight + bias.
public final class LayerNorm: Module {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor
    public let eps: Float

    public init(_ dimensions: Int, eps: Float = 1e-5) {
        _weight = Parameter(wrappedValue: Tensor.ones([dimensions]))
        _bias = Parameter(wrappedValue: Tensor.zeros([dimensions]))
        self.eps = eps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Fast.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// Zeroes activations with probability `p` while training, scaling the rest by 1/(1-p).
public final class Dropout: Module {
    public let p: Double
    /// Draws come from this key sequence so that a seeded run repeats exactly.
    public var key: RandomKey?

    public init(_ p: Double = 0.5, key: RandomKey? = nil) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1)")
        self.p = p
        self.key = key
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard training, p > 0 else { return x }
        var k: RandomKey? = nil
        if let key {
            let s = key.split()
            self.key = s[0]
            k = s[1]
        }
        let keep = Random.bernoulli(1 - p, x.shape, key: k)
        return select(keep, x / (1 - p), 0)
    }
}

/// Applies modules in order.
public final class Sequential: Module {
    public let layers: [Module]
    private let apply: [(Tensor) -> Tensor]

    public init(_ layers: [(Module, (Tensor) -> Tensor)]) {
        self.layers = layers.map(\.0)
        self.apply = layers.map(\.1)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { apply.reduce(x) { $1($0) } }
}

// MARK: Activations

public func silu(_ x: Tensor) -> Tensor { x * x.sigmoid() }
public func relu(_ x: Tensor) -> Tensor { maximum(x, 0) }
/// Exact GELU: x · Φ(x).
public func gelu(_ x: Tensor) -> Tensor { x * ((x / 2.0.squareRoot()).erf() + 1) * 0.5 }
/// The tanh approximation used by GPT-2 and Gemma ("gelu_pytorch_tanh").
public func geluApproximate(_ x: Tensor) -> Tensor {
    let c = (2 / Double.pi).squareRoot()
    return x * 0.5 * ((x + x * x * x * 0.044715) * c).tanh() + x * 0.5
}
public func logSigmoid(_ x: Tensor) -> Tensor { -logAddExp(Tensor.zeros(like: x), -x) }
