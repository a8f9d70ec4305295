import Foundation

extension Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`, with the optional `tokenizer_config.json` beside it
    /// supplying BOS/EOS/PAD, `add_bos_token`/`add_eos_token` and the chat template. A lone
    /// tokenizer.json works: BOS/EOS then come from its post-processor and added tokens.
    public convenience init(tokenizerJSON url: URL, config configURL: URL? = nil, generationConfig: URL? = nil) throws {
        let data = try Self.readFile(url)
        let config = try configURL.map { try JSONField.parse(Self.readFile($0), source: $0.path) }
        let generation = try generationConfig.map { try JSONField.parse(Self.readFile($0), source: $0.path) }
        try self.init(Self.components(json: JSONField.parse(data, source: url.path), config: config, generation: generation))
    }

    /// Loads a Hugging Face model directory: tokenizer.json plus, when present, tokenizer_config.json,
    /// generation_config.json (extra stop ids) and chat_template.jinja.
    public convenience init(directory: URL) throws {
        let file = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw TokenizerError.unreadable(source: directory.path, reason: "no tokenizer.json in this directory")
        }
        func optional(_ name: String) -> URL? {
            let url = directory.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        let data = try Self.readFile(file)
        let config = try optional("tokenizer_config.json").map { try JSONField.parse(Self.readFile($0), source: $0.path) }
        let generation = try optional("generation_config.json").map { try JSONField.parse(Self.readFile($0), source: $0.path) }
        var c = try Self.components(json: JSONField.parse(data, source: file.path), config: config, generation: generation)
        if let template = optional("chat_template.jinja") {
            c.chatTemplate = String(decoding: try Self.readFile(template), as: UTF8.self)
        }
        self.init(c)
    }

    /// Parses tokenizer.json (and tokenizer_config.json) held in memory; `source` names them in errors.
    public convenience init(tokenizerJSONData data: Data, configData: Data? = nil, source: String) throws {
        let config = try configData.map { try JSONField.parse($0, source: source + " (tokenizer_config.json)") }
        try self.init(Self.components(json: JSONField.parse(data, source: source), config: config, generation: nil))
    }

    /// Loads whatever `url` is: a .gguf file, a model directory, or a tokenizer.json file.
    public static func load(_ url: URL) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.unreadable(source: url.path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try Tokenizer(directory: url) }
        if url.pathExtension.lowercased() == "gguf" { return try Tokenizer(ggufPath: url.path) }
        let sibling = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        return try Tokenizer(tokenizerJSON: url, config: FileManager.default.fileExists(atPath: sibling.path) ? sibling : nil)
    }

    private static func readFile(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(source: url.path, reason: "cannot read file (\(error.localizedDescription))")
        }
    }

    // MARK: - tokenizer.json

    private static func components(json: JSONField, config: JSONField?, generation: JSONField?) throws -> Components {
        let source = json.source
        _ = try json.object()
        let modelField = json["model"]
        _ = try modelField.object()
        let type = try modelField["type"].optionalString() ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(source: source, field: "model.type", value: type) }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = try modelField[key].optionalString(), !value.isEmpty {
                throw TokenizerError.unsupported(source: source, field: "model.\(key)", value: value)
            }
        }

        let vocabField = modelField["vocab"]
        let vocabObject = try vocabField.object()
        var vocabulary = SpellingTable(capacity: vocabObject.count)
        var tokens: [String?] = []
        for (token, rawID) in vocabObject {
            guard let id = JSONField(rawID, path: "\(vocabField.path).\(token)", source: source).intOrNil(),
                  id >= 0, id < maxTokenID else {
                throw vocabField.invalid("token '\(token)' has no valid id (0..<\(maxTokenID))")
            }
            if id >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: id + 1 - tokens.count)) }
            tokens[id] = token
            vocabulary.insert(token, id: Int32(id))
        }

        let addedField = json["added_tokens"]
        var added: [AddedToken] = []
        if !addedField.isNull {
            for item in try addedField.array() {
                let id = try item["id"].int()
                guard id >= 0, id < maxTokenID else { throw item["id"].invalid("id \(id) is outside 0..<\(maxTokenID)") }
                added.append(AddedToken(
                    id: id, content: try item["content"].string(),
                    special: try item["special"].bool(default: false), lstrip: try item["lstrip"].bool(default: false),
                    rstrip: try item["rstrip"].bool(default: false), normalized: try item["normalized"].bool(default: true),
                    singleWord: try item["single_word"].bool(default: false)))
            }
        }
        let normalizer = try parseNormalizer(json["normalizer"])
        let preTokenizer = try parsePreTokenizer(json["pre_tokenizer"])
        let decoder = try parseDecoder(json["decoder"])
        let unit: BPEModel.Unit = preTokenizer?.isByteLevel == true ? .bytes : .scalars

        let mergesField = modelField["merges"]
        var pairs: [([UInt8], [UInt8])] = []
        if !mergesField.isNull {
            let merges = try mergesField.array()
            pairs.reserveCapacity(merges.count)
            for item in merges {
                if let s = item.value as? String {
                    // Older files write "left right"; tokens cannot contain the separating space.
                    let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw item.invalid("expected two tokens separated by a space, found '\(s)'") }
                    pairs.append((Array(parts[0].utf8), Array(parts[1].utf8)))
                } else if let a = item.value as? [String], a.count == 2 {
                    pairs.append((Array(a[0].utf8), Array(a[1].utf8)))
                } else {
                    throw item.invalid("expected a pair of tokens")
                }
            }
        }
        let unknownToken = try modelField["unk_token"].optionalString()
        let model = try BPEModel(
            unit: unit, vocabulary: vocabulary, merges: BPEModel.resolve(pairs, in: vocabulary, source: source, field: "model.merges"),
            byteFallback: try modelField["byte_fallback"].bool(default: false),
            unknownToken: unknownToken, fuseUnknown: try modelField["fuse_unk"].bool(default: false),
            ignoreMerges: try modelField["ignore_merges"].bool(default: false), source: source, unknownField: "model.unk_token")

        func id(of content: String?) -> Int? {
            guard let content else { return nil }
            if let t = added.first(where: { $0.content == content }) { return t.id }
            return vocabulary.find(content).map(Int.init)
        }

        var c = Components(source: source, tokens: tokens, model: model, normalizer: normalizer,
                           preTokenizer: preTokenizer, decoder: decoder, addedTokens: added)
        (c.prefix, c.suffix) = try parsePostProcessor(json["post_processor"])
        c.unknown = id(of: unknownToken)

        if let config {
            _ = try config.object()
            c.bos = id(of: try config["bos_token"].tokenContent())
            c.eos = id(of: try config["eos_token"].tokenContent())
            c.pad = id(of: try config["pad_token"].tokenContent())
            if let unknown = try config["unk_token"].tokenContent() { c.unknown = id(of: unknown) }
            // As transformers does for Llama-style tokenizers, explicit flags rebuild the template.
            if let addBOS = try config["add_bos_token"].optionalBool() {
                c.prefix = addBOS ? c.bos.map { [$0] } ?? [] : []
            }
            if let addEOS = try config["add_eos_token"].optionalBool() {
                c.suffix = addEOS ? c.eos.map { [$0] } ?? [] : []
            }
            c.chatTemplate = try parseChatTemplate(config["chat_template"])
        }
        // Without a config, a template that starts with one special token names the BOS.
        if c.bos == nil, c.prefix.count == 1 { c.bos = c.prefix[0] }
        if c.eos == nil, c.suffix.count == 1 { c.eos = c.suffix[0] }
        if let generation {
            let field = generation["eos_token_id"]
            if let one = try? field.optionalInt() {
                c.extraEOS.insert(one)
            } else if !field.isNull {
                for item in try field.array() { c.extraEOS.insert(try item.int()) }
            }
        }
        return c
    }

    /// Ids index dense tables, so a corrupt id must not size a huge allocation.
    private static let maxTokenID = 1 << 24

    private static func parseChatTemplate(_ field: JSONField) throws -> String? {
        if field.isNull { return nil }
        if let s = field.value as? String { return s }
        // A list of named templates: prefer "default".
        let named = try field.array().map { (try $0["name"].string(), try $0["template"].string()) }
        return named.first { $0.0 == "default" }?.1 ?? named.first?.1
    }

    // MARK: - Pipeline sections

    private static func parseNormalizer(_ field: JSONField) throws -> Normalizer? {
        if field.isNull { return nil }
        let type = try field["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try field["normalizers"].array().compactMap(parseNormalizer))
        case "Prepend":
            return .prepend(try field["prepend"].string())
        case "Replace":
            let content = try field["content"].string()
            let pattern = field["pattern"]
            if let s = try pattern["String"].optionalString() {
                return .replaceLiteral(pattern: Array(s.utf8), content: Array(content.utf8))
            }
            return .replaceRegex(try regex(pattern["Regex"]), content: content)
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(left: try field["strip_left"].bool(default: true), right: try field["strip_right"].bool(default: true))
        default:
            throw TokenizerError.unsupported(source: field.source, field: "\(field.path).type", value: type)
        }
    }

    private static func parsePreTokenizer(_ field: JSONField) throws -> PreTokenizer? {
        if field.isNull { return nil }
        let type = try field["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try field["pretokenizers"].array().compactMap(parsePreTokenizer))
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try field["add_prefix_space"].bool(default: true),
                              useRegex: try field["use_regex"].bool(default: true))
        case "Split":
            let pattern = field["pattern"]
            let splitPattern: SplitPattern
            if let s = try pattern["String"].optionalString() {
                splitPattern = .literal(Array(s.utf8))
            } else {
                let source = try pattern["Regex"].string()
                splitPattern = try SplitPattern.known(source) ?? .regex(regex(pattern["Regex"]))
            }
            let behaviorName = try field["behavior"].string()
            guard let behavior = splitBehaviors[behaviorName] else {
                throw TokenizerError.unsupported(source: field.source, field: "\(field.path).behavior", value: behaviorName)
            }
            return .split(splitPattern, behavior, invert: try field["invert"].bool(default: false))
        case "Digits":
            return .digits(individual: try field["individual_digits"].bool(default: false))
        case "Metaspace":
            return .metaspace(replacement: try field["replacement"].string(), prependScheme: try prependScheme(field),
                              split: try field["split"].bool(default: true))
        case "WhitespaceSplit":
            return .whitespaceSplit
        default:
            throw TokenizerError.unsupported(source: field.source, field: "\(field.path).type", value: type)
        }
    }

    private static func parseDecoder(_ field: JSONField) throws -> TokenDecoder? {
        if field.isNull { return nil }
        let type = try field["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try field["decoders"].array().compactMap(parseDecoder))
        case "ByteLevel":
            return .byteLevel
        case "Replace":
            guard let pattern = try field["pattern"]["String"].optionalString() else {
                throw TokenizerError.unsupported(source: field.source, field: "\(field.path).pattern", value: "Regex")
            }
            return .replace(pattern: pattern, content: try field["content"].string())
        case "ByteFallback":
            return .byteFallback
        case "Fuse":
            return .fuse
        case "Strip":
            return .strip(content: try scalar(field["content"]), start: try field["start"].int(), stop: try field["stop"].int())
        case "Metaspace":
            return .metaspace(replacement: try scalar(field["replacement"]), prependScheme: try prependScheme(field))
        default:
            throw TokenizerError.unsupported(source: field.source, field: "\(field.path).type", value: type)
        }
    }

    /// The ids a post-processor puts before and after a single sequence.
    private static func parsePostProcessor(_ field: JSONField) throws -> ([Int], [Int]) {
        if field.isNull { return ([], []) }
        let type = try field["type"].string()
        switch type {
        case "ByteLevel":
            return ([], [])
        case "Sequence":
            var prefix: [Int] = [], suffix: [Int] = []
            for item in try field["processors"].array() {
                let (p, s) = try parsePostProcessor(item)
                prefix += p
                suffix = s + suffix
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            let specials = field["special_tokens"]
            var prefix: [Int] = [], suffix: [Int] = []
            var seenSequence = false
            for item in try field["single"].array() {
                if !item["Sequence"].isNull {
                    seenSequence = true
                    continue
                }
                let name = try item["SpecialToken"]["id"].string()
                let ids = try specials[name]["ids"].array().map { try $0.int() }
                if seenSequence { suffix += ids } else { prefix += ids }
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            let cls = try field["cls"].array(), sep = try field["sep"].array()
            guard cls.count == 2, sep.count == 2 else { throw field.invalid("cls and sep must be [token, id] pairs") }
            return ([try cls[1].int()], [try sep[1].int()])
        default:
            throw TokenizerError.unsupported(source: field.source, field: "\(field.path).type", value: type)
        }
    }

    private static let splitBehaviors: [String: SplitBehavior] = [
        "Removed": .removed, "Isolated": .isolated, "MergedWithPrevious": .mergedWithPrevious,
        "MergedWithNext": .mergedWithNext, "Contiguous": .contiguous,
    ]

    private static func prependScheme(_ field: JSONField) throws -> PrependScheme {
        if let name = try field["prepend_scheme"].optionalString() {
            guard let scheme = PrependScheme(rawValue: name) else {
                throw TokenizerError.unsupported(source: field.source, field: "\(field.path).prepend_scheme", value: name)
            }
            return scheme
        }
        // Files written before prepend_scheme existed say add_prefix_space.
        return try field["add_prefix_space"].bool(default: true) ? .always : .never
    }

    private static func scalar(_ field: JSONField) throws -> Unicode.Scalar {
        let s = try field.string()
        guard s.unicodeScalars.count == 1 else { throw field.invalid("expected a single character, found '\(s)'") }
        return s.unicodeScalars.first!
    }

    private static func regex(_ field: JSONField) throws -> RegexPattern {
        let source = try field.string()
        do { return try RegexPattern(source) } catch {
            throw field.invalid("cannot compile regex '\(source)': \(error.localizedDescription)")
        }
    }
}

extension JSONField {
    fileprivate func intOrNil() -> Int? { try? optionalInt() }
}
