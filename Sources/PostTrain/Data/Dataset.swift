import Foundation
import LM

/// One data file and how to use it.
public struct DataSource: Codable, Sendable, Equatable {
    public var path: String
    public var format: DataFormat = .auto
    /// Examples per epoch relative to the file's size: 0.5 samples half of them, 2 repeats them.
    public var weight: Double = 1
    /// Use at most this many rows of the file (after bad rows are dropped).
    public var maxExamples: Int?
    public var fields = FieldMap()

    public init(path: String, format: DataFormat = .auto, weight: Double = 1, maxExamples: Int? = nil) {
        self.path = path
        self.format = format
        self.weight = weight
        self.maxExamples = maxExamples
    }
}

/// What loading found, to report before training.
public struct DataReport: Sendable {
    public var rows = 0
    public var examples = 0
    public var skipped: [DataError] = []
    public var truncated = 0
    public var truncatedTokens = 0
    public var droppedWithoutTargets = 0
    public var tokens = 0
    public var targetTokens = 0

    public var summary: String {
        var s = "\(examples) examples, \(tokens) tokens (\(targetTokens) trained)"
        if truncated > 0 { s += "; \(truncated) truncated to the maximum length (\(truncatedTokens) tokens cut)" }
        if droppedWithoutTargets > 0 { s += "; \(droppedWithoutTargets) dropped with nothing left to train on" }
        if !skipped.isEmpty { s += "; \(skipped.count) bad rows skipped, first: \(skipped[0])" }
        return s
    }
}

/// Tokenized examples from one or more sources, with the source of each.
public struct TokenizedDataset: Sendable {
    public var examples: [TokenizedExample]
    public var source: [Int]
    public var weights: [Double]
    public var report: DataReport

    public init(sources: [DataSource], renderer: ExampleRenderer, policy: BadRowPolicy = .fail) throws {
        examples = []
        source = []
        weights = sources.map(\.weight)
        report = DataReport()
        for (si, src) in sources.enumerated() {
            var problems: [DataError] = []
            var rows = try DataFile.read(src.path, policy: policy, problems: &problems)
            report.rows += rows.count + problems.count
            if let cap = src.maxExamples { rows = Array(rows.prefix(cap)) }
            for row in rows {
                do {
                    let ex = try src.fields.example(row, format: src.format)
                    let t = try renderer.tokenize(ex)
                    if t.truncated {
                        report.truncated += 1
                        report.truncatedTokens += try renderer.tokenizeUntruncatedCount(ex) - t.ids.count
                    }
                    if t.targetCount == 0 {
                        report.droppedWithoutTargets += 1
                        continue
                    }
                    examples.append(t)
                    source.append(si)
                    report.tokens += t.ids.count
                    report.targetTokens += t.targetCount
                } catch let e as DataError {
                    problems.append(e)
                    if policy == .fail { throw e }
                }
            }
            report.skipped += problems
        }
        report.examples = examples.count
    }

    init(examples: [TokenizedExample], source: [Int], weights: [Double], report: DataReport) {
        self.examples = examples
        self.source = source
        self.weights = weights
        self.report = report
    }

    /// Splits off a validation set of `fraction` of the examples, chosen by `seed`.
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: TokenizedDataset, valid: TokenizedDataset) {
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        var order = Array(examples.indices)
        order.shuffle(using: &rng)
        let n = max(1, Int((Double(examples.count) * fraction).rounded()))
        let validIdx = Set(order.prefix(n))
        func subset(_ keep: (Int) -> Bool) -> TokenizedDataset {
            let idx = examples.indices.filter(keep)
            var r = report
            r.examples = idx.count
            return TokenizedDataset(examples: idx.map { examples[$0] }, source: idx.map { source[$0] }, weights: weights, report: r)
        }
        return (subset { !validIdx.contains($0) }, subset { validIdx.contains($0) })
    }
}

extension ExampleRenderer {
    func tokenizeUntruncatedCount(_ e: Example) throws -> Int {
        var r = self
        r.maxLength = Int.max
        return try r.tokenize(e).ids.count
    }
}

/// A small, fast, seedable generator (the same sequence on every platform).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension DataSource {
    enum CodingKeys: String, CodingKey { case path, format, weight, maxExamples, fields }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try c.decode(String.self, forKey: .path))
        format = try c.decodeIfPresent(DataFormat.self, forKey: .format) ?? format
        weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? weight
        maxExamples = try c.decodeIfPresent(Int.self, forKey: .maxExamples)
        fields = try c.decodeIfPresent(FieldMap.self, forKey: .fields) ?? fields
    }
}
