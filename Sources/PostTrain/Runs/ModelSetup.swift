import Foundation
import LM
import NN
import PEFT
import Tensor

/// Loads the model a run config names and makes the right parameters trainable: adapters for
/// LoRA / QLoRA / DoRA (optionally starting from a saved adapter), everything for full tuning.
public enum ModelSetup {
    public static func load(_ config: RunConfig, log: (String) -> Void = { _ in }) throws -> (LoadedModel, PEFTConfig?) {
        let spec = config.model ?? ModelLoader.defaultModel
        // QLoRA keeps the 4-bit base as it is in the file (or quantizes an HF float model).
        var options = LoadOptions(dtype: .float32, keepQuantized: config.peft == .qlora)
        let start = Date()
        var loaded = try ModelLoader.load(spec, options: options)
        if config.peft == .qlora && !loaded.model.modules().contains(where: { $0.1 is QuantizedLinear }) {
            options.quantizeBits = 4
            loaded = try ModelLoader.load(spec, options: options)
        }
        log(String(format: "model %@ (%@, %d layers) loaded in %.1fs", loaded.source.lastPathComponent,
                   loaded.config.modelType, loaded.config.numHiddenLayers, Date().timeIntervalSince(start)))
        var peft: PEFTConfig? = nil
        switch config.peft {
        case .full:
            try Adapters.enableFullFineTuning(loaded.model)
        case .lora, .qlora, .dora:
            if let adapter = config.adapter {
                peft = try Adapters.load(from: adapter, into: loaded.model, trainable: true,
                                         key: RandomKey(seed: config.training.seed))
                log("continuing from adapter \(adapter)")
            } else {
                let layers: [Int]? = config.numLayers > 0
                    ? Array(max(0, loaded.config.numHiddenLayers - config.numLayers)..<loaded.config.numHiddenLayers) : nil
                let p = PEFTConfig(r: config.rank, loraAlpha: config.alpha ?? Double(config.rank * 2), loraDropout: config.dropout,
                                   targetModules: .names(config.targetModules), layersToTransform: layers,
                                   useDora: config.peft == .dora, baseModelNameOrPath: loaded.source.path)
                try Adapters.attach(p, to: loaded.model, key: RandomKey(seed: config.training.seed))
                peft = p
            }
        }
        if config.gradientCheckpointing, let t = loaded.model as? TransformerLM { t.gradientCheckpointing = true }
        log(Adapters.summary(loaded.model))
        return (loaded, peft)
    }

    /// Saves what was trained: the adapter in PEFT format, or for full tuning the whole model
    /// as a Hugging Face directory.
    /// Where a run saves what it trained, inside `dir` (the run folder or a checkpoint).
    public static func resultDirectory(in dir: URL, peft: PEFTConfig?) -> URL {
        dir.appendingPathComponent(peft == nil ? "model" : "adapter")
    }

    public static func saveResult(_ loaded: LoadedModel, peft: PEFTConfig?, to dir: URL) throws {
        if let peft {
            try Adapters.save(adapterOf: loaded.model, config: peft, to: dir.path)
        } else {
            try HFExport.save(loaded, to: dir)
        }
    }
}
