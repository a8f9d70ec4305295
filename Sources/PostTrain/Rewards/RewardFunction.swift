import Foundation
import Jinja
import LM

/// What a reward judges: a prompt and one answer to it.
public struct RewardQuery: Sendable, Equatable {
    public var prompt: [ChatMessage]
    /// The answer's messages (normally one assistant turn).
    public var answer: [ChatMessage]
    public var tools: [Value]?

    public init(prompt: [ChatMessage], answer: [ChatMessage], tools: [Value]? = nil) {
        self.prompt = prompt
        self.answer = answer
        self.tools = tools
    }

    /// A single-turn query: the user's question and the assistant's answer.
    public init(prompt: String, answer: String, system: String? = nil) {
        self.prompt = (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + [ChatMessage(role: "user", content: prompt)]
        self.answer = [ChatMessage(role: "assistant", content: answer)]
    }

    /// The answer's text (its messages' contents joined), what rules look at.
    public var answerText: String { answer.map(\.content).joined(separator: "\n") }
}

/// A reward: higher is better. Model-based (`ModelReward`), rule-based (`RuleReward`) and
/// combined (`CombinedReward`) rewards all score batches of queries, so PPO, best-of-N,
/// rejection sampling and evaluation take any of them.
public protocol RewardFunction {
    var name: String { get }
    /// One score per query, in order.
    func scores(_ queries: [RewardQuery]) throws -> [Double]
}

extension RewardFunction {
    public func score(_ query: RewardQuery) throws -> Double { try scores([query])[0] }
}

/// A reward computed by a rule over the answer (format checks, exact-match answers, length
/// penalties).
public struct RuleReward: RewardFunction {
    public let name: String
    let rule: (RewardQuery) throws -> Double

    public init(_ name: String, _ rule: @escaping (RewardQuery) throws -> Double) {
        self.name = name
        self.rule = rule
    }

    public func scores(_ queries: [RewardQuery]) throws -> [Double] { try queries.map(rule) }
}

/// Several rewards combined by a weighted sum into one score (for example helpfulness and
/// safety reward models, or a model reward plus a format rule).
public struct CombinedReward: RewardFunction {
    public var components: [(reward: any RewardFunction, weight: Double)]

    public init(_ components: [(reward: any RewardFunction, weight: Double)]) {
        precondition(!components.isEmpty, "a combined reward needs at least one component")
        self.components = components
    }

    public var name: String {
        components.map { "\($0.weight == 1 ? "" : "\($0.weight)·")\($0.reward.name)" }.joined(separator: " + ")
    }

    /// Each component's scores, in component order (each before weighting).
    public func componentScores(_ queries: [RewardQuery]) throws -> [[Double]] {
        try components.map { c in
            let s = try c.reward.scores(queries)
            guard s.count == queries.count else {
                throw RewardError.badScores("\(c.reward.name) returned \(s.count) scores for \(queries.count) queries")
            }
            return s
        }
    }

    public func scores(_ queries: [RewardQuery]) throws -> [Double] {
        Self.combine(try componentScores(queries), weights: components.map(\.weight))
    }

    /// Σ wᵢ sᵢ per query.
    public static func combine(_ perComponent: [[Double]], weights: [Double]) -> [Double] {
        guard let n = perComponent.first?.count else { return [] }
        return (0..<n).map { q in zip(perComponent, weights).reduce(0) { $0 + $1.1 * $1.0[q] } }
    }
}

public enum RewardError: Error, CustomStringConvertible {
    case badScores(String)
    case badRewardModel(path: String, reason: String)

    public var description: String {
        switch self {
        case .badScores(let m): m
        case .badRewardModel(let p, let r): "\(p): \(r)"
        }
    }
}
