import Tensor

/// Something added to a linear layer's output: LoRA, DoRA and other adapters (see PEFT).
/// `base` is the frozen layer's own output for `x`.
public protocol LinearAdapter: Module {
    func callAsFunction(_ x: Tensor, base: Tensor, layer: any LinearLayer) -> Tensor
}

/// What adapters need to know of the layer they sit on.
public protocol LinearLayer: Module {
    var inputDimensions: Int { get }
    var outputDimensions: Int { get }
    var adapter: (any LinearAdapter)? { get set }
    /// The weight as a float matrix [out, in] (dequantized for quantized layers).
    func denseWeight() -> Tensor
    /// The layer without its adapter.
    func baseForward(_ x: Tensor) -> Tensor
}

extension LinearLayer {
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = baseForward(x)
        guard let adapter else { return y }
        return adapter(x, base: y, layer: self)
    }
}

/// y = x Wᵀ + b, with W stored [out, in] as in PyTorch/HF checkpoints.
public final class Linear: Module, LinearLayer {
    @Parameter public var weight: Tensor
    public var bias: Parameter?
    public var adapter: (any LinearAdapter)?

    public init(weight: Tensor, bias: Tensor? = nil) {
        self._weight = Parameter(wrappedValue: weight)
        self.bias = bias.map { Parameter(wrappedValue: $0, key: "bias") }
        super.init()
    }

    /// Uniform(-1/√in, 1/√in) initialisation, as PyTorch does.
    public convenience init(_ inputDimensions: Int, _ outputDimensions: Int, bias: Bool = true, key: RandomKey? = nil) {
        let bound = 1 / Double(inputDimensions).squareRoot()
        // Without a key the global generator is used, so `Random.seed` makes models repeatable.
        let keys = key?.split()
        self.init(weight: Random.uniform([outputDimensions, inputDimensions], low: -bound, high: bound, key: keys?[0]),
                  bias: bias ? Random.uniform([outputDimensions], low: -bound, high: bound, key: keys?[1]) : nil)
    }

    public var inputDimensions: Int { weight.dim(1) }
    public var outputDimensions: Int { weight.dim(0) }
    public func denseWeight() -> Tensor { weight }

    public func baseForward(_ x: Tensor) -> Tensor {
        if let b = bias?.value { return addmm(b, x, weight.T) }
        return matmul(x, weight.T)
    }
}

/// A linear layer whose weight is kept quantized (QLoRA's frozen base, GGUF Q4/Q8 weights).
public final class QuantizedLinear: Module, LinearLayer {
    @Parameter public var weight: Tensor
    @Parameter public var scales: Tensor
    @Parameter public var biases: Tensor
    public var bias: Parameter?
    public let groupSize: Int
    public let bits: Int
    public var adapter: (any LinearAdapter)?
    /// On CPU MLX's quantized matmul is scalar code; for many rows at once dequantizing and using
    /// sgemm is far faster. Rows at or above this count take the dequantize path.
    public var dequantizeAboveRows = 8

    public init(_ q: QuantizedWeight, bias: Tensor? = nil) {
        _weight = Parameter(wrappedValue: q.weight)
        _scales = Parameter(wrappedValue: q.scales)
        _biases = Parameter(wrappedValue: q.biases)
        self.bias = bias.map { Parameter(wrappedValue: $0, key: "bias") }
        groupSize = q.groupSize
        bits = q.bits
        super.init()
        freeze(["weight", "scales", "biases"])
    }

    /// Quantizes a float linear layer.
    public convenience init(_ linear: Linear, groupSize: Int = 64, bits: Int = 4) {
        self.init(QuantizedWeight(linear.weight, groupSize: groupSize, bits: bits), bias: linear.bias?.value)
    }

    public var quantized: QuantizedWeight {
        QuantizedWeight(weight: weight, scales: scales, biases: biases, groupSize: groupSize, bits: bits)
    }

    public var inputDimensions: Int { weight.dim(1) * 32 / bits }
    public var outputDimensions: Int { weight.dim(0) }
    public func denseWeight() -> Tensor { quantized.dequantized() }

    public func baseForward(_ x: Tensor) -> Tensor {
        let rows = x.size / Swift.max(1, x.dim(-1))
        var y: Tensor
        if Engine.defaultDevice == .cpu && rows >= dequantizeAboveRows {
            y = matmul(x, quantized.dequantized(dtype: x.dtype).T)
        } else if Engine.defaultDevice == .cpu && quantized.supportsGEMV {
            y = quantizedGEMV(x, quantized)  // SIMD, multithreaded; MLX's CPU kernel is scalar
        } else {
            y = quantizedMatmul(x, quantized)
        }
        if let b = bias?.value { y = y + b }
        return y
    }
}
