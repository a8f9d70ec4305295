import ArgumentParser
import Foundation
import LM
import PEFT
import Tensor

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A GGUF file, a Hugging Face directory, or an installed model alias.")
    var model: String = ModelLoader.defaultModel

    @Flag(name: .long, help: "Dequantize a quantized model's weights to float32 (more memory; slower decoding on CPU).")
    var float = false

    @Option(name: .long, help: "A LoRA/DoRA adapter folder (PEFT format) to apply; it is merged into the weights.")
    var adapter: String?

    func load() throws -> LoadedModel {
        // Quantized weights stay quantized by default: decoding reads them with a SIMD GEMV kernel.
        let loaded = try ModelLoader.load(model, options: LoadOptions(keepQuantized: !float))
        if let adapter {
            try Adapters.load(from: adapter, into: loaded.model, trainable: false)
            // Merged weights decode without the adapter's extra products; adapted quantized layers
            // become float layers (merging needs a float matrix), the others stay quantized.
            try Adapters.merge(loaded.model)
        }
        loaded.model.train(false)
        return loaded
    }
}

struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Double = 0
    @Option(name: .customLong("top-k")) var topK: Int = 0
    @Option(name: .customLong("top-p")) var topP: Double = 1
    @Option(name: .customLong("min-p")) var minP: Double = 0
    @Option(name: .customLong("repetition-penalty")) var repetitionPenalty: Double = 1
    @Option(name: .customLong("max-tokens")) var maxTokens: Int = 256
    @Option(help: "Random seed for sampling.") var seed: UInt64?
    @Option(name: .customLong("stop"), help: "Stop when this string appears (repeatable).") var stops: [String] = []

    var parameters: SamplingParameters {
        SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty)
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate a reply to a prompt.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "The prompt (repeat for a batch).") var prompt: [String] = []
    @Flag(help: "Send the prompt as-is, without the chat template.") var raw = false
    @Option(help: "A system message for the chat template.") var system: String?
    @Flag(name: .customLong("ignore-eos"), help: "Generate --max-tokens tokens even past end-of-sequence (benchmarks).")
    var ignoreEOS = false

    func run() throws {
        guard !prompt.isEmpty else { throw ValidationError("give at least one --prompt") }
        let loaded = try modelOptions.load()
        let chat = try loaded.chat()
        let prompts: [[Int]] = try prompt.map { p in
            if raw { return loaded.tokenizer.encode(p, addSpecialTokens: true) }
            var msgs: [ChatMessage] = []
            if let system { msgs.append(ChatMessage(role: "system", content: system)) }
            msgs.append(ChatMessage(role: "user", content: p))
            return try chat.encodePrompt(msgs)
        }
        var decoders = prompts.map { _ in loaded.tokenizer.streamingDecoder(skipSpecialTokens: true) }
        var texts = [String](repeating: "", count: prompts.count)
        let single = prompts.count == 1
        let generator = Generator(model: loaded.model, sampling: sampling.parameters, maxTokens: sampling.maxTokens,
                                  stopTokenIds: ignoreEOS ? [] : loaded.stopTokenIds, seed: sampling.seed)
        let out = try generator.generate(prompts) { row, token in
            let piece = decoders[row].push(token)
            texts[row] += piece
            if single {
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
            return !sampling.stops.contains { texts[row].contains($0) }
        }
        if single {
            print()
        } else {
            for (i, t) in texts.enumerated() { print("[\(i)] \(t)") }
        }
        let stderr = FileHandle.standardError
        stderr.write(Data(String(format: "prompt: %d tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s | peak memory %.2f GB\n",
                                 out.promptTokenCount, out.promptTokensPerSecond, out.generatedTokenCount,
                                 out.generationTokensPerSecond, Double(out.peakMemoryBytes) / 1e9).utf8))
    }
}
