import Foundation
import Tensor

/// Answer rows for one forward pass: right-padded token rows (prompt + answer) and where each
/// row's answer tokens and last token are.
public struct AnswerRows {
    /// The rows; only answer positions carry a loss, so the vocabulary projection runs only there.
    public var tokens: TokenBatch
    /// The row of each loss position, in `tokens.lossIndices` order.
    public var lossRows: [Int]
    /// [N, T] float: 1 where row n owns loss position t; per-token values times its transpose
    /// give per-row sums in one matmul.
    public var ownership: Tensor
    /// Answer tokens per row.
    public var lengths: [Int]
    /// [N] int32: flat index (row · L + position) of each row's last real token (reward heads).
    public var lastIndices: Tensor
    public var count: Int { lengths.count }

    public init(_ examples: [TokenizedExample], padId: Int) {
        tokens = TokenBatch(rows: examples.map(\.ids), lossOnNext: examples.map(\.lossOnNext), padId: padId)
        var rows: [Int] = []
        for (r, e) in examples.enumerated() {
            let flags = e.lossOnNext
            for p in 0..<max(0, e.ids.count - 1) where flags[p] { rows.append(r) }
        }
        lossRows = rows
        var own = [Float](repeating: 0, count: examples.count * rows.count)
        for (t, r) in rows.enumerated() { own[r * rows.count + t] = 1 }
        ownership = Tensor(own, shape: [examples.count, rows.count])
        lengths = examples.map(\.targetCount)
        let width = tokens.shape.length
        lastIndices = Tensor(examples.enumerated().map { $0.offset * width + max(0, $0.element.ids.count - 1) })
    }
}

/// A micro-batch of preference units, all answers stacked into one forward pass (for pairs:
/// every chosen row, then every rejected row).
public struct PreferenceBatch: BatchInfo {
    public var rows: AnswerRows
    /// KTO's mismatched rows (prompt of one unit, answer of another), for the KL estimate.
    public var mismatchedRows: AnswerRows?
    /// Cached reference log-prob sums per row ([N]) and per mismatched row.
    public var referenceLogps: Tensor?
    public var mismatchedReferenceLogps: Tensor?
    /// Units in the batch: what the loss averages over.
    public var unitCount: Int
    public var layout: Layout
    /// The preferred answer's row of each pair or group unit (for an LM loss on the best answer).
    public var bestRows: [Int]
    public var tokenCount: Int

    public enum Layout {
        /// Pair p prefers row `chosen[p]` to row `rejected[p]`; `weight[p]` is its share of its
        /// unit (1 for a pair, 1/(pairs in the group) for a ranked group); `margin[p]` from the data.
        case pairs(chosen: [Int], rejected: [Int], weight: [Double], margin: [Double?])
        /// Row `rows[u]` should score `scores[u]`.
        case scored(rows: [Int], scores: [Double])
        /// Row `rows[u]` is desirable or not; `mismatched[u]` indexes `mismatchedRows`.
        case labelled(rows: [Int], desirable: [Bool], mismatched: [Int?])
    }
}

/// Batches of a preference dataset: planned once (mixing weights, length grouping, shuffle) and
/// served per (epoch, index), so a resumed run sees exactly the batches an uninterrupted one would.
public struct PreferenceBatches: BatchSource {
    public let dataset: PreferenceDataset
    /// Units per micro-batch (pairs for DPO, as TRL's batch size counts pairs).
    public let batchSize: Int
    public let padId: Int
    public let seed: UInt64
    let plan: [[Int]]

    public init(_ dataset: PreferenceDataset, batchSize: Int, padId: Int, seed: UInt64 = 0, shuffle: Bool = true,
                groupByLength: Bool = true) {
        self.dataset = dataset
        self.batchSize = max(1, batchSize)
        self.padId = padId
        self.seed = seed
        var rng = SplitMix64(seed: seed ^ 0x9E37)
        var chosen: [Int] = []
        for s in Set(dataset.unitSource).sorted() {
            let members = dataset.unitSource.indices.filter { dataset.unitSource[$0] == s }
            let w = dataset.weights.indices.contains(s) ? dataset.weights[s] : 1
            for _ in 0..<Int(w) { chosen += members }
            chosen += members.shuffled(using: &rng).prefix(Int((w - Double(Int(w))) * Double(members.count)))
        }
        if shuffle { chosen.shuffle(using: &rng) }
        let length = dataset.units.map { $0.answerIndices.map { dataset.answers[$0].ids.count }.max() ?? 0 }
        var batches: [[Int]] = []
        let group = groupByLength ? self.batchSize * 64 : self.batchSize
        for start in stride(from: 0, to: chosen.count, by: group) {
            var chunk = Array(chosen[start..<min(start + group, chosen.count)])
            if groupByLength { chunk.sort { length[$0] > length[$1] } }
            for b in stride(from: 0, to: chunk.count, by: self.batchSize) {
                batches.append(Array(chunk[b..<min(b + self.batchSize, chunk.count)]))
            }
        }
        // Length grouping sorts within chunks; shuffling the batches keeps long ones from coming first.
        if shuffle { batches.shuffle(using: &rng) }
        plan = batches
    }

    public var batchesPerEpoch: Int { plan.count }

    public func batch(epoch: Int, index: Int) throws -> PreferenceBatch {
        var order = Array(plan.indices)
        if epoch > 0 {
            var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37)
            order.shuffle(using: &rng)
        }
        return makeBatch(plan[order[index]])
    }

    /// The batch of the given units.
    public func makeBatch(_ unitIndices: [Int]) -> PreferenceBatch {
        let units = unitIndices.map { dataset.units[$0] }
        var answerOfRow: [Int] = []
        var rowOf: [Int: Int] = [:]
        func row(_ a: Int) -> Int {
            if let r = rowOf[a] { return r }
            rowOf[a] = answerOfRow.count
            answerOfRow.append(a)
            return answerOfRow.count - 1
        }
        var layout: PreferenceBatch.Layout
        var best: [Int] = []
        var mismatchedAnswers: [Int] = []
        switch units.first {
        case .scored?:
            var rows: [Int] = [], scores: [Double] = []
            for case .scored(let a, let s) in units {
                rows.append(row(a))
                scores.append(s)
            }
            layout = .scored(rows: rows, scores: scores)
        case .labelled?:
            var rows: [Int] = [], desirable: [Bool] = [], mismatched: [Int?] = []
            for case .labelled(let a, let d, let m) in units {
                rows.append(row(a))
                desirable.append(d)
                if let m {
                    mismatched.append(mismatchedAnswers.count)
                    mismatchedAnswers.append(m)
                } else {
                    mismatched.append(nil)
                }
            }
            layout = .labelled(rows: rows, desirable: desirable, mismatched: mismatched)
        default:
            // Pairs and groups: chosen sides first, so a pair batch is [chosen…, rejected…].
            for u in units {
                if case .pair(let c, _, _) = u { _ = row(c) }
            }
            var chosen: [Int] = [], rejected: [Int] = [], weight: [Double] = [], margin: [Double?] = []
            for u in units {
                switch u {
                case .pair(let c, let r, let m):
                    chosen.append(row(c))
                    rejected.append(row(r))
                    weight.append(1)
                    margin.append(m)
                    best.append(row(c))
                case .group(let answers, let levels):
                    let rows = answers.map(row)
                    var pairs: [(Int, Int)] = []
                    for i in levels.indices {
                        for j in levels.indices where j > i && levels[i] > levels[j] { pairs.append((rows[i], rows[j])) }
                    }
                    for (c, r) in pairs {
                        chosen.append(c)
                        rejected.append(r)
                        weight.append(1 / Double(pairs.count))
                        margin.append(nil)
                    }
                    best.append(rows[0])
                default:
                    preconditionFailure("a batch mixes unit kinds")
                }
            }
            layout = .pairs(chosen: chosen, rejected: rejected, weight: weight, margin: margin)
        }
        let examples = answerOfRow.map { dataset.answers[$0] }
        let mismatchedExamples = mismatchedAnswers.map { dataset.answers[$0] }
        var batch = PreferenceBatch(rows: AnswerRows(examples, padId: padId),
                                    mismatchedRows: mismatchedExamples.isEmpty ? nil : AnswerRows(mismatchedExamples, padId: padId),
                                    unitCount: units.count, layout: layout, bestRows: best,
                                    tokenCount: (examples + mismatchedExamples).reduce(0) { $0 + $1.ids.count })
        if let ref = dataset.referenceLogps {
            batch.referenceLogps = Tensor(answerOfRow.map { ref[$0] })
            if !mismatchedAnswers.isEmpty { batch.mismatchedReferenceLogps = Tensor(mismatchedAnswers.map { ref[$0] }) }
        }
        return batch
    }
}
