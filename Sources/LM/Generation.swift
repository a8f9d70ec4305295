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
            let q = Tensor.arange(maxLen).reshaped(1, 1, maxLen, 1)
            let k = Tensor.arange(maxLen).reshaped(1, 1, 1, maxLen)
            mask = .array((k .<= q) .&& (k .>= padTensor))
        }
        let h = model.hiddenStates(ids, embeddings: nil, options: ForwardOptions(cache: cache, mask: mask, positionOffsets: offsets))
        var logits = model.logits(fromHidden: h[.all, -1])
        var history: [[Int]] = prompts.map { Array($0.suffix(sampling.repetitionContext)) }
        var token = sampler(logits, history: historyTensor(history), key: nextKey())
        try eval([token] + cache.flatMap(\.state))
        let promptSeconds = Date().timeIntervalSince(start)

        var out = [[Int]](repeating: [], count: batch)
        var reasons = [FinishReason](repeating: .length, count: batch)
        var done = [Bool](repeating: false, count: batch)
        var generated = 0
        let genStart = Date()
        for step in 0..<maxTokens {
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
                history[r].append(t)
                if history[r].count > sampling.repetitionContext { history[r].removeFirst() }
                if !onToken(r, t) {
                    done[r] = true
                    reasons[r] = .stop
                }
            }
            if done.allSatisfy({ $0 }) || step == maxTokens - 1 { break }
            var stepMask: Fast.AttentionMask? = nil
            if needsPadMask {
                let total = maxLen + step + 1
                stepMask = .array(Tensor.arange(total).reshaped(1, 1, 1, total) .>= padTensor)
            }
            let input = token.reshaped(batch, 1).asType(.int32)
            let hs = model.hiddenStates(input, embeddings: nil,
                                        options: ForwardOptions(cache: cache, mask: stepMask, positionOffsets: offsets))
            logits = model.logits(fromHidden: hs[.all, -1])
            token = sampler(logits, history: historyTensor(history), key: nextKey())
            try eval([token] + cache.flatMap(\.state))
        }
        return GenerationOutput(tokens: out, finishReasons: reasons, promptTokenCount: prompts.map(\.count).reduce(0, +),
                                generatedTokenCount: generated, promptSeconds: promptSeconds,
                                generationSeconds: Date().timeIntervalSince(genStart),
                                peakMemoryBytes: Engine.Memory.peak)
    }

    private func historyTensor(_ history: [[Int]]) -> Tensor? {
        guard sampling.repetitionPenalty != 1 else { return nil }
        let width = history.map(\.count).max() ?? 0
        guard width > 0 else { return nil }
        // Short rows repeat their first token; a repeated id is penalised once either way.
        let rows = history.map { h in Array(repeating: h.first ?? 0, count: width - h.count) + h }
        return Tensor(rows.flatMap { $0 }, shape: [history.count, width])
    }
}
