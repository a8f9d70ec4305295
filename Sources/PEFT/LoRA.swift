import NN
import Tensor

/// Low-rank adaptation (Hu et al. 2021): y = base(x) + scale · dropout(x) Aᵀ Bᵀ.
///
/// Sits in a `LinearLayer`'s `adapter` slot, so it works the same on a float `Linear` and on a
/// frozen 4-bit `QuantizedLinear` (QLoRA): the base output is computed by the layer, the update
/// here in the adapter's own dtype (float32 by default). B starts at zero, so attaching changes
/// nothing until training moves B.
public final class LoRA: Module, LowRankAdapter, @unchecked Sendable {
    @Parameter public var loraA: Tensor
    @Parameter public var loraB: Tensor
    public let dropout: Dropout?
    public let rank: Int
    public let alpha: Double
    public let scale: Double
    public private(set) var isMerged = false
    public var isEnabled = true

    /// - Parameters:
    ///   - rsLoRA: scale by alpha/√r (rank-stabilised) instead of alpha/r.
    ///   - dropout: probability of dropping each input element of the update while training.
    ///   - key: draws A.
    public init(inputDimensions: Int, outputDimensions: Int, rank: Int, alpha: Double, rsLoRA: Bool = false,
                dropout: Double = 0, initialization: PEFTConfig.LoRAInitialization = .standard,
                dtype: DType = .float32, key: RandomKey) {
        precondition(rank > 0, "LoRA rank must be positive")
        let keys = key.split()
        let (a, b) = initialFactors(rank: rank, inputs: inputDimensions, outputs: outputDimensions,
                                    initialization: initialization, dtype: dtype, key: keys[0])
        _loraA = Parameter(wrappedValue: a, key: "lora_A")
        _loraB = Parameter(wrappedValue: b, key: "lora_B")
        // Masks come from the global generator, which the trainer reseeds every step, so a
        // resumed run draws the same masks as an uninterrupted one.
        self.dropout = dropout > 0 ? Dropout(dropout) : nil
        self.rank = rank
        self.alpha = alpha
        self.scale = rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        super.init()
    }

    public func callAsFunction(_ x: Tensor, base: Tensor, layer: any LinearLayer) -> Tensor {
        if isMerged || !isEnabled { return base }
        return base + update(adapterInput(x, dropout: dropout)).asType(base.dtype)
    }

    public var peftTensorNames: [(parameter: String, file: String)] {
        [("lora_A", "lora_A.weight"), ("lora_B", "lora_B.weight")]
    }

    public func merge(into base: Tensor) -> Tensor {
        isMerged = true
        return (base.asType(loraA.dtype) + deltaWeight()).asType(base.dtype)
    }

    public func unmerge(from merged: Tensor) -> Tensor {
        precondition(isMerged, "unmerge(from:) on an adapter that is not merged")
        isMerged = false
        return (merged.asType(loraA.dtype) - deltaWeight()).asType(merged.dtype)
    }
}
