import Foundation
import Tensor

/// How the next token is chosen. Temperature 0 is greedy decoding.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Double
    public var topK: Int
    public var topP: Double
    public var minP: Double
    /// > 1 discourages tokens already in the context (CTRL's rule: divide positive logits,
    /// multiply negative ones); 1 is off.
    public var repetitionPenalty: Double
    /// How many recent tokens the repetition penalty looks at.
    public var repetitionContext: Int

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, minP: Double = 0,
                repetitionPenalty: Double = 1, repetitionContext: Int = 64) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionContext = repetitionContext
    }

    public static let greedy = SamplingParameters()
}

/// Turns next-token logits [B, V] into token ids [B], on the engine (no host round trip).
public struct Sampler {
    public var parameters: SamplingParameters

    public init(_ parameters: SamplingParameters) { self.parameters = parameters }

    /// `history` holds each row's recent token ids [B, T] for the repetition penalty.
    public func callAsFunction(_ logits: Tensor, history: Tensor? = nil, key: RandomKey?) -> Tensor {
        var l = logits.asType(.float32)
        let p = parameters
        if p.repetitionPenalty != 1, let history, history.dim(-1) > 0 {
            let seen = l.takeAlong(history, axis: -1)
            let penalised = select(seen .> 0.0, seen / p.repetitionPenalty, seen * p.repetitionPenalty)
            l = l.putAlong(history, penalised, axis: -1)
        }
        if p.temperature <= 0 { return l.argMax(axis: -1) }
        l = l / p.temperature
        let vocab = l.dim(-1)
        if p.topK > 0 && p.topK < vocab {
            // The k-th largest logit is the cut-off; everything below it is removed.
            let kth = l.argPartition(kth: vocab - p.topK, axis: -1)[.all, (vocab - p.topK)...]
            let threshold = l.takeAlong(kth, axis: -1).min(axis: -1, keepDims: true)
            l = select(l .< threshold, Tensor(-Float.infinity), l)
        }
        if p.minP > 0 {
            let logMax = l.max(axis: -1, keepDims: true)
            l = select(l .< logMax + Foundation.log(p.minP), Tensor(-Float.infinity), l)
        }
        if p.topP < 1 {
            // Keep the smallest set of tokens whose probability mass reaches top-p.
            let order = l.argSort(axis: -1)  // ascending
            let sortedLogits = l.takeAlong(order, axis: -1)
            let probs = sortedLogits.softmax(axis: -1)
            let massAbove = probs.cumsum(axis: -1, reverse: true, inclusive: false)
            let drop = massAbove .>= Tensor(p.topP)
            let kept = select(drop, Tensor(-Float.infinity), sortedLogits)
            l = l.putAlong(order, kept, axis: -1)
        }
        return Random.categorical(l, axis: -1, key: key)
    }
}
