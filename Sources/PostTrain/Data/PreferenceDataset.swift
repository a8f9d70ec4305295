import Foundation
import Jinja
import LM

/// Tokenizes a prompt and an answer through the chat template: the prompt is what the model
/// sees before it answers (rendered with the generation prompt), the answer is its assistant
/// turn(s) with the end-of-turn token. Only answer tokens are targets, so log-probabilities and
/// losses cover exactly the answer, as in TRL and LLaMA-Factory.
public struct PreferenceRenderer {
    public var renderer: ExampleRenderer
    /// Longest prompt kept when prompt + answer exceed `maxLength` (the prompt's start is cut,
    /// as TRL's keep_end); the default is half of `maxLength`.
    public var maxPromptLength: Int?

    public init(chat: ChatFormatter, maxLength: Int = 1024, maxPromptLength: Int? = nil) {
        renderer = ExampleRenderer(chat: chat, scope: .completion, maxLength: maxLength)
        self.maxPromptLength = maxPromptLength
    }

    public var maxLength: Int { renderer.maxLength }

    /// Prompt tokens and, per answer, its tokens with target flags (before truncation).
    func pieces(prompt: [ChatMessage], tools: [Value]?, answer: [ChatMessage]) throws -> (prompt: [Int], answer: [Int], target: [Bool]) {
        let segments = try renderer.segments(.chat(prompt + answer, tools: tools))
        // The answer starts at the first assistant turn that is not part of the prompt.
        let earlier = prompt.filter { $0.role == "assistant" }.count
        var seen = 0
        var cut: Int?
        for (i, s) in segments.enumerated() where s.target {
            if seen == earlier { cut = i; break }
            seen += 1
        }
        guard let cut else { throw DataError(file: "chat template", "the answer renders no assistant turn") }
        var answerSegments = Array(segments[cut...])
        // Separators after the last end-of-turn are not part of the answer.
        while let last = answerSegments.last, !last.target { answerSegments.removeLast() }
        let tokenizer = renderer.chat.tokenizer
        var promptIds = tokenizer.encode(segments[..<cut].map(\.text).joined(), addSpecialTokens: false)
        if tokenizer.addsBosToken, let bos = tokenizer.bosTokenId, promptIds.first != bos { promptIds.insert(bos, at: 0) }
        var ids: [Int] = [], target: [Bool] = []
        for s in answerSegments where !s.text.isEmpty {
            let t = tokenizer.encode(s.text, addSpecialTokens: false)
            ids += t
            target += Array(repeating: s.target, count: t.count)
        }
        return (promptIds, ids, target)
    }

    /// One row per answer, all sharing the same (possibly shortened) prompt, so that answers are
    /// compared on equal terms.
    public func tokenize(prompt: [ChatMessage], tools: [Value]?, answers: [[ChatMessage]]) throws -> [TokenizedExample] {
        try tokenizeCountingCuts(prompt: prompt, tools: tools, answers: answers).rows
    }

    /// The rows and how many tokens truncation removed from them in all.
    func tokenizeCountingCuts(prompt: [ChatMessage], tools: [Value]?, answers: [[ChatMessage]]) throws -> (rows: [TokenizedExample], cut: Int) {
        let parts = try answers.map { try pieces(prompt: prompt, tools: tools, answer: $0) }
        guard var promptIds = parts.first?.prompt else { return ([], 0) }
        let fullLength = parts.reduce(0) { $0 + promptIds.count + $1.answer.count }
        let longest = parts.map(\.answer.count).max() ?? 0
        let maxLength = renderer.maxLength
        var truncated = false
        if promptIds.count + longest > maxLength {
            let cap = max(maxPromptLength ?? maxLength / 2, maxLength - longest)
            if promptIds.count > cap {
                // Keep the end of the prompt (the question being answered) and a leading BOS.
                let tokenizer = renderer.chat.tokenizer
                let keepBOS = tokenizer.addsBosToken && promptIds.first == tokenizer.bosTokenId
                let head = keepBOS ? [promptIds[0]] : []
                promptIds = head + promptIds.suffix(max(0, cap - head.count))
                truncated = true
            }
        }
        let rows = parts.map { p in
            let room = max(0, maxLength - promptIds.count)
            let cut = p.answer.count > room
            return TokenizedExample(ids: promptIds + p.answer.prefix(room),
                                    isTarget: Array(repeating: false, count: promptIds.count) + p.target.prefix(room),
                                    truncated: truncated || cut)
        }
        return (rows, fullLength - rows.reduce(0) { $0 + $1.ids.count })
    }

    public func tokenize(_ record: PreferenceRecord) throws -> [TokenizedExample] {
        try tokenize(prompt: record.prompt, tools: record.tools, answers: record.answers)
    }
}

/// How a method consumes preference data.
public enum PreferenceLayout: Sendable, Equatable {
    /// Chosen/rejected pairs (DPO family, pairwise reward models); ranked lists give all their
    /// ordered pairs.
    case pairs
    /// Ranked groups of answers (listwise reward models); a pair is a group of two.
    case groups
    /// Single answers with scores (pointwise reward models); labels count as scores 1 and 0.
    case scores
    /// Single answers labelled desirable or not (KTO); pairs give a desirable chosen and an
    /// undesirable rejected answer. With `mismatched`, each answer also gets a row pairing its
    /// prompt with another example's answer, for KTO's KL estimate.
    case labels(mismatched: Bool)
}

/// One training unit: what its loss is computed over. Indices point into `PreferenceDataset.answers`.
public enum PreferenceUnit: Sendable, Equatable {
    case pair(chosen: Int, rejected: Int, margin: Double?)
    case group(answers: [Int], levels: [Double])
    case scored(answer: Int, score: Double)
    case labelled(answer: Int, desirable: Bool, mismatched: Int?)

    public var answerIndices: [Int] {
        switch self {
        case .pair(let c, let r, _): [c, r]
        case .group(let a, _): a
        case .scored(let a, _): [a]
        case .labelled(let a, _, let m): m.map { [a, $0] } ?? [a]
        }
    }

    func remapped(_ f: (Int) -> Int) -> PreferenceUnit {
        switch self {
        case .pair(let c, let r, let m): .pair(chosen: f(c), rejected: f(r), margin: m)
        case .group(let a, let l): .group(answers: a.map(f), levels: l)
        case .scored(let a, let s): .scored(answer: f(a), score: s)
        case .labelled(let a, let d, let m): .labelled(answer: f(a), desirable: d, mismatched: m.map(f))
        }
    }
}

/// Tokenized preference data: every answer row once, and the units that use them.
public struct PreferenceDataset: Sendable {
    /// One row per answer: prompt + answer tokens, the answer marked as target.
    public var answers: [TokenizedExample]
    public var units: [PreferenceUnit]
    /// The record (prompt) each unit came from: splits keep a prompt's units together.
    public var unitRecord: [Int]
    /// The source file each unit came from, and the sources' mixing weights.
    public var unitSource: [Int]
    public var weights: [Double]
    public var report: DataReport
    /// Reference-model log-probability sums per answer, once computed (see `ReferenceLogProbs`).
    public var referenceLogps: [Float]?

    public init(answers: [TokenizedExample], units: [PreferenceUnit], unitRecord: [Int]? = nil, unitSource: [Int]? = nil,
                weights: [Double] = [1], report: DataReport? = nil) {
        self.answers = answers
        self.units = units
        self.unitRecord = unitRecord ?? Array(units.indices)
        self.unitSource = unitSource ?? Array(repeating: 0, count: units.count)
        self.weights = weights
        self.report = report ?? DataReport()
    }

    /// Reads, parses and tokenizes every source; bad rows follow `policy`.
    public init(sources: [DataSource], renderer: PreferenceRenderer, layout: PreferenceLayout,
                names: PreferenceFields = PreferenceFields(), policy: BadRowPolicy = .fail, seed: UInt64 = 0) throws {
        answers = []
        units = []
        unitRecord = []
        unitSource = []
        weights = sources.map(\.weight)
        report = DataReport()
        // Prompts of labelled units and the messages of their answers, for mismatched KL rows.
        var labelledPrompts: [(prompt: [ChatMessage], tools: [Value]?, answer: [ChatMessage], unit: Int)] = []
        var recordCount = 0
        for (si, src) in sources.enumerated() {
            var problems: [DataError] = []
            var rows = try DataFile.read(src.path, policy: policy, problems: &problems)
            report.rows += rows.count + problems.count
            if let cap = src.maxExamples { rows = Array(rows.prefix(cap)) }
            let parser = PreferenceParser(fields: src.fields, names: names)
            for row in rows {
                do {
                    let record = try parser.record(row)
                    let planned = try Self.plan(record, layout: layout, row: row)
                    let used = Array(Set(planned.flatMap(\.answerIndices))).sorted()
                    let rowsOut: [TokenizedExample], cut: Int
                    do {
                        (rowsOut, cut) = try renderer.tokenizeCountingCuts(prompt: record.prompt, tools: record.tools,
                                                                           answers: used.map { record.answers[$0] })
                    } catch let e as DataError {
                        // Template problems are reported at the row that exposed them.
                        throw DataError(file: row.file, line: row.line, field: e.field, e.message)
                    }
                    if rowsOut.contains(where: { $0.targetCount == 0 }) {
                        report.droppedWithoutTargets += 1
                        continue
                    }
                    if cut > 0 {
                        report.truncated += 1
                        report.truncatedTokens += cut
                    }
                    let base = answers.count
                    var index: [Int: Int] = [:]
                    for (k, a) in used.enumerated() { index[a] = base + k }
                    answers += rowsOut
                    for p in planned {
                        if case .labelled(let a, _, _) = p {
                            labelledPrompts.append((record.prompt, record.tools, record.answers[a], units.count))
                        }
                        units.append(p.remapped { index[$0]! })
                        unitRecord.append(recordCount)
                        unitSource.append(si)
                    }
                    recordCount += 1
                    report.tokens += rowsOut.reduce(0) { $0 + $1.ids.count }
                    report.targetTokens += rowsOut.reduce(0) { $0 + $1.targetCount }
                } catch let e as DataError {
                    problems.append(e)
                    if policy == .fail { throw e }
                }
            }
            report.skipped += problems
        }
        if case .labels(mismatched: true) = layout, labelledPrompts.count > 1 {
            try addMismatchedRows(labelledPrompts, renderer: renderer, seed: seed)
        }
        report.examples = units.count
    }

    /// KTO's KL reference point is estimated on answers given to the wrong prompt: unit i is
    /// paired once, for good, with the answer of another unit chosen by a seeded shuffle, so the
    /// reference log-probs of these rows can be cached like the others.
    mutating func addMismatchedRows(_ items: [(prompt: [ChatMessage], tools: [Value]?, answer: [ChatMessage], unit: Int)],
                                    renderer: PreferenceRenderer, seed: UInt64) throws {
        var rng = SplitMix64(seed: seed ^ 0x4B4C)
        let order = Array(items.indices).shuffled(using: &rng)
        for (k, i) in order.enumerated() {
            let other = items[order[(k + 1) % order.count]]
            let mine = items[i]
            guard let row = try renderer.tokenize(prompt: mine.prompt, tools: mine.tools, answers: [other.answer]).first,
                  row.targetCount > 0,
                  case .labelled(let a, let d, _) = units[mine.unit] else { continue }
            units[mine.unit] = .labelled(answer: a, desirable: d, mismatched: answers.count)
            answers.append(row)
        }
    }

    /// The units a record yields under a layout (answer indices into the record's answers).
    static func plan(_ r: PreferenceRecord, layout: PreferenceLayout, row: DataRow) throws -> [PreferenceUnit] {
        func err(_ m: String) -> DataError { DataError(file: row.file, line: row.line, m) }
        var out: [PreferenceUnit] = []
        switch (layout, r.judgement) {
        case (.pairs, .pair(let m)):
            out = [.pair(chosen: 0, rejected: 1, margin: m)]
        case (.pairs, .ranked(let levels)):
            for i in levels.indices {
                for j in levels.indices where j > i && levels[i] > levels[j] { out.append(.pair(chosen: i, rejected: j, margin: nil)) }
            }
        case (.groups, .pair):
            out = [.group(answers: [0, 1], levels: [1, 0])]
        case (.groups, .ranked(let levels)):
            out = [.group(answers: Array(levels.indices), levels: levels)]
        case (.scores, .scored(let s)):
            out = [.scored(answer: 0, score: s)]
        case (.scores, .labelled(let d)):
            out = [.scored(answer: 0, score: d ? 1 : 0)]
        case (.labels, .labelled(let d)):
            out = [.labelled(answer: 0, desirable: d, mismatched: nil)]
        case (.labels, .pair):
            out = [.labelled(answer: 0, desirable: true, mismatched: nil), .labelled(answer: 1, desirable: false, mismatched: nil)]
        case (.labels, .ranked(let levels)):
            out = [.labelled(answer: 0, desirable: true, mismatched: nil),
                   .labelled(answer: levels.count - 1, desirable: false, mismatched: nil)]
        case (_, .unjudged):
            throw err("the row has one answer and no \"score\" or \"label\": nothing to learn from")
        case (.pairs, _), (.groups, _):
            throw err("this method compares answers: the row needs \"chosen\"/\"rejected\" or ranked \"responses\", not a single scored or labelled answer")
        case (.scores, _):
            throw err("pointwise reward modelling needs a \"score\" (or \"label\") per answer; this row compares answers (use the pairwise or listwise loss)")
        case (.labels, .scored):
            throw err("KTO needs a \"label\" (true/false) per answer, not a score")
        }
        return out
    }

    /// Splits off a validation set of about `fraction` of the prompts, chosen by `seed`; all
    /// units of a prompt stay on one side.
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: PreferenceDataset, valid: PreferenceDataset) {
        let records = Array(Set(unitRecord)).sorted()
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let n = max(1, Int((Double(records.count) * fraction).rounded()))
        let validRecords = Set(records.shuffled(using: &rng).prefix(n))
        return (subset { !validRecords.contains(unitRecord[$0]) }, subset { validRecords.contains(unitRecord[$0]) })
    }

    /// The units `keep` selects, with only the answers they use (re-indexed).
    public func subset(_ keep: (Int) -> Bool) -> PreferenceDataset {
        let chosen = units.indices.filter(keep)
        var index: [Int: Int] = [:]
        var kept: [Int] = []
        for u in chosen {
            for a in units[u].answerIndices where index[a] == nil {
                index[a] = kept.count
                kept.append(a)
            }
        }
        var r = report
        r.examples = chosen.count
        var d = PreferenceDataset(answers: kept.map { answers[$0] }, units: chosen.map { units[$0].remapped { index[$0]! } },
                                  unitRecord: chosen.map { unitRecord[$0] }, unitSource: chosen.map { unitSource[$0] },
                                  weights: weights, report: r)
        d.referenceLogps = referenceLogps.map { ref in kept.map { ref[$0] } }
        return d
    }

    /// A fingerprint of the token rows, to tell whether cached reference log-probs belong to them.
    public var fingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ x: Int) {
            h ^= UInt64(bitPattern: Int64(x))
            h = h &* 0x100_0000_01b3
        }
        for a in answers {
            mix(a.ids.count)
            for (t, m) in zip(a.ids, a.isTarget) { mix(m ? t : ~t) }
        }
        return String(format: "%016llx-%d", h, answers.count)
    }
}
