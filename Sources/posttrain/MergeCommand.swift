import ArgumentParser
import Foundation
import LM
import PEFT
import Tensor

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold an adapter into its base model and write a Hugging Face model directory.")

    @Option(help: "The base model: a GGUF file, a Hugging Face directory or an installed alias.")
    var model: String = ModelLoader.defaultModel
    @Option(help: "The adapter folder (adapter_config.json + adapter_model.safetensors).") var adapter: String
    @Option(help: "Where to write the merged model.") var output: String
    @Option(help: "float32, bfloat16 or float16.") var dtype: String = "float32"

    func run() throws {
        guard let dt = DType(rawValue: dtype), dt.isFloatingPoint else {
            throw ValidationError("--dtype must be float32, bfloat16 or float16")
        }
        let loaded = try ModelLoader.load(model, options: LoadOptions(dtype: .float32))
        try Adapters.load(from: adapter, into: loaded.model, trainable: false)
        let merged = try Adapters.merge(loaded.model)
        try HFExport.save(loaded, to: URL(fileURLWithPath: output), dtype: dt)
        print("merged \(merged.count) adapted layers into \(loaded.source.lastPathComponent); wrote \(output)")
    }
}
