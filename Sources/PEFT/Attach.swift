import NN
import Tensor

extension Adapters {
    /// Freezes every parameter of `model` and puts a fresh LoRA (or DoRA, with `use_dora`) adapter
    /// on each linear layer the config selects, so that only adapter parameters train afterwards.
    ///
    /// - Parameters:
    ///   - key: draws the A factors; the same key gives the same adapters (dropout masks come from
    ///     the global generator, which the trainer reseeds every step).
    ///   - dtype: the adapters' parameter dtype (float32 keeps small updates exact on a bf16 base).
    /// - Returns: the module paths that got adapters, in model order.
    /// - Throws: `PEFTError` for configs this implementation does not support, when nothing
    ///   matches (naming the selection and the linear modules that exist), or when a selected
    ///   layer already carries an adapter. The model is left untouched when it throws.
    @discardableResult
    public static func attach(_ config: PEFTConfig, to model: Module, key: RandomKey, dtype: DType = .float32) throws -> [String] {
        try config.validate()
        let selector = try TargetSelector(config)
        let linears = linearLayers(of: model)
        let chosen = linears.filter { selector.selects($0.path) }
        guard !chosen.isEmpty else {
            throw PEFTError.noTargetModules(selection: describe(config), available: examples(linears.map(\.path)))
        }
        if let taken = chosen.first(where: { $0.layer.adapter != nil }) {
            throw PEFTError.alreadyAdapted(taken.path)
        }
        // One layer reachable under two paths would get one adapter counted (and trained) twice.
        var firstPath: [ObjectIdentifier: String] = [:]
        for (path, layer) in chosen {
            if let other = firstPath.updateValue(path, forKey: ObjectIdentifier(layer)) {
                throw PEFTError.unsupportedConfig("\(other) and \(path) are the same layer; adapt it under one path (exclude_modules)")
            }
        }
        model.freeze()
        let keys = key.split(chosen.count)
        var created: [Tensor] = []
        for ((path, layer), k) in zip(chosen, keys) {
            let rank = selector.rank(path), alpha = selector.alpha(path)
            let adapter: any LowRankAdapter
            if config.useDora {
                adapter = DoRA(layer: layer, rank: rank, alpha: alpha, rsLoRA: config.useRslora, dropout: config.loraDropout,
                               initialization: config.initLoraWeights, dtype: dtype, key: k)
            } else {
                adapter = LoRA(inputDimensions: layer.inputDimensions, outputDimensions: layer.outputDimensions,
                               rank: rank, alpha: alpha, rsLoRA: config.useRslora, dropout: config.loraDropout,
                               initialization: config.initLoraWeights, dtype: dtype, key: k)
            }
            // A new module starts in training mode; follow the layer's mode instead.
            adapter.train(layer.training)
            layer.adapter = adapter
            created.append(contentsOf: adapter.parameters().values)
        }
        // Materialise the initial values now rather than inside the first training step's graph.
        try eval(created)
        return chosen.map(\.path)
    }

    /// "target_modules [q_proj, v_proj] with layers_to_transform [40]" for error messages.
    static func describe(_ config: PEFTConfig) -> String {
        var s = "target_modules \(config.targetModules?.summary ?? "null")"
        if let layers = config.layersToTransform, !layers.isEmpty {
            s += " with layers_to_transform \(layers)"
            if let p = config.layersPattern, !p.isEmpty { s += " (layers_pattern \(p))" }
        }
        if let ex = config.excludeModules { s += " excluding \(ex.summary)" }
        return s
    }

    /// One example path per distinct layer name: "q_proj (model.layers.0.self_attn.q_proj)".
    static func examples(_ paths: [String], limit: Int = 10) -> [String] {
        var seen: [String: String] = [:]
        var order: [String] = []
        for p in paths {
            let name = p.split(separator: ".").last.map(String.init) ?? p
            if seen[name] == nil {
                seen[name] = p
                order.append(name)
            }
        }
        let shown = order.prefix(limit).map { seen[$0]! == $0 ? $0 : "\($0) (\(seen[$0]!))" }
        return order.count > limit ? shown + ["… \(order.count - limit) more names"] : shown
    }
}
