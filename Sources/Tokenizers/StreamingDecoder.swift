/// Turns ids into text one at a time during generation. Text is released only once it is complete:
/// a character whose UTF-8 bytes are split across tokens (an emoji, a CJK character) is held back
/// until its last byte arrives, so no U+FFFD ever appears mid-stream. The concatenation of every
/// `push` result and `finish()` equals `Tokenizer.decode` of all the ids.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    /// Byte-level vocabularies: bytes received but not yet released.
    private var pending: [UInt8] = []
    /// Other decoders (SentencePiece's byte fallback, space stripping): HF's DecodeStream window.
    private var ids: [Int] = []
    private var prefix = ""
    private var prefixIndex = 0

    init(_ tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id and returns the text it completes (often "", never a partial character).
    public mutating func push(_ id: Int) -> String {
        if tokenizer.decodedBytes != nil {
            if skipSpecialTokens && tokenizer.isSpecialToken(id) { return "" }
            guard let bytes = tokenizer.bytes(of: id) else { return "" }
            pending.append(contentsOf: bytes)
            let held = UTF8Support.incompleteSuffixLength(pending)
            guard held < pending.count else { return "" }
            let text = String(decoding: pending[..<(pending.count - held)], as: UTF8.self)
            pending.removeFirst(pending.count - held)
            return text
        }
        // Decode a window that starts one chunk back, so that context-dependent decoders (a
        // stripped leading space, byte fallback) see what they would in a one-shot decode.
        ids.append(id)
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        guard text.utf8.count > prefix.utf8.count, text.unicodeScalars.last != "\u{FFFD}",
              text.utf8.starts(with: prefix.utf8) else { return "" }
        let fresh = String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        let newPrefixIndex = ids.count - prefixIndex
        ids.removeFirst(prefixIndex)
        prefix = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        prefixIndex = newPrefixIndex
        return fresh
    }

    public mutating func push(_ id: Int32) -> String { push(Int(id)) }

    /// Releases whatever is held back (an incomplete character becomes U+FFFD) and resets.
    public mutating func finish() -> String {
        defer { reset() }
        if tokenizer.decodedBytes != nil {
            return String(decoding: pending, as: UTF8.self)
        }
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        guard text.utf8.count > prefix.utf8.count, text.utf8.starts(with: prefix.utf8) else { return "" }
        return String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }

    /// Forgets everything received so far.
    public mutating func reset() {
        pending.removeAll()
        ids.removeAll()
        prefix = ""
        prefixIndex = 0
    }
}
