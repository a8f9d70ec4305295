/// Character classes used by the pre-tokenizer scanners, defined as HF tokenizers' regex engine
/// (Oniguruma) defines them: `\p{L}` is general category L*, `\p{N}` is N*, `\s` is the Unicode
/// White_Space property (so U+00A0, U+0085 and U+3000 are spaces, U+200B and U+180E are not).
struct CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4

    /// One byte per BMP scalar, computed once per process and never freed (scalars above U+FFFF are
    /// looked up directly). Held as a raw pointer so the scanners' hot loops index it without checks.
    static let bmpTable: BMPTable = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for v in 0..<0x10000 {
            table[v] = Unicode.Scalar(UInt32(v)).map(compute) ?? 0
        }
        return BMPTable(base: UnsafePointer(table))
    }()

    struct BMPTable: @unchecked Sendable {
        let base: UnsafePointer<UInt8>
    }

    static func compute(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        var bits: UInt8 = 0
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            bits |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            bits |= number
        default:
            break
        }
        if properties.isWhitespace { bits |= whitespace }
        return bits
    }
}

/// Fast class lookup: copies the table pointer once so the hot loop does no lazy-global checks.
struct ClassLookup: Sendable {
    private let table: CharClass.BMPTable

    init() { table = CharClass.bmpTable }

    @inline(__always)
    func classOf(_ v: UInt32) -> UInt8 {
        if v < 0x10000 { return table.base[Int(v)] }
        guard let scalar = Unicode.Scalar(v) else { return 0 }
        return CharClass.compute(scalar)
    }
}

/// Decodes the scalar starting at `i` in well-formed UTF-8 (Swift strings always are) and returns
/// it with its byte length.
@inline(__always)
func decodeScalar(_ p: UnsafePointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1]) & 0x3F, 2) }
    if b0 < 0xF0 {
        return ((b0 & 0x0F) << 12 | (UInt32(p[i + 1]) & 0x3F) << 6 | UInt32(p[i + 2]) & 0x3F, 3)
    }
    return ((b0 & 0x07) << 18 | (UInt32(p[i + 1]) & 0x3F) << 12 | (UInt32(p[i + 2]) & 0x3F) << 6
            | UInt32(p[i + 3]) & 0x3F, 4)
}

/// The byte length of the scalar that ends just before `end` (walks back over continuation bytes).
@inline(__always)
func lengthOfScalar(endingAt end: Int, _ p: UnsafePointer<UInt8>) -> Int {
    var i = end - 1
    while p[i] & 0xC0 == 0x80 { i -= 1 }
    return end - i
}

/// Character predicates of the Rust `regex` crate and Rust's `char`, which HF uses around added
/// tokens (`\w`, `\s`) and in the Digits pre-tokenizer (`char::is_numeric`).
enum RustCharacter {
    /// `\w` of the Rust regex crate: Alphabetic, marks, decimal digits, connector punctuation, joiners.
    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
}
