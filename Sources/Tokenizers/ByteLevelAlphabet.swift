/// GPT-2's reversible byte-to-character map: printable Latin-1 bytes stand for themselves, the other
/// 68 bytes (controls, space, 0x7F–0xA0, 0xAD) are shifted to U+0100…U+0143. Byte-level vocabularies
/// spell every token in these characters ("Ġ" is the space byte, "Ċ" the newline).
enum ByteLevelAlphabet {
    /// The character (as a scalar value) that spells each byte.
    static let scalarForByte: [UInt32] = {
        var printable = Set<Int>()
        for range in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(range) }
        var table = [UInt32](repeating: 0, count: 256)
        var shifted: UInt32 = 0
        for b in 0..<256 {
            if printable.contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + shifted
                shifted += 1
            }
        }
        return table
    }()

    /// Inverse map indexed by scalar value (0...0x143); -1 where a scalar spells no byte.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in scalarForByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// The raw bytes a byte-level token spells, or nil if it contains a character outside the map
    /// (added tokens such as "<|im_start|>" are plain text and decode as their own UTF-8).
    static func bytes(ofToken token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[v]))
        }
        return out
    }

    /// The byte-level spelling of raw bytes (used to look up byte-level vocabulary entries).
    static func spell(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(scalarForByte[Int(b)])!) }
        return String(s)
    }
}
