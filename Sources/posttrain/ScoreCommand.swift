import ArgumentParser
import Foundation
import Jinja
import PostTrain

/// `posttrain score`: scores the answers of a JSONL/JSON file with one reward model, or several
/// combined by a weighted sum, printing each row back with its scores.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score prompt/answer rows with reward models (a weighted sum when several are given).",
        discussion: """
        Rows: prompt + completion, or messages ending in the assistant answer (→ "score"); prompt/conversations + \
        chosen + rejected (→ "score_chosen", "score_rejected"; the preference accuracy is reported on stderr); \
        prompt + responses (→ "response_scores"). Each input row is printed as one JSON line with those fields \
        added; with several rewards, "reward_components" holds each one's unweighted scores.
        """)

    @Option(help: ArgumentHelp("A reward model folder (from `posttrain rm`); repeat to combine several.", valueName: "dir"))
    var reward: [String] = []
    @Option(help: "The weight of each --reward, in the same order (default 1 each).") var weight: [Double] = []
    @Option(help: "Rows to score (.jsonl or .json).") var input: String
    @Option(name: .customLong("batch-size"), help: "Answers per forward pass.") var batchSize: Int = 8
    @Option(name: .customLong("base-model"), help: "Where the base model of adapter reward models is (if it moved).") var baseModel: String?

    func validate() throws {
        guard !reward.isEmpty else { throw ValidationError("give at least one --reward folder") }
        guard weight.isEmpty || weight.count == reward.count else {
            throw ValidationError("\(weight.count) --weight values for \(reward.count) --reward folders: give one weight per reward, or none")
        }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        let weights = weight.isEmpty ? Array(repeating: 1.0, count: reward.count) : weight
        let models = try reward.map { try ModelReward(directory: $0, name: $0, batchSize: batchSize, baseModel: baseModel) }
        let combined = CombinedReward(zip(models, weights).map { (reward: $0.0 as any RewardFunction, weight: $0.1) })
        var problems: [DataError] = []
        let rows = try DataFile.read(input, policy: .fail, problems: &problems)
        let parser = PreferenceParser()
        let out = BufferedOutput()
        var pairs = 0, correct = 0
        // Score a chunk of rows at a time, so big files stream.
        let chunk = 256
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let part = Array(rows[start..<min(start + chunk, rows.count)])
            let records = try part.map { try parser.record($0) }
            let queries = records.flatMap { r in r.answers.map { RewardQuery(prompt: r.prompt, answer: $0, tools: r.tools) } }
            let components = try combined.componentScores(queries)
            let total = CombinedReward.combine(components, weights: weights)
            var q = 0
            for (row, record) in zip(part, records) {
                guard case .object(var o) = row.value else { continue }
                let n = record.answers.count
                let mine = Array(total[q..<(q + n)])
                let parts = components.map { Array($0[q..<(q + n)]) }
                q += n
                func value(_ xs: [Double]) -> Value { n == 1 ? .double(xs[0]) : .array(xs.map { .double($0) }) }
                switch record.judgement {
                case .pair:
                    o["score_chosen"] = .double(mine[0])
                    o["score_rejected"] = .double(mine[1])
                    pairs += 1
                    if mine[0] > mine[1] { correct += 1 }
                case .ranked:
                    o["response_scores"] = value(mine)
                default:
                    o["score"] = value(mine)
                }
                if models.count > 1 {
                    o["reward_components"] = .object(zip(models, parts).map { ($0.0.name, value($0.1)) })
                }
                out.write(Value.object(o).jsonString() + "\n")
            }
            out.flush()
        }
        var summary = "scored \(rows.count) rows with \(combined.name)"
        if pairs > 0 {
            summary += String(format: "; chosen scored above rejected in %d of %d pairs (%.1f%%)", correct, pairs, 100 * Double(correct) / Double(pairs))
        }
        StdIO.note(summary)
    }
}
