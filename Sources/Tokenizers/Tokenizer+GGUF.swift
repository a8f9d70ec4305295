import Foundation
import GGUF

/// GGUF token types (llama.cpp's `llama_token_type`).
enum GGUFTokenType: Int {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

extension Tokenizer {
    /// Builds the tokenizer a GGUF file describes (`tokenizer.ggml.*` metadata), configured as the
    /// equivalent Hugging Face tokenizer: "gpt2" models are byte-level BPE with the pre-tokenizer named
    /// by `tokenizer.ggml.pre`; "llama" models are SentencePiece-style BPE with byte fallback.
    public convenience init(gguf: GGUFFile) throws {
        try self.init(Self.components(gguf))
    }

    /// Reads the tokenizer from the GGUF file at `path` (tensor data is neither read nor required).
    public convenience init(ggufPath path: String) throws {
        try self.init(gguf: GGUFFile(path: path, validateTensorData: false))
    }

    private static func components(_ gguf: GGUFFile) throws -> Components {
        let source = gguf.path
        let modelKey = "tokenizer.ggml.model"
        guard let modelName = try read(gguf, { try $0.stringIfPresent(modelKey) }) else {
            throw TokenizerError.missingField(source: source, field: modelKey)
        }
        guard let tokens = try read(gguf, { try $0.stringArrayIfPresent("tokenizer.ggml.tokens") }) else {
            throw TokenizerError.missingField(source: source, field: "tokenizer.ggml.tokens")
        }
        let types = try read(gguf, { try $0.intArrayIfPresent("tokenizer.ggml.token_type") })
            ?? Array(repeating: GGUFTokenType.normal.rawValue, count: tokens.count)
        guard types.count == tokens.count else {
            throw TokenizerError.invalidField(source: source, field: "tokenizer.ggml.token_type",
                                              reason: "\(types.count) entries for \(tokens.count) tokens")
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try read(gguf, { try $0.intIfPresent(key) }) else { return nil }
            guard id >= 0 && id < tokens.count else {
                // llama.cpp writes -1 (as UINT32 0xFFFFFFFF) for "none".
                if id == -1 || id == Int(UInt32.max) { return nil }
                throw TokenizerError.invalidField(source: source, field: key, reason: "id \(id) is outside the vocabulary of \(tokens.count)")
            }
            return id
        }

        let vocabulary = SpellingTable(tokens)

        let model: BPEModel
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer?
        let decoder: TokenDecoder
        var defaultAddBOS = false
        switch modelName {
        case "gpt2":
            guard let mergeStrings = try read(gguf, { try $0.stringArrayIfPresent("tokenizer.ggml.merges") }) else {
                throw TokenizerError.missingField(source: source, field: "tokenizer.ggml.merges")
            }
            let pre = try read(gguf, { try $0.stringIfPresent("tokenizer.ggml.pre") }) ?? "default"
            guard let choice = ggufPreTokenizers[pre] else {
                throw TokenizerError.unsupported(source: source, field: "tokenizer.ggml.pre", value: pre)
            }
            preTokenizer = choice.preTokenizer
            defaultAddBOS = choice.addsBOS
            var pairs: [([UInt8], [UInt8])] = []
            pairs.reserveCapacity(mergeStrings.count)
            for (i, merge) in mergeStrings.enumerated() {
                let bytes = Array(merge.utf8)
                // Split at the first space after the first byte, as llama.cpp does.
                guard bytes.count > 2, let space = bytes[1...].firstIndex(of: 0x20), space < bytes.count - 1 else {
                    throw TokenizerError.invalidField(source: source, field: "tokenizer.ggml.merges",
                                                      reason: "merge \(i) '\(merge)' is not two tokens separated by a space")
                }
                pairs.append((Array(bytes[..<space]), Array(bytes[(space + 1)...])))
            }
            let merges = try BPEModel.resolve(pairs, in: vocabulary, source: source, field: "tokenizer.ggml.merges")
            model = try BPEModel(unit: .bytes, vocabulary: vocabulary, merges: merges, byteFallback: false,
                                 unknownToken: nil, fuseUnknown: false, ignoreMerges: choice.ignoreMerges, source: source,
                                 unknownField: "tokenizer.ggml.unknown_token_id")
            decoder = .byteLevel
        case "llama":
            let scores = try read(gguf, { try $0.floatArrayIfPresent("tokenizer.ggml.scores") })
                ?? Array(repeating: 0, count: tokens.count)
            guard scores.count == tokens.count else {
                throw TokenizerError.invalidField(source: source, field: "tokenizer.ggml.scores",
                                                  reason: "\(scores.count) entries for \(tokens.count) tokens")
            }
            let addSpacePrefix = try read(gguf, { try $0.boolIfPresent("tokenizer.ggml.add_space_prefix") }) ?? true
            let skipped = Set(types.indices.filter {
                [GGUFTokenType.unknown, .control, .userDefined, .unused].map(\.rawValue).contains(types[$0])
            })
            let merges = SentencePieceMerges.generate(tokens: tokens, vocabulary: vocabulary, scores: scores, skipped: skipped)
            let unknownID = try tokenID("tokenizer.ggml.unknown_token_id")
                ?? types.firstIndex(of: GGUFTokenType.unknown.rawValue)
            model = try BPEModel(unit: .scalars, vocabulary: vocabulary, merges: merges, byteFallback: true,
                                 unknownToken: unknownID.map { tokens[$0] }, fuseUnknown: true,
                                 ignoreMerges: false, source: source, unknownField: "tokenizer.ggml.unknown_token_id")
            let replace = Normalizer.replaceLiteral(pattern: [0x20], content: Array("▁".utf8))
            normalizer = addSpacePrefix ? .sequence([.prepend("▁"), replace]) : replace
            var steps: [TokenDecoder] = [.replace(pattern: "▁", content: " "), .byteFallback, .fuse]
            if addSpacePrefix { steps.append(.strip(content: " ", start: 1, stop: 0)) }
            decoder = .sequence(steps)
            defaultAddBOS = true
        default:
            throw TokenizerError.unsupported(source: source, field: modelKey, value: modelName)
        }

        var added: [AddedToken] = []
        for (id, type) in types.enumerated() {
            switch GGUFTokenType(rawValue: type) {
            case .control, .unknown:
                added.append(AddedToken(id: id, content: tokens[id], special: true))
            case .userDefined:
                added.append(AddedToken(id: id, content: tokens[id], special: false))
            default:
                break
            }
        }

        let bos = try tokenID("tokenizer.ggml.bos_token_id")
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        var extraEOS = Set<Int>()
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = try tokenID(key) { extraEOS.insert(id) }
        }
        let addBOS = try read(gguf, { try $0.boolIfPresent("tokenizer.ggml.add_bos_token") }) ?? defaultAddBOS
        let addEOS = try read(gguf, { try $0.boolIfPresent("tokenizer.ggml.add_eos_token") }) ?? false

        var c = Components(source: source, tokens: tokens, model: model, normalizer: normalizer,
                           preTokenizer: preTokenizer, decoder: decoder, addedTokens: added)
        c.bos = bos
        c.eos = eos
        c.extraEOS = extraEOS
        c.pad = try tokenID("tokenizer.ggml.padding_token_id")
        c.unknown = try tokenID("tokenizer.ggml.unknown_token_id")
        c.prefix = addBOS ? bos.map { [$0] } ?? [] : []
        c.suffix = addEOS ? eos.map { [$0] } ?? [] : []
        c.chatTemplate = try read(gguf, { try $0.stringIfPresent("tokenizer.chat_template") })
        return c
    }

    /// Runs a GGUF accessor, turning its type errors into tokenizer errors that name file and key.
    private static func read<T>(_ gguf: GGUFFile, _ body: (GGUFFile) throws -> T) throws -> T {
        do { return try body(gguf) } catch let error as GGUFError {
            if case let .typeMismatch(file, key, expected, found) = error {
                throw TokenizerError.invalidField(source: file, field: key, reason: "expected \(expected), found \(found)")
            }
            throw error
        }
    }

    /// llama.cpp's `tokenizer.ggml.pre` names mapped to the HF pre-tokenizers of those models.
    private static let ggufPreTokenizers: [String: (preTokenizer: PreTokenizer, ignoreMerges: Bool, addsBOS: Bool)] = {
        let gpt2 = PreTokenizer.byteLevel(addPrefixSpace: false, useRegex: true)
        let digitsThenGPT2 = PreTokenizer.sequence([.digits(individual: true), gpt2])
        func split(_ pattern: SplitPattern) -> PreTokenizer {
            .sequence([.split(pattern, .isolated, invert: false), .byteLevel(addPrefixSpace: false, useRegex: false)])
        }
        var table: [String: (PreTokenizer, Bool, Bool)] = [:]
        for name in ["default", "gpt2", "gpt-2", "phi-2", "mpt", "olmo"] { table[name] = (gpt2, false, false) }
        for name in ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"] {
            table[name] = (digitsThenGPT2, false, false)
        }
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"] {
            table[name] = (split(.llama3(maxDigits: 3)), true, true)
        }
        for name in ["dbrx", "smaug-bpe"] { table[name] = (split(.llama3(maxDigits: 3)), false, false) }
        for name in ["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"] {
            table[name] = (split(.llama3(maxDigits: 1)), false, false)
        }
        return table.mapValues { (preTokenizer: $0.0, ignoreMerges: $0.1, addsBOS: $0.2) }
    }()
}
