import Foundation
import Tensor

/// Why a sequence stopped.
public enum FinishReason: String, Sendable, Codable { case stop, length }

public struct GenerationOutput: Sendable {
    /// Generated token ids per prompt (without the prompt, without the stop token).
    public var tokens: [[Int]]
    public var finishReasons: [FinishReason]
    public var promptTokenCount: Int
    public var generatedTokenCount: Int
    public var promptSeconds: Double
    public var generationSeconds: Double
    public var peakMemoryBytes: Int

    public var promptTokensPerSecond: Double { Double(promptTokenCount) / max(promptSeconds, 1e-9) }
    public var generationTokensPerSecond: Double { Double(generatedTokenCount) / max(generationSeconds, 1e-9) }
}

/// Batched autoregressive generation: prompts of different lengths are left-padded into one
/// batch, padded keys are masked out and RoPE positions start at 0 for every row, so each row
/// decodes exactly as it would alone. This is what RL rollouts (GRPO, PPO, best-of-N) run on.
public struct Generator {
    public let model: any LanguageModel
    public var sampling: SamplingParameters
    public var maxTokens: Int
    public var stopTokenIds: Set<Int>
    public var seed: UInt64?

    public init(model: any LanguageModel, sampling: SamplingParameters = .greedy, maxTokens: Int = 256,
                stopTokenIds: Set<Int> = [], seed: UInt64? = nil) {
        self.model = model
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stopTokenIds = stopTokenIds
        self.seed = seed
    }

    /// Generates for every prompt. `onToken(row, token)` sees each new token as it arrives and
    /// returns false to stop that row (stop strings, streaming output).
    public func generate(_ prompts: [[Int]], onToken: (Int, Int) -> Bool = { _, _ in true }) throws -> GenerationOutput {
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "generate needs non-empty prompts")
        let batch = prompts.count
        let maxLen = prompts.map(\.count).max()!
        let pads = prompts.map { maxLen - $0.count }
        let padded = zip(prompts, pads).flatMap { Array(repeating: 0, count: $1) + $0 }
        let ids = Tensor(padded, shape: [batch, maxLen])
        let needsPadMask = pads.contains { $0 > 0 }
        let padTensor = Tensor(pads, shape: [batch, 1, 1, 1])
        let offsets = needsPadMask ? Tensor(pads.map { -$0 }) : nil

        let cache = model.makeCache()
        var key = seed.map { RandomKey(seed: $0) }
        let sampler = Sampler(sampling)
        Engine.Memory.resetPeak()

        func nextKey() -> RandomKey? {
            guard let k = key else { return nil }
            let s = k.split()
            key = s[0]
            return s[1]
        }

        // Prefill.
        let start = Date()
        var mask: Fast.AttentionMask? = nil
        if needsPadMask {
            let k = Tensor.arange(maxLen).reshaped(1, 1, 1, maxLen)
            mask = .causalAnd(k .>= padTensor)
        }
        let h = model.hiddenStates(ids, embeddings: nil, options: ForwardOptions(cache: cache, mask: mask, positionOffsets: offsets))
        // Recent tokens per row stay on the engine, so the next step can be built before the host
        // has read the current token (rows shorter than the window repeat their first token; a
        // repeated id is penalised once either way).
        var history: Tensor? = nil
        if sampling.repetitionPenalty != 1 {
            let recent = prompts.map { Array($0.suffix(sampling.repetitionContext)) }
            let width = recent.map(\.count).max()!
            let rows = recent.map { Array(repeating: $0[0], count: width - $0.count) + $0 }
            history = Tensor(rows.flatMap { $0 }, shape: [batch, width])
        }
        var token = sampler(model.logits(fromHidden: h[.all, -1]), history: history, key: nextKey())
        try eval([token] + cache.flatMap(\.state))
        let promptSeconds = Date().timeIntervalSince(start)

        var out = [[Int]](repeating: [], count: batch)
        var reasons = [FinishReason](repeating: .length, count: batch)
        var done = [Bool](repeating: false, count: batch)
        var generated = 0
        let genStart = Date()
        for step in 0..<maxTokens {
            // Queue step + 1 on the lazy token before reading it: graph building on this thread
            // overlaps the engine's work on the current step.
            var next: Tensor? = nil
            if step < maxTokens - 1 {
                var stepMask: Fast.AttentionMask? = nil
                if needsPadMask {
                    let total = maxLen + step + 1
                    stepMask = .array(Tensor.arange(total).reshaped(1, 1, 1, total) .>= padTensor)
                }
                let input = token.reshaped(batch, 1).asType(.int32)
                if let h = history {
                    history = concatenated([h, input.asType(h.dtype)], axis: 1)[.all, (h.dim(1) + 1 > sampling.repetitionContext ? 1 : 0)...]
                }
                let hs = model.hiddenStates(input, embeddings: nil,
                                            options: ForwardOptions(cache: cache, mask: stepMask, positionOffsets: offsets))
                next = sampler(model.logits(fromHidden: hs[.all, -1]), history: history, key: nextKey())
                try asyncEval([next!] + cache.flatMap(\.state))
            }
            let values = try token.ints()
            for r in 0..<batch where !done[r] {
                let t = values[r]
                if stopTokenIds.contains(t) {
                    done[r] = true
                    reasons[r] = .stop
                    continue
                }
                out[r].append(t)
                generated += 1
                if !onToken(r, t) {
                    done[r] = true
                    reasons[r] = .stop
                }
            }
            guard let next, !done.allSatisfy({ $0 }) else { break }
            token = next
        }
        return GenerationOutput(tokens: out, finishReasons: reasons, promptTokenCount: prompts.map(\.count).reduce(0, +),
                                generatedTokenCount: generated, promptSeconds: promptSeconds,
                                generationSeconds: Date().timeIntervalSince(genStart),
                                peakMemoryBytes: Engine.Memory.peak)
    }
}
