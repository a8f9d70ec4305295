import NN

/// Parameter-efficient fine-tuning of any NN `Module`: attach LoRA/DoRA adapters to its linear
/// layers (`attach`), save and load them in Hugging Face PEFT's file format (`save`, `load`),
/// fold them into the weights (`merge`, `mergeKeepingAdapters`, `unmerge`), switch them off or
/// remove them (`withAdaptersDisabled`, `unload`), count what trains (`parameterCounts`,
/// `summary`), or train everything (`enableFullFineTuning`).
///
/// Adapters live in the `adapter` slot of `Linear`/`QuantizedLinear`, so they appear in the
/// module tree as `<layer path>.adapter.lora_A` etc.: `trainableParameters()`, `update` and the
/// optimizers see them like any other parameter.
public enum Adapters {
    /// Every linear layer of `model` that carries a low-rank adapter, with its module path.
    public static func adaptedLayers(of model: Module) -> [(path: String, layer: any LinearLayer, adapter: any LowRankAdapter)] {
        model.modules().compactMap { path, module in
            guard let layer = module as? any LinearLayer, let adapter = layer.adapter as? any LowRankAdapter else { return nil }
            return (path, layer, adapter)
        }
    }

    /// Every linear layer of `model` with its module path (adapters' own sub-modules excluded).
    static func linearLayers(of model: Module) -> [(path: String, layer: any LinearLayer)] {
        model.modules().compactMap { path, module in
            guard !path.isEmpty, let layer = module as? any LinearLayer else { return nil }
            return (path, layer)
        }
    }
}
