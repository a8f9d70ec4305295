import Foundation

/// How tokenized examples become batches.
public struct BatchingOptions: Codable, Sendable, Equatable {
    public var batchSize = 4
    /// Pack several short examples into each row of `maxLength` tokens (attention and loss stay
    /// within each example).
    public var packing = false
    public var maxLength = 2048
    /// Without packing, batch examples of similar length together (within groups of this many
    /// batches) so little padding is computed.
    public var groupByLength = true
    public var seed: UInt64 = 0
    public init() {}
}

/// Batches of an SFT dataset: built once (mixing, packing, length grouping), then served in a
/// per-epoch shuffled order, so any (epoch, index) is reproducible for exact resume.
public struct SFTBatches: BatchSource {
    public let dataset: TokenizedDataset
    public let options: BatchingOptions
    public let padId: Int
    /// Each batch: rows, each row a list of example indices (one unless packed).
    let plan: [[[Int]]]

    public init(_ dataset: TokenizedDataset, options: BatchingOptions, padId: Int, shuffle: Bool = true) {
        self.dataset = dataset
        self.options = options
        self.padId = padId
        var rng = SplitMix64(seed: options.seed)
        // Mixing: each source contributes weight × its size examples (whole repeats plus a sample).
        var chosen: [Int] = []
        for s in Set(dataset.source).sorted() {
            let members = dataset.source.indices.filter { dataset.source[$0] == s }
            let w = dataset.weights.indices.contains(s) ? dataset.weights[s] : 1
            for _ in 0..<Int(w) { chosen += members }
            let extra = Int((w - Double(Int(w))) * Double(members.count))
            chosen += members.shuffled(using: &rng).prefix(extra)
        }
        if shuffle { chosen.shuffle(using: &rng) }
        let lengths = dataset.examples.map(\.ids.count)
        var rows: [[Int]]
        if options.packing {
            rows = Self.pack(chosen, lengths: lengths, capacity: options.maxLength)
            if shuffle { rows.shuffle(using: &rng) }
        } else {
            rows = chosen.map { [$0] }
        }
        var batches: [[[Int]]] = []
        if !options.packing && options.groupByLength {
            let group = options.batchSize * 64
            for start in stride(from: 0, to: rows.count, by: group) {
                let chunk = rows[start..<min(start + group, rows.count)].sorted { lengths[$0[0]] > lengths[$1[0]] }
                for b in stride(from: 0, to: chunk.count, by: options.batchSize) {
                    batches.append(Array(chunk[b..<min(b + options.batchSize, chunk.count)]))
                }
            }
        } else {
            for b in stride(from: 0, to: rows.count, by: options.batchSize) {
                batches.append(Array(rows[b..<min(b + options.batchSize, rows.count)]))
            }
        }
        plan = batches
    }

    /// Best-fit decreasing: longest examples first, each into the fullest row it still fits.
    static func pack(_ items: [Int], lengths: [Int], capacity: Int) -> [[Int]] {
        var rows: [[Int]] = [], free: [Int] = []
        for i in items.sorted(by: { lengths[$0] > lengths[$1] }) {
            let n = min(lengths[i], capacity)
            var best = -1
            for r in rows.indices where free[r] >= n && (best < 0 || free[r] < free[best]) { best = r }
            if best < 0 {
                rows.append([i])
                free.append(capacity - n)
            } else {
                rows[best].append(i)
                free[best] -= n
            }
        }
        return rows
    }

    public var batchesPerEpoch: Int { plan.count }

    public func batch(epoch: Int, index: Int) throws -> TokenBatch {
        var order = Array(plan.indices)
        if epoch > 0 {
            var rng = SplitMix64(seed: options.seed &+ UInt64(epoch) &* 0x9E37)
            order.shuffle(using: &rng)
        }
        return makeBatch(plan[order[index]])
    }

    func makeBatch(_ rows: [[Int]]) -> TokenBatch {
        var ids: [[Int]] = [], loss: [[Bool]] = []
        var segments: [[Int]]? = options.packing ? [] : nil
        var positions: [[Int]]? = options.packing ? [] : nil
        for row in rows {
            var r: [Int] = [], l: [Bool] = [], s: [Int] = [], p: [Int] = []
            for (k, e) in row.enumerated() {
                let ex = dataset.examples[e]
                r += ex.ids
                l += ex.lossOnNext
                s += Array(repeating: k, count: ex.ids.count)
                p += Array(0..<ex.ids.count)
            }
            ids.append(r)
            loss.append(l)
            segments?.append(s)
            positions?.append(p)
        }
        return TokenBatch(rows: ids, lossOnNext: loss, segments: segments, positions: positions, padId: padId)
    }
}
