/// The decoders of HF tokenizers that LLM vocabularies use. Each transforms the list of token
/// strings (`decode_chain`); the results are concatenated.
indirect enum TokenDecoder: Sendable {
    /// Maps byte-level characters back to bytes and decodes UTF-8 (invalid sequences become U+FFFD).
    case byteLevel
    case replace(pattern: String, content: String)
    /// Turns runs of "<0xNN>" tokens into the bytes they name.
    case byteFallback
    /// Joins everything into one string.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case sequence([TokenDecoder])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens { bytes.append(contentsOf: ByteLevelAlphabet.bytes(ofToken: token) ?? Array(token.utf8)) }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .replace(pattern, content):
            return tokens.map { $0.replacingAll(pattern, with: content) }
        case .byteFallback:
            return Self.byteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                // Characters here are Unicode scalars, as Rust's `char`.
                let chars = Array(token.unicodeScalars)
                var from = 0
                while from < min(start, chars.count), chars[from] == content { from += 1 }
                var to = chars.count
                var stripped = 0
                while stripped < stop, to > from, chars[to - 1] == content { to -= 1; stripped += 1 }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: chars[from..<to])
                return String(view)
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { index, token in
                var out = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if index == 0 && scheme != .never { continue }
                        out.append(" ")
                    } else {
                        out.append(c)
                    }
                }
                return String(out)
            }
        case let .sequence(steps):
            return steps.reduce(tokens) { $1.decodeChain($0) }
        }
    }

    /// HF's ByteFallback decoder: consecutive byte tokens are decoded together; if they are not valid
    /// UTF-8, each byte becomes one U+FFFD.
    private static func byteFallback(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if UTF8Support.isValid(pending[...]) {
                out.append(String(decoding: pending, as: UTF8.self))
            } else {
                out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = byteToken(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    /// The byte named by a "<0xNN>" token (exactly six characters, hex digits in either case).
    static func byteToken(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    /// True when this decoder only maps byte-level characters back to bytes (the fast path).
    var isPlainByteLevel: Bool {
        switch self {
        case .byteLevel: true
        case let .sequence(steps): steps.count == 1 && steps[0].isPlainByteLevel
        default: false
        }
    }
}

extension String {
    /// Replaces every non-overlapping occurrence of `pattern`, comparing by UTF-8 bytes.
    func replacingAll(_ pattern: String, with content: String) -> String {
        let text = Array(utf8), p = Array(pattern.utf8)
        guard !p.isEmpty, text.count >= p.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + p.count <= text.count, text[i] == p[0], text[i..<(i + p.count)].elementsEqual(p) {
                out.append(contentsOf: content.utf8)
                i += p.count
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
