import Foundation
import NN
import Tensor

extension Adapters {
    /// Writes the adapters of `model` to `directory` as Hugging Face PEFT does: the config to
    /// `adapter_config.json` (with `inference_mode` true, sorted keys) and the adapter tensors to
    /// `adapter_model.safetensors`. Each file is written atomically, so an interrupted save never
    /// leaves a torn file behind.
    ///
    /// - Throws: `PEFTError.unsupportedConfig` when `config` does not describe the attached
    ///   adapters (other layers, ranks, scaling or variant): the files would not load back.
    public static func save(adapterOf model: Module, config: PEFTConfig, to directory: String) throws {
        try config.validate()
        let adapted = adaptedLayers(of: model)
        guard !adapted.isEmpty else { throw PEFTError.unsupportedConfig("the model has no adapters to save") }
        try checkDescribes(config, adapted, linearLayers(of: model).map(\.path))

        var tensors: [String: Tensor] = [:]
        for (path, _, adapter) in adapted {
            let params = adapter.parameters()
            for (parameter, suffix) in adapter.peftTensorNames {
                tensors[fileKey(modulePath: path, suffix: suffix)] = params[parameter]!
            }
        }
        let dir = URL(fileURLWithPath: directory)
        // PEFT's loaders look for {"format": "pt"} in the header.
        try TensorIO.saveSafetensors(tensors, to: dir.appendingPathComponent(weightsFileName).path, metadata: ["format": "pt"])

        var saved = config
        saved.inferenceMode = true
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(try encoder.encode(saved), to: dir.appendingPathComponent(configFileName).path)
    }

    /// Checks that loading `config` onto the same model would recreate exactly these adapters.
    static func checkDescribes(_ config: PEFTConfig, _ adapted: [(path: String, layer: any LinearLayer, adapter: any LowRankAdapter)],
                               _ linearPaths: [String]) throws {
        let selector = try TargetSelector(config)
        let selected = Set(linearPaths.filter(selector.selects))
        let actual = Set(adapted.map(\.path))
        if selected != actual {
            let extra = actual.subtracting(selected).sorted(), missing = selected.subtracting(actual).sorted()
            var why: [String] = []
            if !extra.isEmpty { why.append("adapted but not selected: \(extra.prefix(3).joined(separator: ", "))") }
            if !missing.isEmpty { why.append("selected but not adapted: \(missing.prefix(3).joined(separator: ", "))") }
            throw PEFTError.unsupportedConfig("the config does not describe the attached adapters (\(why.joined(separator: "; ")))")
        }
        for (path, _, adapter) in adapted {
            let rank = selector.rank(path)
            let scale = config.scale(rank: rank, alpha: selector.alpha(path))
            if (adapter is DoRA) != config.useDora {
                throw PEFTError.unsupportedConfig("\(path) has a \(adapter is DoRA ? "DoRA" : "LoRA") adapter but use_dora is \(config.useDora)")
            }
            if adapter.rank != rank || Swift.abs(adapter.scale - scale) > 1e-12 * Swift.max(1, Swift.abs(scale)) {
                throw PEFTError.unsupportedConfig("\(path) has rank \(adapter.rank) and scaling \(adapter.scale), the config gives rank \(rank) and scaling \(scale)")
            }
        }
    }
}
