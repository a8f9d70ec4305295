import ArgumentParser
import Foundation
import Jinja
import LM
import Tokenizers

/// `posttrain tokenize`: text to token ids and back, with the model's own tokenizer. Only the
/// tokenizer is read (a GGUF's metadata, a tokenizer.json, or an HF directory's tokenizer files),
/// never the weights, so a vocabulary-only GGUF works too.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Turn text on stdin into token ids, or ids back into text.",
        discussion: """
        Without --jsonl, stdin is one text (one trailing newline is dropped unless \
        --keep-trailing-newline) and the ids are printed as a JSON array, e.g. [504,3575]. \
        With --decode, stdin is a JSON array of ids and the text is printed, followed by a newline. \
        With --jsonl, every non-blank line is a JSON string (with --decode, a JSON array of ids) \
        and one result is printed per line (with --decode, as a JSON string). \
        Special-token strings in the text ("<|im_start|>") become their ids unless --no-parse-special.
        """)

    @Option(name: .long, help: "A GGUF file (a vocabulary-only one is enough), a tokenizer.json, a Hugging Face directory, or a model alias.")
    var model: String = ModelLoader.defaultModel

    @Flag(name: .long, help: "Add the tokens the model puts around a text (BOS/EOS), as add_special_tokens=True does.")
    var special = false

    @Flag(name: .customLong("no-parse-special"), help: "Treat special-token strings in the text as plain text.")
    var noParseSpecial = false

    @Flag(name: .long, help: "Decode: read token ids and print the text.")
    var decode = false

    @Flag(name: .customLong("skip-special"), help: "With --decode, leave special tokens out of the text.")
    var skipSpecial = false

    @Flag(name: .long, help: "One JSON value per input line, one result per output line.")
    var jsonl = false

    @Flag(name: .customLong("keep-trailing-newline"), help: "Without --jsonl, tokenize stdin byte for byte, final newline included.")
    var keepTrailingNewline = false

    func validate() throws {
        if skipSpecial && !decode { throw ValidationError("--skip-special applies to --decode only") }
        if decode && (special || noParseSpecial) { throw ValidationError("--special and --no-parse-special apply to encoding, not --decode") }
        if jsonl && keepTrailingNewline { throw ValidationError("--keep-trailing-newline applies without --jsonl only") }
    }

    func run() throws {
        let out = BufferedOutput()
        defer { out.flush() }
        if jsonl {
            let tokenizer = try ModelLoader.loadTokenizer(model)
            var lines = StdinLineReader()
            while let line = lines.next() {
                let n = lines.lineNumber
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                if decode {
                    let ids = try IDArrayParser.parse(line, firstLine: n)
                    try Self.check(ids, tokenizer: tokenizer)
                    out.write(Value.string(tokenizer.decode(ids.map(\.id), skipSpecialTokens: skipSpecial)).jsonString())
                } else {
                    guard String(bytes: line, encoding: .utf8) != nil else {
                        throw CommandInputError.line(n, "not valid UTF-8")
                    }
                    let value: Value
                    do {
                        value = try Value(jsonData: Data(line))
                    } catch let e as TemplateError {
                        throw CommandInputError.line(n, "not JSON: \(e.message)")
                    }
                    guard case .string(let text) = value else {
                        throw CommandInputError.line(n, "expected a JSON string, got \(Self.kind(of: value))")
                    }
                    out.write(Self.format(encode(text, tokenizer)))
                }
                out.write("\n")
            }
            return
        }
        if decode {
            let ids = try IDArrayParser.parse(Array(try StdIO.readAll()), firstLine: 1)
            let tokenizer = try ModelLoader.loadTokenizer(model)
            try Self.check(ids, tokenizer: tokenizer)
            out.write(tokenizer.decode(ids.map(\.id), skipSpecialTokens: skipSpecial))
            out.write("\n")
            return
        }
        var text = try StdIO.readAllText()
        if !keepTrailingNewline {
            if text.hasSuffix("\r\n") { text.removeLast() } else if text.hasSuffix("\n") { text.removeLast() }
        }
        let tokenizer = try ModelLoader.loadTokenizer(model)
        out.write(Self.format(encode(text, tokenizer)))
        out.write("\n")
    }

    private func encode(_ text: String, _ tokenizer: Tokenizer) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: special, parseSpecialTokens: !noParseSpecial)
    }

    /// Ids as a compact JSON array: `[504,3575]`.
    static func format(_ ids: [Int]) -> String {
        var s = "["
        s.reserveCapacity(ids.count * 6 + 2)
        for (i, id) in ids.enumerated() {
            if i > 0 { s += "," }
            s += String(id)
        }
        s += "]"
        return s
    }

    /// Every id must name a token of this vocabulary.
    static func check(_ ids: [IDArrayParser.Entry], tokenizer: Tokenizer) throws {
        let size = tokenizer.vocabularySize
        for e in ids {
            guard e.id >= 0 && e.id < size else {
                throw CommandInputError.line(e.line, "token id \(e.id) is out of range: the vocabulary has ids 0..<\(size)")
            }
            guard tokenizer.idToToken(e.id) != nil else {
                throw CommandInputError.line(e.line, "token id \(e.id) is not used by this vocabulary")
            }
        }
    }

    static func kind(of v: Value) -> String {
        switch v {
        case .none: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Parses a JSON array of integers, remembering the line of each entry so that errors (bad JSON,
/// an id out of range) can name it.
enum IDArrayParser {
    struct Entry: Equatable {
        var id: Int
        var line: Int
    }

    static func parse(_ b: [UInt8], firstLine: Int) throws -> [Entry] {
        var i = 0
        var line = firstLine
        func fail(_ msg: String) -> CommandInputError { CommandInputError.line(line, "not a JSON array of token ids: \(msg)") }
        func skipSpace() {
            while i < b.count {
                switch b[i] {
                case 0x0A: line += 1
                case 0x20, 0x09, 0x0D: break
                default: return
                }
                i += 1
            }
        }
        func describe() -> String {
            guard i < b.count else { return "end of input" }
            let end = min(b.count, i + 12)
            let shown = String(decoding: b[i..<end], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            return "\"\(shown)\(end < b.count ? "…" : "")\""
        }
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: "[") else { throw fail("expected '[', found \(describe())") }
        i += 1
        var out: [Entry] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1
        } else {
            while true {
                skipSpace()
                let entryLine = line
                let start = i
                if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
                let digitsStart = i
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > digitsStart else { i = start; throw fail("expected a token id, found \(describe())") }
                if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                    i = start
                    throw fail("token ids are integers, found \(describe())")
                }
                let digits = String(decoding: b[start..<i], as: UTF8.self)
                guard let id = Int(digits) else { throw fail("token id \(digits) is out of range") }
                out.append(Entry(id: id, line: entryLine))
                skipSpace()
                guard i < b.count else { throw fail("unterminated array: expected ',' or ']'") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; break }
                throw fail("expected ',' or ']', found \(describe())")
            }
        }
        skipSpace()
        guard i == b.count else { throw fail("unexpected \(describe()) after the array") }
        return out
    }
}
