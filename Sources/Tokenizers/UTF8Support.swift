/// UTF-8 helpers for decoding token bytes, including text streamed one token at a time.
enum UTF8Support {
    static func isValid(_ bytes: ArraySlice<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// The length of the trailing bytes of `bytes` that begin a UTF-8 sequence which is valid so
    /// far but not yet complete (0 if the buffer ends on a boundary or with definitely bad bytes).
    /// Holding these back, and only these, makes streamed text equal the one-shot decoding.
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // A sequence is at most 4 bytes, so an incomplete one starts within the last 3.
        var start = n - 1
        while start >= 0, start >= n - 3, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0, start >= n - 3 else { return 0 }
        let lead = bytes[start]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return 0
        }
        let have = n - start
        guard have < needed else { return 0 }
        // The second byte of some sequences has a narrower range (no overlongs, surrogates, > U+10FFFF).
        if have >= 2 {
            let second = bytes[start + 1]
            let low: UInt8, high: UInt8
            switch lead {
            case 0xE0: (low, high) = (0xA0, 0xBF)
            case 0xED: (low, high) = (0x80, 0x9F)
            case 0xF0: (low, high) = (0x90, 0xBF)
            case 0xF4: (low, high) = (0x80, 0x8F)
            default: (low, high) = (0x80, 0xBF)
            }
            guard second >= low && second <= high else { return 0 }
        }
        return have
    }
}
