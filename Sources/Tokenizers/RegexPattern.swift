import Foundation

/// A split regex with no hand-written scanner, run through ICU (NSRegularExpression). Used only for
/// tokenizer.json patterns this library does not recognise; the common patterns (GPT-2, Llama 3,
/// Qwen2) never come here. `\s` and `\S` are rewritten to the White_Space property so that they
/// mean what Oniguruma (HF's engine) means; other differences between ICU and Oniguruma remain.
struct RegexPattern: @unchecked Sendable {
    // NSRegularExpression is immutable and documented as safe to share between threads.
    private let regex: NSRegularExpression
    let source: String

    init(_ pattern: String) throws {
        source = pattern
        regex = try NSRegularExpression(pattern: Self.translate(pattern), options: [])
    }

    /// Byte ranges (within `start..<end` of `p`) of the non-overlapping matches.
    func matches(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> [Range<Int>] {
        let text = String(decoding: UnsafeBufferPointer(start: p + start, count: end - start), as: UTF8.self)
        let utf16 = text.utf16
        var result: [Range<Int>] = []
        for match in regex.matches(in: text, range: NSRange(location: 0, length: utf16.count)) {
            let r = match.range
            guard r.location != NSNotFound,
                  let lower = utf16.index(utf16.startIndex, offsetBy: r.location, limitedBy: utf16.endIndex),
                  let upper = utf16.index(lower, offsetBy: r.length, limitedBy: utf16.endIndex)
            else { continue }
            let a = text.utf8.distance(from: text.utf8.startIndex, to: lower)
            let b = text.utf8.distance(from: text.utf8.startIndex, to: upper)
            result.append((start + a)..<(start + b))
        }
        return result
    }

    /// Rewrites Oniguruma's `\s` / `\S` (Unicode White_Space) for ICU, whose `\s` differs.
    static func translate(_ pattern: String) -> String {
        var out = ""
        var escaped = false
        for ch in pattern {
            if escaped {
                switch ch {
                case "s": out += #"\p{White_Space}"#
                case "S": out += #"\P{White_Space}"#
                default: out += "\\" + String(ch)
                }
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else {
                out.append(ch)
            }
        }
        if escaped { out += "\\" }
        return out
    }
}
