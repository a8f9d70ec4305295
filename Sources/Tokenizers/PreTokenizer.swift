import Foundation

/// How a split keeps the delimiters it finds (HF's `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed, isolated, mergedWithPrevious, mergedWithNext, contiguous
}

/// Where Metaspace puts its leading "▁" (HF's `PrependScheme`).
enum PrependScheme: String, Sendable {
    case always, first, never
}

/// What a Split pre-tokenizer splits on. Known regexes get hand-written scanners; any other regex
/// falls back to ICU through `RegexPattern`, whose semantics are close to but not exactly Oniguruma's.
enum SplitPattern: Sendable {
    case gpt2
    case llama3(maxDigits: Int)
    case literal([UInt8])
    case regex(RegexPattern)

    /// Recognises the patterns HF tokenizer.json files and llama.cpp use; nil means "use the fallback".
    static func known(_ regex: String) -> SplitPattern? {
        switch regex {
        case PatternScanner.gpt2Pattern: return .gpt2
        case PatternScanner.llama3Pattern: return .llama3(maxDigits: 3)
        case PatternScanner.qwen2Pattern: return .llama3(maxDigits: 1)
        default: return nil
        }
    }
}

/// The pre-tokenizers of HF tokenizers that LLM vocabularies use.
indirect enum PreTokenizer: Sendable {
    case split(SplitPattern, SplitBehavior, invert: Bool)
    /// The byte-to-character mapping itself happens in the model, which works on raw bytes.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case digits(individual: Bool)
    case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    case whitespaceSplit
    case sequence([PreTokenizer])

    /// True if a ByteLevel step is present, which makes the vocabulary byte-level.
    var isByteLevel: Bool {
        switch self {
        case .byteLevel: true
        case let .sequence(steps): steps.contains { $0.isByteLevel }
        default: false
        }
    }
}

/// Text pieces during pre-tokenization: byte ranges into `bytes`, which starts as the segment's text
/// and grows when a step rewrites a piece (a prefix space, Metaspace's "▁").
struct Pieces {
    var bytes: [UInt8]
    var ranges: [Range<Int>]
    /// Whether the first piece still begins at offset 0 of the original input (Metaspace "first").
    var firstAtOrigin: Bool
}

/// A match-or-gap span produced while splitting one piece.
private struct Span {
    var start: Int
    var end: Int
    var isMatch: Bool
}

extension PreTokenizer {
    func apply(_ pieces: inout Pieces, _ classes: ClassLookup) {
        switch self {
        case let .sequence(steps):
            for step in steps { step.apply(&pieces, classes) }
        case let .split(pattern, behavior, invert):
            pieces.split(behavior, invert: invert) { p, start, end, spans in
                pattern.findMatches(p, start, end, classes, &spans)
            }
        case let .digits(individual):
            // Rust's `char::is_numeric` is general category N*, the scanners' number class.
            pieces.split(individual ? .isolated : .contiguous, invert: false) { p, start, end, spans in
                findCharacters(p, start, end, &spans) { classes.classOf($0) == CharClass.number }
            }
        case .whitespaceSplit:
            pieces.split(.removed, invert: false) { p, start, end, spans in
                findCharacters(p, start, end, &spans) { classes.classOf($0) == CharClass.whitespace }
            }
        case let .byteLevel(addPrefixSpace, useRegex):
            if addPrefixSpace {
                pieces.rewrite { old, out in
                    if old.first != 0x20 { out.append(0x20) }
                    out.append(contentsOf: old)
                }
            }
            if useRegex { PreTokenizer.split(.gpt2, .isolated, invert: false).apply(&pieces, classes) }
        case let .metaspace(replacement, scheme, split):
            let mark = Array(replacement.utf8)
            var index = 0
            let firstAtOrigin = pieces.firstAtOrigin
            pieces.rewrite { old, out in
                let atOrigin = index == 0 && firstAtOrigin
                index += 1
                let startsWithMark = old.starts(with: mark) || (old.first == 0x20)
                if !startsWithMark && (scheme == .always || (scheme == .first && atOrigin)) {
                    out.append(contentsOf: mark)
                }
                for b in old {
                    if b == 0x20 { out.append(contentsOf: mark) } else { out.append(b) }
                }
            }
            if split {
                pieces.split(.mergedWithNext, invert: false) { p, start, end, spans in
                    findLiteral(mark, p, start, end, &spans)
                }
            }
        }
    }
}

extension Pieces {
    /// Replaces every piece by `transform(piece)` (written at the end of `bytes`); empty results vanish.
    mutating func rewrite(_ transform: (ArraySlice<UInt8>, inout [UInt8]) -> Void) {
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count)
        var scratch: [UInt8] = []
        for r in ranges {
            scratch.removeAll(keepingCapacity: true)
            transform(bytes[r], &scratch)
            guard !scratch.isEmpty else { continue }
            let start = bytes.count
            bytes.append(contentsOf: scratch)
            out.append(start..<bytes.count)
        }
        ranges = out
    }

    /// Splits every piece at the spans `find` reports, keeping or merging them per the behavior
    /// (HF's `NormalizedString::split`), and drops empty pieces.
    fileprivate mutating func split(_ mode: SplitBehavior, invert: Bool,
                                    find: (UnsafePointer<UInt8>, Int, Int, inout [Span]) -> Void) {
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count * 4)
        var spans: [Span] = []
        let oldFirst = ranges.first?.lowerBound
        var first = true
        bytes.withUnsafeBufferPointer { buffer in
            guard let p = buffer.baseAddress else { return }
            for r in ranges {
                spans.removeAll(keepingCapacity: true)
                find(p, r.lowerBound, r.upperBound, &spans)
                if invert { for i in spans.indices { spans[i].isMatch.toggle() } }
                let before = out.count
                Pieces.applyBehavior(mode, spans, &out)
                if first {
                    first = false
                    if out.count == before || out[before].lowerBound != oldFirst { firstAtOrigin = false }
                }
            }
        }
        if out.isEmpty { firstAtOrigin = false }
        ranges = out
    }

    fileprivate static func applyBehavior(_ behavior: SplitBehavior, _ spans: [Span], _ out: inout [Range<Int>]) {
        func push(_ s: Int, _ e: Int) { if s < e { out.append(s..<e) } }
        switch behavior {
        case .isolated:
            for s in spans { push(s.start, s.end) }
        case .removed:
            for s in spans where !s.isMatch { push(s.start, s.end) }
        case .contiguous:
            var merged: [Span] = []
            for s in spans {
                if let last = merged.last, last.isMatch == s.isMatch {
                    merged[merged.count - 1].end = s.end
                } else {
                    merged.append(s)
                }
            }
            for s in merged { push(s.start, s.end) }
        case .mergedWithPrevious:
            var merged: [Span] = []
            var previousMatch = false
            for s in spans {
                if s.isMatch && !previousMatch, !merged.isEmpty {
                    merged[merged.count - 1].end = s.end
                } else {
                    merged.append(s)
                }
                previousMatch = s.isMatch
            }
            for s in merged { push(s.start, s.end) }
        case .mergedWithNext:
            var merged: [Span] = []
            var previousMatch = false
            for s in spans.reversed() {
                if s.isMatch && !previousMatch, !merged.isEmpty {
                    merged[merged.count - 1].start = s.start
                } else {
                    merged.append(s)
                }
                previousMatch = s.isMatch
            }
            for s in merged.reversed() { push(s.start, s.end) }
        }
    }
}

extension SplitPattern {
    /// HF's `Pattern::find_matches`: matches and the gaps between them, covering `start..<end`.
    fileprivate func findMatches(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ classes: ClassLookup,
                                 _ spans: inout [Span]) {
        switch self {
        case .gpt2, .llama3:
            var ends: [Int] = []
            if case let .llama3(maxDigits) = self {
                PatternScanner.scanLlama3(p, start, end, maxDigits: maxDigits, classes, &ends)
            } else {
                PatternScanner.scanGPT2(p, start, end, classes, &ends)
            }
            var s = start
            for e in ends {
                spans.append(Span(start: s, end: e, isMatch: true))
                s = e
            }
        case let .literal(needle):
            findLiteral(needle, p, start, end, &spans)
        case let .regex(regex):
            var previous = start
            for m in regex.matches(p, start, end) {
                if m.lowerBound > previous { spans.append(Span(start: previous, end: m.lowerBound, isMatch: false)) }
                spans.append(Span(start: m.lowerBound, end: m.upperBound, isMatch: true))
                previous = m.upperBound
            }
            if previous < end { spans.append(Span(start: previous, end: end, isMatch: false)) }
        }
    }
}

/// Each scalar satisfying `predicate` is its own match (HF's `Fn(char) -> bool` pattern).
private func findCharacters(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ spans: inout [Span],
                            _ predicate: (UInt32) -> Bool) {
    var gapStart = start
    var i = start
    while i < end {
        let (v, l) = decodeScalar(p, i)
        if predicate(v) {
            if gapStart < i { spans.append(Span(start: gapStart, end: i, isMatch: false)) }
            spans.append(Span(start: i, end: i + l, isMatch: true))
            gapStart = i + l
        }
        i += l
    }
    if gapStart < end { spans.append(Span(start: gapStart, end: end, isMatch: false)) }
}

/// Non-overlapping left-to-right occurrences of `needle`; an empty needle matches nothing.
private func findLiteral(_ needle: [UInt8], _ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ spans: inout [Span]) {
    guard !needle.isEmpty else {
        if start < end { spans.append(Span(start: start, end: end, isMatch: false)) }
        return
    }
    var gapStart = start
    var i = start
    let n = needle.count
    while i + n <= end {
        var hit = p[i] == needle[0]
        if hit { for k in 1..<n where p[i + k] != needle[k] { hit = false; break } }
        if hit {
            if gapStart < i { spans.append(Span(start: gapStart, end: i, isMatch: false)) }
            spans.append(Span(start: i, end: i + n, isMatch: true))
            i += n
            gapStart = i
        } else {
            i += 1
        }
    }
    if gapStart < end { spans.append(Span(start: gapStart, end: end, isMatch: false)) }
}
