import Foundation

/// A deterministic corpus of strings that stress tokenizers: prose, code, whitespace runs, numbers,
/// emoji sequences, many scripts, combining marks, contractions, punctuation, special-token
/// look-alikes and random scalars. The same seed gives the same strings on every run.
enum TestCorpus {
    static func strings(seed: UInt64 = 0x5EED_70C5, specialTokens: [String]) -> [String] {
        var rng = SplitMix64(seed: seed)
        var out: [String] = fixed + specialTokenCases(specialTokens)
        for _ in 0..<220 { out.append(prose(&rng)) }
        for _ in 0..<140 { out.append(code(&rng)) }
        for _ in 0..<120 { out.append(whitespace(&rng)) }
        for _ in 0..<120 { out.append(numbers(&rng)) }
        for _ in 0..<100 { out.append(multilingual(&rng)) }
        for _ in 0..<100 { out.append(contractionsAndPunctuation(&rng)) }
        for _ in 0..<80 { out.append(withSpecialTokens(&rng, specialTokens)) }
        for _ in 0..<160 { out.append(randomScalars(&rng)) }
        for _ in 0..<60 { out.append(mixture(&rng, specialTokens)) }
        out.append(contentsOf: long(&rng))
        return out
    }

    /// Real English: lines of wiki_demo.txt and Alpaca instructions and answers (from `make setup`).
    static func realText(lines: Int) throws -> [String] {
        let data = TestEnvironment.deps.appendingPathComponent("data")
        let wiki = try String(contentsOf: TestEnvironment.require(data.appendingPathComponent("wiki_demo.txt")), encoding: .utf8)
        let alpacaData = try Data(contentsOf: TestEnvironment.require(data.appendingPathComponent("alpaca_en_demo.json")))
        let alpaca = (try JSONSerialization.jsonObject(with: alpacaData) as? [[String: String]]) ?? []
        let paragraphs = wiki.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        let answers = alpaca.flatMap { [$0["instruction"] ?? "", $0["output"] ?? ""] }.filter { !$0.isEmpty }
        return Array(paragraphs.prefix(lines / 2)) + Array(answers.prefix(lines - lines / 2))
    }

    // MARK: - Building blocks

    static let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "model", "training", "gradient",
        "Hello", "World", "THE", "Transformer", "attention", "is", "all", "you", "need", "a", "an", "of", "to", "in",
        "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "I", "OK", "iPhone",
        "McDonald", "e-mail", "state-of-the-art", "naïve", "café", "résumé", "Zürich", "façade", "coöperate",
    ]
    static let scripts = [
        "日本語のテキストです", "中文字符和标点，。", "한국어 문장입니다", "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก",
        "שלום עולם", "Привет, мир", "Γειά σου Κόσμε", "Բարեւ աշխարհ", "გამარჯობა", "ሰላም ዓለም", "ᏣᎳᎩ", "ꯃꯤꯇꯩ",
        "Tiếng Việt có dấu", "Ελληνικά", "ภาษาไทย", "ខ្មែរ", "မြန်မာ", "සිංහල", "தமிழ்", "తెలుగు", "ગુજરાતી", "বাংলা",
        "ǅemal ǈubljana", "ﬁne ﬂow", "Ａｂｃ１２３", "ｶﾀｶﾅ", "𝕳𝖊𝖑𝖑𝖔", "𝟏𝟐𝟑", "ℌℑℜ", "Ⅻ ⅳ ½ ² ³ ①②", "٣٤٥ ۷۸۹ ०१२",
    ]
    static let emoji = [
        "😀", "🙂", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵🇺🇸", "1️⃣", "❤️", "🤦🏼‍♂️", "🧑🏿‍🚀", "🐈‍⬛", "✨",
        "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "©️", "™", "⌚", "↔️",
    ]
    static let combining = [
        "cafe\u{301}", "e\u{301}\u{302}\u{303}", "A\u{30A}", "Å", "n\u{303}", "ñ", "o\u{308}\u{332}", "\u{301}alone",
        "x\u{20DD}", "Z\u{35C}\u{361}a", "ᄀ\u{1161}", "가", "i\u{307}", "ß", "ẞ", "ǰ", "ﬀ",
    ]
    static let oddScalars = [
        "\u{FFFD}", "\u{200B}", "\u{00A0}", "\u{3000}", "\u{FEFF}", "\u{200D}", "\u{2060}", "\u{1}", "\u{7F}", "\u{85}",
        "\u{E000}", "\u{10FFFF}", "\u{1F3FB}", "\u{2028}", "\u{2029}", "\u{180E}", "\u{202F}", "\u{205F}", "\u{1680}",
        "\u{B}", "\u{C}", "\u{1C}", "\u{0}", "\u{FE0F}", "\u{E0041}", "\u{17F}", "\u{212A}",
    ]
    static let punctuation = [
        "!", "?", ".", ",", ";", ":", "...", "!!!", "?!", "---", "***", "«»", "“quoted”", "‘single’", "…", "@#$%^&*()",
        "<>", "[]", "{}", "|", "\\", "/", "~", "`", "''", "\"\"", "'", "’", "—", "–", "¿¡", "§¶", "•", "→", "∑∫√", "€£¥",
    ]
    static let spaces = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \t ", "\u{A0}", "\u{3000}",
                         "\u{2028}", "\u{85}", "\u{B}", "\u{C}", "    ", "\n\n\n", " \r\n ", "\u{2003}"]

    static func pick<T>(_ a: [T], _ rng: inout SplitMix64) -> T { a[Int(rng.next() % UInt64(a.count))] }
    static func chance(_ p: Double, _ rng: inout SplitMix64) -> Bool { Double(rng.next() % 10_000) / 10_000 < p }
    static func count(_ range: ClosedRange<Int>, _ rng: inout SplitMix64) -> Int {
        range.lowerBound + Int(rng.next() % UInt64(range.count))
    }

    static func prose(_ rng: inout SplitMix64) -> String {
        var s = ""
        for i in 0..<count(1...30, &rng) {
            var w = pick(words, &rng)
            if i == 0 || chance(0.1, &rng) { w = w.prefix(1).uppercased() + w.dropFirst() }
            if chance(0.05, &rng) { w = w.uppercased() }
            s += (i == 0 ? "" : " ") + w
            if chance(0.12, &rng) { s += pick([",", ".", ";", ":", "!", "?", "'s", "'S", " -", "..."], &rng) }
        }
        return s + pick(["", ".", "!", "?", "\n", " "], &rng)
    }

    static func code(_ rng: inout SplitMix64) -> String {
        let snippets = [
            "def f(x):\n    return x ** 2  # square\n",
            "func add(_ a: Int, _ b: Int) -> Int {\n\treturn a + b\n}\n",
            "#include <stdio.h>\nint main(void) {\n    printf(\"%d\\n\", 42);\r\n    return 0;\n}\n",
            "const xs = [1, 2, 3].map((x) => x * 2); // => [2, 4, 6]\n",
            "fn main() { let v: Vec<u8> = vec![0xff; 16]; println!(\"{:?}\", v); }",
            "<div class=\"row\">\n  <span>&nbsp;Hi&amp;bye</span>\n</div>",
            "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
            "for i in $(seq 1 10); do echo \"$i\" | tee -a log.txt; done",
            "if (a != b && c <= d || !e) { x += y >> 2; }",
            "    @property\n    def __repr__(self) -> str:\n        return f\"<{self.name!r}>\"\n",
            "let regex = /'s|'t|'re|'ve|'m|'ll|'d/g;",
            "{\"key\": [1, 2.5e-3, null, true], \"nested\": {\"a\": \"b\"}}",
            "x=1;y=2;z=x+y\t\t# tabs\n\n\n    indented\n",
            "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)\n",
            "\tpublic static void main(String[] args) throws IOException {}\r\n",
        ]
        var s = ""
        for _ in 0..<count(1...3, &rng) {
            var snippet = pick(snippets, &rng)
            if chance(0.2, &rng) { snippet = snippet.replacingOccurrences(of: "    ", with: "\t") }
            if chance(0.2, &rng) { snippet = snippet.replacingOccurrences(of: "\n", with: "\r\n") }
            s += snippet
        }
        return s
    }

    static func whitespace(_ rng: inout SplitMix64) -> String {
        var s = ""
        for _ in 0..<count(1...8, &rng) {
            if chance(0.6, &rng) { s += pick(words, &rng) }
            for _ in 0..<count(1...4, &rng) { s += pick(spaces, &rng) }
            if chance(0.2, &rng) { s += pick(punctuation, &rng) }
            if chance(0.1, &rng) { s += String(count(0...999, &rng)) }
        }
        return s
    }

    static func numbers(_ rng: inout SplitMix64) -> String {
        func digits(_ n: Int, _ rng: inout SplitMix64) -> String {
            String((0..<n).map { _ in Character(String(rng.next() % 10)) })
        }
        let forms: [(inout SplitMix64) -> String] = [
            { r in digits(count(1...25, &r), &r) },
            { r in digits(count(1...4, &r), &r) + "." + digits(count(1...8, &r), &r) },
            { r in "-" + digits(count(1...6, &r), &r) },
            { r in "1,000,000 and 3.14159 and 2e10 and 0x1F" },
            { r in digits(3, &r) + "-" + digits(3, &r) + "-" + digits(4, &r) },
            { r in "2024-0" + String(count(1...9, &r)) + "-1" + String(count(0...9, &r)) + "T12:34:56Z" },
            { r in digits(count(1...3, &r), &r) + pick(["kg", "%", "km/h", "px", "ms", " GB", "°C", "x"], &r) },
            { r in "v" + digits(1, &r) + "." + digits(2, &r) + "." + digits(1, &r) },
            { r in pick(["٣٤٥٦", "१२३४५", "１２３４", "Ⅻ", "½¾", "²³", "①②③", "𝟙𝟚𝟛"], &r) + digits(2, &r) },
            { r in " " + digits(count(1...12, &r), &r) + " " },
        ]
        var s = ""
        for _ in 0..<count(1...4, &rng) {
            s += pick(forms, &rng)(&rng)
            s += pick([" ", "", ", ", "\n", " and ", "x"], &rng)
        }
        return s
    }

    static func multilingual(_ rng: inout SplitMix64) -> String {
        var s = ""
        for _ in 0..<count(1...5, &rng) {
            switch rng.next() % 5 {
            case 0: s += pick(scripts, &rng)
            case 1: s += pick(emoji, &rng) + (chance(0.5, &rng) ? pick(emoji, &rng) : "")
            case 2: s += pick(combining, &rng)
            case 3: s += pick(words, &rng)
            default: s += pick(oddScalars, &rng)
            }
            if chance(0.6, &rng) { s += pick(spaces, &rng) }
        }
        return s
    }

    static func contractionsAndPunctuation(_ rng: inout SplitMix64) -> String {
        let contractions = ["DON'T", "I'M", "you're", "We'Ll", "it'S", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'D",
                            "THEY'VE", "o'clock", "rock'n'roll", "it’s", "it'ſ", "'ſ", "'LL", "'Re", "''s", "'", "'x"]
        var s = ""
        for _ in 0..<count(1...10, &rng) {
            if chance(0.5, &rng) { s += pick(contractions, &rng) } else { s += pick(punctuation, &rng) }
            if chance(0.4, &rng) { s += pick(words, &rng) }
            if chance(0.5, &rng) { s += pick([" ", "", "  ", "\n"], &rng) }
        }
        return s
    }

    static func withSpecialTokens(_ rng: inout SplitMix64, _ specials: [String]) -> String {
        guard !specials.isEmpty else { return prose(&rng) }
        var s = ""
        for _ in 0..<count(1...6, &rng) {
            switch rng.next() % 6 {
            case 0: s += pick(specials, &rng)
            case 1: s += String(pick(specials, &rng).dropLast())
            case 2: s += pick(["user", "assistant", "system", "\n", " ", "Hi!", "<", "|>", "<|", "<<|"], &rng)
            case 3: s += pick(specials, &rng) + pick(specials, &rng)
            default: s += prose(&rng)
            }
        }
        return s
    }

    /// Random scalars from everywhere in Unicode that was assigned by Unicode 12.0 (older than every
    /// engine involved, so all agree on their properties), mixed with the interesting ASCII.
    static func randomScalars(_ rng: inout SplitMix64) -> String {
        var view = String.UnicodeScalarView()
        let length = count(1...24, &rng)
        while view.count < length {
            let roll = rng.next() % 10
            let value: UInt32
            switch roll {
            case 0...3: value = UInt32(0x20 + rng.next() % 0x5F)
            case 4: value = UInt32(rng.next() % 0x20)
            case 5...6: value = UInt32(0x80 + rng.next() % 0x2F80)
            case 7: value = UInt32(0x3000 + rng.next() % 0xD000)
            case 8: value = UInt32(0x1F000 + rng.next() % 0x1000)
            default: value = UInt32(rng.next() % 0x110000)
            }
            guard let scalar = Unicode.Scalar(value),
                  let age = scalar.properties.age, (age.major, age.minor) <= (12, 0) else { continue }
            view.append(scalar)
        }
        return String(view)
    }

    static func mixture(_ rng: inout SplitMix64, _ specials: [String]) -> String {
        (0..<count(2...5, &rng)).map { _ -> String in
            switch rng.next() % 6 {
            case 0: return prose(&rng)
            case 1: return code(&rng)
            case 2: return numbers(&rng)
            case 3: return multilingual(&rng)
            case 4: return withSpecialTokens(&rng, specials)
            default: return randomScalars(&rng)
            }
        }.joined(separator: pick(["", " ", "\n"], &rng))
    }

    static func long(_ rng: inout SplitMix64) -> [String] {
        [
            String(repeating: " ", count: 300),
            String(repeating: "a", count: 700),
            String(repeating: "ab", count: 400) + String(repeating: "\n", count: 100),
            String(repeating: "😀", count: 150),
            String(repeating: "9", count: 500),
            (0..<40).map { _ in prose(&rng) }.joined(separator: " "),
            String(repeating: "\t \n", count: 120) + "end",
            String(repeating: "日本", count: 300),
        ]
    }

    static let fixed: [String] = [
        "", " ", "  ", "\n", "\r\n", "\t", "a", "A", "é", "😀", "0", "00", "123", "1234", "12345", "'", "'s", " 's",
        "Hello world", "Hello  world", "Hello   world", " Hello", "Hello ", "Hello\n\nworld", "Hello\r\n\r\nworld",
        "   leading", "trailing   ", "tabs\t\tinside", "a\u{A0}b", "a\u{A0}\u{A0}b", "a\u{3000}\u{3000}b",
        "x  \n  y", "café cafe\u{301}", " 12 ab", "don't DON'T", "I'M here", "itſ 'ſ x'S", "'RE 'Re", "!!\n\nfoo",
        "  \n  x", "a\r\n\r\nb", "\u{A0}word", "word\u{A0}", "12345678901234567890", "3.14159", "$1,000.00",
        "👩‍👩‍👧‍👦", "🇫🇷🇩🇪", "👍🏿👍🏻", "e\u{301}", "\u{FFFD}", "\u{200B}zero\u{200B}width", "tab\tthen space ",
        "ALL CAPS SENTENCE.", "MiXeD CaSe WoRdS", "snake_case_name", "camelCaseName", "kebab-case-name",
        "http://example.com/path?query=1&b=2#frag", "user@example.com", "C:\\Windows\\System32", "~/.bashrc",
    ]

    static func specialTokenCases(_ specials: [String]) -> [String] {
        guard let first = specials.first else { return [] }
        let last = specials.last!
        return [
            first, last, first + last, "\(first)user\nHello\(last)", " \(first) ", "text\(first)text",
            "\(first)\(first)\(first)", String(first.dropLast()), String(first.dropFirst()), "<\(first)>",
            specials.joined(), specials.joined(separator: " "), specials.joined(separator: "\n"),
        ]
    }
}
