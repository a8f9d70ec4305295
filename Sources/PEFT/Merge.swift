import NN
import Tensor

extension Adapters {
    /// Folds every adapter into its layer's weight and removes it (PEFT's `merge_and_unload`):
    /// LoRA gives W + scale·B·A, DoRA m · (W + scale·B·A) / ‖W + scale·B·A‖. The model then runs
    /// at the base model's cost and can be saved as a plain checkpoint.
    ///
    /// A quantized base (QLoRA) cannot hold the merged matrix, so its layer is replaced by a float
    /// `Linear` in `dtype` with the dequantized weight plus the update (and the same bias).
    /// Merged layers keep the frozen state of the weights they replace.
    ///
    /// - Returns: the paths of the merged layers.
    @discardableResult
    public static func merge(_ model: Module, dtype: DType = .float32) throws -> [String] {
        let adapted = adaptedLayers(of: model)
        // Check every layer first so that a failure leaves the model as it was.
        for (path, layer, adapter) in adapted where !(layer is Linear) {
            if adapter.isMerged {
                throw PEFTError.notMergeable(path: path, reason: "its adapter is marked merged but the base weight is not a float Linear")
            }
            if !linearBias(layer).known {
                throw PEFTError.notMergeable(path: path, reason: "\(type(of: layer)) layers cannot be rebuilt as a float Linear")
            }
        }
        var written: [Tensor] = []
        for (path, layer, adapter) in adapted {
            if let linear = layer as? Linear {
                if !adapter.isMerged { linear.weight = adapter.merge(into: linear.weight) }
                linear.adapter = nil
                written.append(linear.weight)
                continue
            }
            let weight = adapter.merge(into: layer.denseWeight().asType(dtype))
            let merged = Linear(weight: weight, bias: linearBias(layer).bias?.asType(dtype))
            if layer.frozenNames.contains("weight") { merged.freeze() }
            merged.train(layer.training)
            do {
                try model.replaceModule(at: path, with: merged)
            } catch {
                throw PEFTError.notMergeable(path: path, reason: "\(error)")
            }
            written.append(weight)
        }
        try eval(written)
        return adapted.map(\.path)
    }

    /// Folds the adapters into float `Linear` weights but keeps them, switched off, so that
    /// `unmerge` can restore the base weights (PEFT's `merge_adapter`): fast inference between
    /// rounds of training. Adapters already merged are left as they are.
    ///
    /// - Throws: `PEFTError.notMergeable` for adapters on quantized layers (use `merge(_:)`, which
    ///   replaces them by float layers); nothing is changed then.
    @discardableResult
    public static func mergeKeepingAdapters(_ model: Module) throws -> [String] {
        let adapted = adaptedLayers(of: model).filter { !$0.adapter.isMerged }
        if let bad = adapted.first(where: { !($0.layer is Linear) }) {
            throw PEFTError.notMergeable(path: bad.path, reason: "the base weight of \(type(of: bad.layer)) is not a float matrix; merge(_:) replaces such layers by float Linear layers")
        }
        var written: [Tensor] = []
        for (_, layer, adapter) in adapted {
            let linear = layer as! Linear
            linear.weight = adapter.merge(into: linear.weight)
            written.append(linear.weight)
        }
        try eval(written)
        return adapted.map(\.path)
    }

    /// Undoes `mergeKeepingAdapters`: subtracts each merged update from its base weight and turns
    /// the adapter back on. Exact up to float rounding.
    @discardableResult
    public static func unmerge(_ model: Module) throws -> [String] {
        let merged = adaptedLayers(of: model).filter { $0.adapter.isMerged }
        var written: [Tensor] = []
        for (path, layer, adapter) in merged {
            guard let linear = layer as? Linear else {
                throw PEFTError.notMergeable(path: path, reason: "the merged weight is not held by a float Linear")
            }
            linear.weight = adapter.unmerge(from: linear.weight)
            written.append(linear.weight)
        }
        try eval(written)
        return merged.map(\.path)
    }
}
