import NN
import Tensor

/// Weight-decomposed low-rank adaptation (Liu et al. 2024): the adapted weight
/// W' = m · (W + scale·B·A) / ‖W + scale·B·A‖, with the norm taken per output feature (along the
/// input axis) and a learned magnitude m [out] initialised to that norm, as in Hugging Face PEFT.
///
/// The norm is treated as a constant for gradients (the paper's §4.3, and PEFT), so
/// y = b + m/‖W+ΔW‖ · (x Wᵀ + scale · x Aᵀ Bᵀ): the bias is added after the rescaling, not scaled.
/// With dropout, the rescaled part uses the dropped-out input (PEFT does the same).
public final class DoRA: Module, LowRankAdapter, @unchecked Sendable {
    @Parameter public var loraA: Tensor
    @Parameter public var loraB: Tensor
    @Parameter public var magnitude: Tensor
    public let dropout: Dropout?
    public let rank: Int
    public let alpha: Double
    public let scale: Double
    public private(set) var isMerged = false
    public var isEnabled = true
    /// The norm used by the last merge: unmerging must divide by the same value.
    private var mergedNorm: Tensor?

    /// Builds the factors as `LoRA` does and sets m to ‖W + scale·B·A‖ of `layer`'s weight, so the
    /// adapted layer starts out computing exactly what the base layer does.
    public init(layer: any LinearLayer, rank: Int, alpha: Double, rsLoRA: Bool = false, dropout: Double = 0,
                initialization: PEFTConfig.LoRAInitialization = .standard, dtype: DType = .float32, key: RandomKey) {
        precondition(rank > 0, "DoRA rank must be positive")
        let keys = key.split()
        let (a, b) = initialFactors(rank: rank, inputs: layer.inputDimensions, outputs: layer.outputDimensions,
                                    initialization: initialization, dtype: dtype, key: keys[0])
        let scale = rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        _loraA = Parameter(wrappedValue: a, key: "lora_A")
        _loraB = Parameter(wrappedValue: b, key: "lora_B")
        _magnitude = Parameter(wrappedValue: Self.rowNorms(layer.denseWeight().asType(dtype) + matmul(b, a) * scale),
                               key: "lora_magnitude_vector")
        // Masks come from the global generator, which the trainer reseeds every step, so a
        // resumed run draws the same masks as an uninterrupted one.
        self.dropout = dropout > 0 ? Dropout(dropout) : nil
        self.rank = rank
        self.alpha = alpha
        self.scale = scale
        super.init()
    }

    /// ‖W + scale·B·A‖ for each output feature, [out].
    public func weightNorm(_ weight: Tensor) -> Tensor {
        Self.rowNorms(weight.asType(loraA.dtype) + deltaWeight())
    }

    /// The L2 norm of each row of [out, in]: one per output feature.
    static func rowNorms(_ w: Tensor) -> Tensor { w.square().sum(axis: 1).sqrt() }

    public func callAsFunction(_ x: Tensor, base: Tensor, layer: any LinearLayer) -> Tensor {
        if isMerged || !isEnabled { return base }
        let weight = layer.denseWeight().asType(loraA.dtype)
        let factor = magnitude / weightNorm(weight).stopGradient()
        let dropping = dropout != nil && training
        let input = adapterInput(x, dropout: dropout)
        // x Wᵀ without the bias: from the base output when the input is the same, which saves a
        // matmul; recomputed on the dropped-out input otherwise.
        let plain: Tensor
        let (known, bias) = linearBias(layer)
        if !dropping && known {
            plain = (bias.map { base - $0 } ?? base).asType(loraA.dtype)
        } else {
            plain = matmul(input.asType(loraA.dtype), weight.T)
        }
        let change = (factor - 1) * plain + factor * update(input)
        return base + change.asType(base.dtype)
    }

    public var peftTensorNames: [(parameter: String, file: String)] {
        // PEFT stores the magnitude without a ".weight" suffix.
        [("lora_A", "lora_A.weight"), ("lora_B", "lora_B.weight"), ("lora_magnitude_vector", "lora_magnitude_vector")]
    }

    public func merge(into base: Tensor) -> Tensor {
        let w = base.asType(loraA.dtype) + deltaWeight()
        let norm = Self.rowNorms(w)
        mergedNorm = norm
        isMerged = true
        return ((magnitude / norm).expandedDims(1) * w).asType(base.dtype)
    }

    public func unmerge(from merged: Tensor) -> Tensor {
        guard isMerged, let norm = mergedNorm else { preconditionFailure("unmerge(from:) on an adapter that is not merged") }
        mergedNorm = nil
        isMerged = false
        return (merged.asType(loraA.dtype) * (norm / magnitude).expandedDims(1) - deltaWeight()).asType(merged.dtype)
    }
}
