import Foundation

/// The normalizers of HF tokenizers that LLM vocabularies use, applied to each piece of text
/// between added tokens (as HF does: a Prepend normalizer prefixes every such piece).
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case prepend(String)
    case replaceLiteral(pattern: [UInt8], content: [UInt8])
    case replaceRegex(RegexPattern, content: String)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)

    func apply(_ text: [UInt8]) -> [UInt8] {
        switch self {
        case let .sequence(steps):
            return steps.reduce(text) { $1.apply($0) }
        case let .prepend(prefix):
            return text.isEmpty ? text : Array(prefix.utf8) + text
        case let .replaceLiteral(pattern, content):
            return Self.replace(text, pattern, content)
        case let .replaceRegex(regex, content):
            return text.withUnsafeBufferPointer { buffer -> [UInt8] in
                guard let p = buffer.baseAddress else { return text }
                var out: [UInt8] = []
                var previous = 0
                for m in regex.matches(p, 0, text.count) {
                    out.append(contentsOf: text[previous..<m.lowerBound])
                    out.append(contentsOf: content.utf8)
                    previous = m.upperBound
                }
                out.append(contentsOf: text[previous...])
                return out
            }
        case .nfc: return Array(Self.string(text).precomposedStringWithCanonicalMapping.utf8)
        case .nfd: return Array(Self.string(text).decomposedStringWithCanonicalMapping.utf8)
        case .nfkc: return Array(Self.string(text).precomposedStringWithCompatibilityMapping.utf8)
        case .nfkd: return Array(Self.string(text).decomposedStringWithCompatibilityMapping.utf8)
        case .lowercase:
            // Per-scalar full lowercase mapping, as Rust's `str::to_lowercase` (bar final-sigma context).
            var out = String.UnicodeScalarView()
            for s in Self.string(text).unicodeScalars { out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
            return Array(String(out).utf8)
        case let .strip(left, right):
            var scalars = Array(Self.string(text).unicodeScalars)
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return Array(String(view).utf8)
        }
    }

    private static func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func replace(_ text: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 4)
        var i = 0
        let n = pattern.count
        while i < text.count {
            if text[i] == pattern[0], i + n <= text.count, text[i..<(i + n)].elementsEqual(pattern) {
                out.append(contentsOf: content)
                i += n
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}
