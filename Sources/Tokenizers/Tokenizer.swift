import Foundation

/// A BPE tokenizer that produces the same ids as Hugging Face `tokenizers` for the same vocabulary
/// and pipeline: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM) and SentencePiece-style BPE
/// (Llama 2, Gemma), with added/special tokens, normalizers, pre-tokenizers and decoders.
///
/// Load it from a GGUF file (`init(gguf:)`), a Hugging Face `tokenizer.json` (`init(tokenizerJSON:)`)
/// or a model directory (`init(directory:)`). Instances are immutable and safe to share across
/// threads; a bounded internal cache makes repeated words cheap.
public final class Tokenizer: Sendable {
    /// Where the tokenizer came from (a file path), for messages.
    public let source: String
    /// The chat template (Jinja) shipped with the tokenizer, if any.
    public let chatTemplate: String?
    public let bosTokenId: Int?
    /// The main end-of-sequence token (what `addSpecialTokens` appends when the model wants it).
    public let eosTokenId: Int?
    /// Every id that ends generation: the EOS token plus end-of-turn tokens (for example both
    /// `<|im_end|>` and `<|endoftext|>` for ChatML models).
    public let eosTokenIds: Set<Int>
    public let padTokenId: Int?
    public let unknownTokenId: Int?
    /// Added tokens (control and user-defined), in id order.
    public let addedTokens: [AddedToken]
    /// Ids `encode(_:addSpecialTokens: true)` puts before and after the text (BOS, EOS, ...).
    public let prefixTokenIds: [Int]
    public let suffixTokenIds: [Int]

    /// Spelling of each id (nil for ids no token uses).
    let tokens: [String?]
    let tokenIDs: SpellingTable
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: TokenDecoder?
    let added: AddedVocabulary
    let specialIDs: Set<Int>
    /// Byte-level fast decoding: the bytes each id decodes to, flattened (nil for other decoders).
    let decodedBytes: (arena: [UInt8], offsets: [Int32])?
    let classes = ClassLookup()

    struct Components {
        var source: String
        var tokens: [String?]
        var model: BPEModel
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer?
        var decoder: TokenDecoder?
        var addedTokens: [AddedToken]
        var bos: Int?
        var eos: Int?
        var extraEOS: Set<Int> = []
        var pad: Int?
        var unknown: Int?
        var prefix: [Int] = []
        var suffix: [Int] = []
        var chatTemplate: String?
    }

    init(_ c: Components) {
        source = c.source
        chatTemplate = c.chatTemplate
        model = c.model
        normalizer = c.normalizer
        preTokenizer = c.preTokenizer
        decoder = c.decoder
        prefixTokenIds = c.prefix
        suffixTokenIds = c.suffix
        bosTokenId = c.bos
        eosTokenId = c.eos
        padTokenId = c.pad
        unknownTokenId = c.unknown

        // Added tokens may lie beyond the model's vocabulary; they also name their ids.
        var tokens = c.tokens
        let added = c.addedTokens.sorted { $0.id < $1.id }
        if let maxID = added.last?.id, maxID >= tokens.count {
            tokens.append(contentsOf: repeatElement(nil, count: maxID + 1 - tokens.count))
        }
        for t in added { tokens[t.id] = t.content }
        self.tokens = tokens
        addedTokens = added
        self.added = AddedVocabulary(added, normalizer: c.normalizer)
        specialIDs = Set(added.filter(\.special).map(\.id))

        var ids = SpellingTable(capacity: tokens.count)
        for (id, token) in tokens.enumerated() { if let token { ids.insert(token, id: Int32(id)) } }
        for t in added { ids.insert(t.content, id: Int32(t.id)) }
        tokenIDs = ids

        var eos = c.extraEOS
        if let e = c.eos { eos.insert(e) }
        // End-of-turn markers that generation should stop on, as llama.cpp recognises them.
        for t in added where t.special && Tokenizer.endOfTurnMarkers.contains(t.content) { eos.insert(t.id) }
        eosTokenIds = eos

        if c.decoder?.isPlainByteLevel == true {
            var arena: [UInt8] = []
            var offsets: [Int32] = [0]
            offsets.reserveCapacity(tokens.count + 1)
            for token in tokens {
                let token = token ?? ""
                arena.append(contentsOf: ByteLevelAlphabet.bytes(ofToken: token) ?? Array(token.utf8))
                offsets.append(Int32(arena.count))
            }
            decodedBytes = (arena, offsets)
        } else {
            decodedBytes = nil
        }
    }

    static let endOfTurnMarkers: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<end_of_turn>", "<|end_of_text|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|return|>", "<|call|>", "<end_of_utterance>",
    ]

    // MARK: - Vocabulary

    /// Number of ids, added tokens included.
    public var vocabularySize: Int { tokens.count }

    /// The id of a token as the vocabulary spells it ("Ġthe" for byte-level vocabularies).
    public func tokenToId(_ token: String) -> Int? {
        tokenIDs.find(token).map(Int.init)
    }

    /// The vocabulary spelling of an id.
    public func idToToken(_ id: Int) -> String? {
        guard id >= 0, id < tokens.count else { return nil }
        return tokens[id]
    }

    public func isSpecialToken(_ id: Int) -> Bool { specialIDs.contains(id) }

    /// True when `encode(_:addSpecialTokens: true)` adds a BOS token.
    public var addsBosToken: Bool { bosTokenId.map { prefixTokenIds.contains($0) } ?? false }
    public var addsEosToken: Bool { eosTokenId.map { suffixTokenIds.contains($0) } ?? false }

    // MARK: - Encoding

    /// Token ids for `text`.
    /// - Parameters:
    ///   - addSpecialTokens: add the BOS/EOS (or other template) tokens the model wants around the text.
    ///   - parseSpecialTokens: recognise special tokens written in the text ("<|im_start|>" becomes
    ///     its single id). Pass false for untrusted text, so that it cannot inject control tokens;
    ///     non-special added tokens are still recognised, as in HF.
    public func encode(_ text: String, addSpecialTokens: Bool = false, parseSpecialTokens: Bool = true) -> [Int] {
        encodeToInt32(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: parseSpecialTokens).map(Int.init)
    }

    /// `encode` returning compact 32-bit ids (what the model's embedding lookup takes).
    public func encodeToInt32(_ text: String, addSpecialTokens: Bool = false, parseSpecialTokens: Bool = true) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out.append(contentsOf: prefixTokenIds.map(Int32.init)) }
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            encodeBytes(base, buffer.count, parseSpecialTokens, &out)
        }
        if addSpecialTokens { out.append(contentsOf: suffixTokenIds.map(Int32.init)) }
        return out
    }

    private func encodeBytes(_ p: UnsafePointer<UInt8>, _ count: Int, _ parseSpecial: Bool, _ out: inout [Int32]) {
        var work: [Int32] = []
        work.reserveCapacity(64)
        let segments = added.split(p, count, normalizedPass: false, recognizeSpecial: parseSpecial)
        for segment in segments {
            if let t = segment.token {
                out.append(Int32(added.tokens[t].id))
                continue
            }
            var bytes = Array(UnsafeBufferPointer(start: p + segment.range.lowerBound, count: segment.range.count))
            if let normalizer { bytes = normalizer.apply(bytes) }
            let atOrigin = segment.range.lowerBound == 0
            guard added.hasNormalizedTokens else {
                tokenizeText(bytes, 0..<bytes.count, atOrigin: atOrigin, &out, &work)
                continue
            }
            let inner = bytes.withUnsafeBufferPointer { b -> [Segment] in
                guard let base = b.baseAddress else { return [] }
                return added.split(base, b.count, normalizedPass: true, recognizeSpecial: parseSpecial)
            }
            for s in inner {
                if let t = s.token {
                    out.append(Int32(added.tokens[t].id))
                } else {
                    tokenizeText(bytes, s.range, atOrigin: atOrigin && s.range.lowerBound == 0, &out, &work)
                }
            }
        }
    }

    /// Pre-tokenizes normalized text and runs the model on every piece.
    private func tokenizeText(_ bytes: [UInt8], _ range: Range<Int>, atOrigin: Bool, _ out: inout [Int32], _ work: inout [Int32]) {
        guard !range.isEmpty else { return }
        var pieces = Pieces(bytes: bytes, ranges: [range], firstAtOrigin: atOrigin)
        preTokenizer?.apply(&pieces, classes)
        pieces.bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return }
            for r in pieces.ranges { model.tokenize(base, r.lowerBound, r.upperBound, into: &out, work: &work) }
        }
    }

    // MARK: - Decoding

    /// The text for `ids`. Unknown ids are ignored; `skipSpecialTokens` drops special added tokens
    /// (control tokens), keeping non-special added tokens, as HF does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        if let decodedBytes {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(ids.count * 4)
            for id in ids where id >= 0 && id < tokens.count {
                if skipSpecialTokens && specialIDs.contains(id) { continue }
                bytes.append(contentsOf: decodedBytes.arena[Int(decodedBytes.offsets[id])..<Int(decodedBytes.offsets[id + 1])])
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var strings: [String] = []
        strings.reserveCapacity(ids.count)
        for id in ids {
            guard let token = idToToken(id) else { continue }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            strings.append(token)
        }
        guard let decoder else { return strings.joined(separator: " ") }
        return decoder.decodeChain(strings).joined()
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        decode(ids.map(Int.init), skipSpecialTokens: skipSpecialTokens)
    }

    /// A decoder that turns ids into text one at a time, for streaming generation.
    public func streamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(self, skipSpecialTokens: skipSpecialTokens)
    }

    /// The bytes a byte-level id decodes to (nil when the decoder is not plain byte-level).
    func bytes(of id: Int) -> ArraySlice<UInt8>? {
        guard let decodedBytes, id >= 0, id < tokens.count else { return nil }
        return decodedBytes.arena[Int(decodedBytes.offsets[id])..<Int(decodedBytes.offsets[id + 1])]
    }
}
