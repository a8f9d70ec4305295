/// Hand-written scanners for the split regexes byte-level BPE tokenizers use. Each reproduces, match
/// for match, what Oniguruma's leftmost-first backtracking search gives for the pattern in HF
/// tokenizers, scalar by scalar over UTF-8 (no regex engine, no String per piece).
///
/// Both patterns match every character (their last alternatives cover letters, numbers, spaces and
/// everything else), so a scan yields back-to-back matches covering the whole input.
enum PatternScanner {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (GPT-2).
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama 3's pattern; Qwen2's is the same with `\p{N}` in place of `\p{N}{1,3}`.
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    private static let letter = CharClass.letter
    private static let number = CharClass.number
    private static let space = CharClass.whitespace

    /// Appends the end offset of each GPT-2 match in `p[start..<end]` to `ends`.
    static func scanGPT2(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ classes: ClassLookup, _ ends: inout [Int]) {
        var i = start
        while i < end {
            let (c, n) = decodeScalar(p, i)
            if c == 0x27, let j = contraction(p, i + 1, end, caseInsensitive: false) {
                ends.append(j)
                i = j
                continue
            }
            let k = classes.classOf(c)
            var j: Int
            if k == space {
                // ` ?X+` wins when a plain space precedes a letter, number or symbol run.
                if c == 0x20, i + 1 < end {
                    let next = classes.classOf(decodeScalar(p, i + 1).value)
                    if next != space {
                        j = run(p, i + 1, end, classes, next)
                        ends.append(j)
                        i = j
                        continue
                    }
                }
                j = whitespaceRun(p, i, end, classes)
            } else {
                j = run(p, i + n, end, classes, k)
            }
            ends.append(j)
            i = j
        }
    }

    /// Appends the end offset of each Llama-3-family match in `p[start..<end]` to `ends`;
    /// `maxDigits` is 3 for Llama 3 (`\p{N}{1,3}`) and 1 for Qwen2 (`\p{N}`).
    static func scanLlama3(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, maxDigits: Int,
                           _ classes: ClassLookup, _ ends: inout [Int]) {
        var i = start
        while i < end {
            let (c, n) = decodeScalar(p, i)
            let j = llama3Match(p, i, c, n, end, maxDigits, classes)
            ends.append(j)
            i = j
        }
    }

    @inline(__always)
    private static func llama3Match(_ p: UnsafePointer<UInt8>, _ i: Int, _ c: UInt32, _ n: Int, _ end: Int,
                                    _ maxDigits: Int, _ classes: ClassLookup) -> Int {
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == 0x27, let j = contraction(p, i + n, end, caseInsensitive: true) { return j }
        let k = classes.classOf(c)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if k == letter { return run(p, i + n, end, classes, letter) }
        let isNewline = c == 0x0A || c == 0x0D
        if k != number, !isNewline, i + n < end, classes.classOf(decodeScalar(p, i + n).value) == letter {
            return run(p, i + n, end, classes, letter)
        }
        // \p{N}{1,maxDigits}
        if k == number {
            var j = i + n
            var count = 1
            while count < maxDigits, j < end {
                let (v, l) = decodeScalar(p, j)
                guard classes.classOf(v) == number else { break }
                j += l
                count += 1
            }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if k == 0 { return trailingNewlines(p, run(p, i + n, end, classes, 0), end) }
        if c == 0x20, i + 1 < end {
            let (v, l) = decodeScalar(p, i + 1)
            if classes.classOf(v) == 0 { return trailingNewlines(p, run(p, i + 1 + l, end, classes, 0), end) }
        }
        // Here c is whitespace. `\s*[\r\n]+`: up to the last CR/LF of the whitespace run.
        var j = i
        var lastNewlineEnd = -1
        var lastLength = 0
        var count = 0
        while j < end {
            let (v, l) = decodeScalar(p, j)
            guard classes.classOf(v) == space else { break }
            j += l
            lastLength = l
            count += 1
            if v == 0x0A || v == 0x0D { lastNewlineEnd = j }
        }
        if lastNewlineEnd >= 0 { return lastNewlineEnd }
        // `\s+(?!\S)|\s+`
        return j == end || count < 2 ? j : j - lastLength
    }

    @inline(__always)
    private static func trailingNewlines(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var j = i
        while j < end, p[j] == 0x0A || p[j] == 0x0D { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` from `i`: the whole run at the end of input, otherwise all but its last
    /// scalar (which then leads the next match), or the single scalar if the run has only one.
    @inline(__always)
    private static func whitespaceRun(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ classes: ClassLookup) -> Int {
        var j = i
        var lastLength = 0
        var count = 0
        while j < end {
            let (v, l) = decodeScalar(p, j)
            guard classes.classOf(v) == space else { break }
            j += l
            lastLength = l
            count += 1
        }
        return j == end || count < 2 ? j : j - lastLength
    }

    /// Extends a run of scalars of class `k` (0 meaning "none of letter, number, space") from `i`.
    @inline(__always)
    private static func run(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ classes: ClassLookup, _ k: UInt8) -> Int {
        var j = i
        while j < end {
            let b = p[j]
            if b < 0x80 {
                guard classes.classOf(UInt32(b)) == k else { break }
                j += 1
            } else {
                let (v, l) = decodeScalar(p, j)
                guard classes.classOf(v) == k else { break }
                j += l
            }
        }
        return j
    }

    /// Matches the contraction suffixes after an apostrophe at `i` ('s 't 're 've 'm 'll 'd) and
    /// returns the match end. Case-insensitive matching follows Unicode simple case folding, under
    /// which U+017F LATIN SMALL LETTER LONG S also matches "s".
    @inline(__always)
    private static func contraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, caseInsensitive: Bool) -> Int? {
        guard i < end else { return nil }
        func fold(_ b: UInt8) -> UInt8 { caseInsensitive && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        let a = fold(p[i])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 1 }  // s t m d
        if caseInsensitive, p[i] == 0xC5, i + 1 < end, p[i + 1] == 0xBF { return i + 2 }  // ſ (U+017F)
        guard i + 1 < end else { return nil }
        let b = fold(p[i + 1])
        if (a == 0x72 || a == 0x76) && b == 0x65 { return i + 2 }  // re ve
        if a == 0x6C && b == 0x6C { return i + 2 }  // ll
        return nil
    }
}
