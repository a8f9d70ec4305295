import NN
import Tensor

/// What LoRA and DoRA share: a rank-r update scale·B·A of a linear layer's weight, stored as
/// `lora_A` [r, in] and `lora_B` [out, r] as in Hugging Face PEFT. Saving, loading, merging and
/// counting work on this protocol, so they treat both variants alike.
public protocol LowRankAdapter: LinearAdapter {
    var loraA: Tensor { get set }
    var loraB: Tensor { get set }
    var rank: Int { get }
    /// alpha/r, or alpha/√r with rsLoRA.
    var scale: Double { get }
    /// True while the update is folded into the base weight (the adapter then passes the base
    /// output through unchanged).
    var isMerged: Bool { get }
    /// False to pass the base output through: the base model without removing the adapter
    /// (a DPO reference model, before/after comparisons).
    var isEnabled: Bool { get set }
    /// The checkpoint name of each adapter parameter (its key in this module) and the suffix
    /// PEFT's files give it after the module path: ("lora_A", "lora_A.weight"), ...
    var peftTensorNames: [(parameter: String, file: String)] { get }
    /// The weight that computes base + adapter in one matrix, from the float base weight [out, in];
    /// marks the adapter merged and remembers what `unmerge(from:)` needs to undo it.
    func merge(into base: Tensor) -> Tensor
    /// The base weight back from the merged one; the adapter is active again afterwards.
    /// Only valid after `merge(into:)`.
    func unmerge(from merged: Tensor) -> Tensor
}

extension LowRankAdapter {
    /// scale · B·A, [out, in]: the change LoRA makes to the weight.
    public func deltaWeight() -> Tensor { matmul(loraB, loraA) * scale }

    /// The input of the update: dropped out while training, when the adapter has dropout.
    func adapterInput(_ x: Tensor, dropout: Dropout?) -> Tensor {
        guard let dropout, training else { return x }
        return dropout(x)
    }

    /// scale · x Aᵀ Bᵀ, scaled at rank width where it is cheapest.
    func update(_ x: Tensor) -> Tensor {
        matmul(matmul(x.asType(loraA.dtype), loraA.T) * scale, loraB.T)
    }
}

/// The initial A [r, in] and B [out, r] for each of PEFT's `init_lora_weights` modes.
func initialFactors(rank r: Int, inputs: Int, outputs: Int, initialization: PEFTConfig.LoRAInitialization,
                    dtype: DType, key: RandomKey) -> (a: Tensor, b: Tensor) {
    let keys = key.split()
    // Kaiming-uniform with a = √5 (PyTorch's nn.Linear default, which PEFT uses for A) is
    // Uniform(-1/√fan_in, 1/√fan_in).
    let boundA = 1 / Double(inputs).squareRoot()
    switch initialization {
    case .standard:
        return (Random.uniform([r, inputs], low: -boundA, high: boundA, dtype: dtype, key: keys[0]),
                Tensor.zeros([outputs, r], dtype: dtype))
    case .gaussian:
        return (Random.normal([r, inputs], std: 1 / Double(r), dtype: dtype, key: keys[0]),
                Tensor.zeros([outputs, r], dtype: dtype))
    case .random:
        let boundB = 1 / Double(r).squareRoot()
        return (Random.uniform([r, inputs], low: -boundA, high: boundA, dtype: dtype, key: keys[0]),
                Random.uniform([outputs, r], low: -boundB, high: boundB, dtype: dtype, key: keys[1]))
    }
}

/// The bias of a linear layer, or nil when it has none or its kind is unknown.
func linearBias(_ layer: any LinearLayer) -> (known: Bool, bias: Tensor?) {
    switch layer {
    case let l as Linear: (true, l.bias?.value)
    case let q as QuantizedLinear: (true, q.bias?.value)
    default: (false, nil)
    }
}
