/// A token matched in raw text before normal tokenization: control tokens such as "<|im_start|>"
/// and user-defined tokens (HF `added_tokens`, GGUF token types 3 and 4).
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    /// Special tokens can be skipped when decoding and ignored in text when asked.
    public let special: Bool
    /// Absorb whitespace to the left / right of the token.
    public let lstrip: Bool
    public let rstrip: Bool
    /// Match against normalized text rather than raw text.
    public let normalized: Bool
    /// Match only when not inside a word.
    public let singleWord: Bool

    public init(id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, singleWord: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.singleWord = singleWord
    }
}

/// A byte trie over the added tokens, searched leftmost-longest as HF's Aho-Corasick matcher is.
struct TokenTrie: Sendable {
    private var edges: [[(byte: UInt8, node: Int32)]] = [[]]
    private var values: [Int32] = [-1]
    private var firstBytes = [Bool](repeating: false, count: 256)
    private(set) var isEmpty = true

    mutating func insert(_ bytes: [UInt8], value: Int32) {
        guard let first = bytes.first else { return }
        firstBytes[Int(first)] = true
        isEmpty = false
        var node = 0
        for b in bytes {
            if let next = edges[node].first(where: { $0.byte == b }) {
                node = Int(next.node)
            } else {
                edges.append([])
                values.append(-1)
                edges[node].append((b, Int32(edges.count - 1)))
                node = edges.count - 1
            }
        }
        values[node] = value
    }

    /// The longest token starting at `i`: its end offset and value.
    @inline(__always)
    func longestMatch(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (end: Int, value: Int32)? {
        guard firstBytes[Int(p[i])] else { return nil }
        var node = 0
        var best: (Int, Int32)?
        var j = i
        while j < end {
            guard let next = edges[node].first(where: { $0.byte == p[j] }) else { break }
            node = Int(next.node)
            j += 1
            if values[node] >= 0 { best = (j, values[node]) }
        }
        return best
    }
}

/// A piece of input after added-token extraction: either plain text or one added token.
struct Segment {
    var range: Range<Int>
    /// Index into `AddedVocabulary.tokens`, or nil for plain text.
    var token: Int?
}

/// The added tokens and the logic that cuts text around them (HF's `AddedVocabulary::find_matches`,
/// including lstrip / rstrip / single_word and the option not to recognise special tokens).
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    private let rawTrie: TokenTrie
    private let normalizedTrie: TokenTrie

    init(_ tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        var raw = TokenTrie(), normalized = TokenTrie()
        for (index, token) in tokens.enumerated() where !token.content.isEmpty {
            if token.normalized {
                let bytes = normalizer?.apply(Array(token.content.utf8)) ?? Array(token.content.utf8)
                normalized.insert(bytes, value: Int32(index))
            } else {
                raw.insert(Array(token.content.utf8), value: Int32(index))
            }
        }
        rawTrie = raw
        normalizedTrie = normalized
    }

    var hasNormalizedTokens: Bool { !normalizedTrie.isEmpty }
    var isEmpty: Bool { rawTrie.isEmpty && normalizedTrie.isEmpty }

    /// Splits `p[0..<count]` around the tokens of the raw (or normalized) trie.
    func split(_ p: UnsafePointer<UInt8>, _ count: Int, normalizedPass: Bool, recognizeSpecial: Bool) -> [Segment] {
        let trie = normalizedPass ? normalizedTrie : rawTrie
        guard !trie.isEmpty, count > 0 else { return [Segment(range: 0..<count, token: nil)] }
        var segments: [Segment] = []
        var startOffset = 0
        var i = 0
        while i < count {
            guard let match = trie.longestMatch(p, i, count) else {
                i += 1
                continue
            }
            let matchStart = i
            i = match.end
            let token = tokens[Int(match.value)]
            if token.special && !recognizeSpecial { continue }
            var start = matchStart
            var stop = match.end
            if token.singleWord {
                let before = start == 0 || !Self.endsWithWord(p, start)
                let after = stop == count || !Self.startsWithWord(p, stop, count)
                if !before || !after { continue }
            }
            if token.lstrip { start = max(Self.trailingWhitespaceStart(p, start), startOffset) }
            if token.rstrip { stop = Self.leadingWhitespaceEnd(p, stop, count) }
            if startOffset < start { segments.append(Segment(range: startOffset..<start, token: nil)) }
            segments.append(Segment(range: start..<stop, token: Int(match.value)))
            startOffset = stop
        }
        if startOffset != count { segments.append(Segment(range: startOffset..<count, token: nil)) }
        return segments
    }

    private static func scalar(endingAt end: Int, _ p: UnsafePointer<UInt8>) -> Unicode.Scalar {
        let length = lengthOfScalar(endingAt: end, p)
        return Unicode.Scalar(decodeScalar(p, end - length).value)!
    }

    /// `\w$` on the text before `end`.
    private static func endsWithWord(_ p: UnsafePointer<UInt8>, _ end: Int) -> Bool {
        RustCharacter.isWord(scalar(endingAt: end, p))
    }

    /// `^\w` on the text from `start`.
    private static func startsWithWord(_ p: UnsafePointer<UInt8>, _ start: Int, _ count: Int) -> Bool {
        start < count && RustCharacter.isWord(Unicode.Scalar(decodeScalar(p, start).value)!)
    }

    /// Start of the whitespace run that ends at `end` (`\s*$`).
    private static func trailingWhitespaceStart(_ p: UnsafePointer<UInt8>, _ end: Int) -> Int {
        var i = end
        while i > 0 {
            let length = lengthOfScalar(endingAt: i, p)
            guard RustCharacter.isWhitespace(Unicode.Scalar(decodeScalar(p, i - length).value)!) else { break }
            i -= length
        }
        return i
    }

    /// End of the whitespace run that starts at `start` (`^\s*`).
    private static func leadingWhitespaceEnd(_ p: UnsafePointer<UInt8>, _ start: Int, _ count: Int) -> Int {
        var i = start
        while i < count {
            let (v, l) = decodeScalar(p, i)
            guard RustCharacter.isWhitespace(Unicode.Scalar(v)!) else { break }
            i += l
        }
        return i
    }
}
