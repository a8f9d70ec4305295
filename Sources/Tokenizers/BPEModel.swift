/// A BPE model as HF tokenizers runs it: a pre-token's characters become initial symbols (with
/// byte fallback and unknown-token handling), then merges apply by rank.
///
/// Byte-level models (GPT-2, Llama 3, Qwen2, SmolLM) work on raw bytes: each byte's symbol is the
/// vocabulary entry spelling it in the byte-level alphabet, so no mapped String is ever built.
/// SentencePiece-style models (Llama 2, Gemma) work on Unicode scalars.
struct BPEModel: Sendable {
    enum Unit: Sendable { case bytes, scalars }

    let unit: Unit
    let merges: MergeTable
    /// Bytes unit: the id of each byte's single-character token, -1 if the vocabulary lacks it.
    let byteSymbols: [Int32]
    /// Scalars unit: ids of the single-scalar tokens.
    let scalarSymbols: [UInt32: Int32]
    /// ids of "<0x00>"…"<0xFF>" when byte fallback is on (-1 where missing), else empty.
    let byteFallback: [Int32]
    let unknownID: Int32?
    let fuseUnknown: Bool
    /// Llama 3's `ignore_merges`: a pre-token that is itself a vocabulary entry is not merged.
    let wholeWords: SpellingTable?
    /// Scalars unit: where a long word may be cut before a "▁" without changing the result (nil: never).
    let wordBreaks: WordBreaks?
    let cache = PieceCache()

    /// SentencePiece-style models have no pre-tokenizer, so a whole text segment is one BPE word. A
    /// merge can only join two symbols into a vocabulary entry, so if no entry contains the scalar
    /// before a "▁" followed by "▁", no merge ever crosses that point: the word can be cut there into
    /// independent (and cacheable) chunks with exactly the same result.
    struct WordBreaks: Sendable {
        /// Scalars that some vocabulary entry has directly before a "▁".
        let joinsBeforeMark: Set<UInt32>
        /// Whether a character outside the vocabulary (spelled "<0xNN>" or as the unknown token) may
        /// precede a cut.
        let unknownMayPrecede: Bool
    }
    static let mark: UInt32 = 0x2581

    /// A merge as token ids: `left` + `right` → `merged`, listed in rank order.
    typealias Merge = (left: Int32, right: Int32, merged: Int32)

    /// Resolves merges given as token spellings to ids; every part must be in the vocabulary (as HF
    /// requires), else the error names the merge and the missing token.
    static func resolve(_ pairs: [([UInt8], [UInt8])], in vocabulary: SpellingTable, source: String,
                        field: String) throws -> [Merge] {
        var merges: [Merge] = []
        merges.reserveCapacity(pairs.count)
        var joined: [UInt8] = []
        for (rank, (left, right)) in pairs.enumerated() {
            joined.removeAll(keepingCapacity: true)
            joined.append(contentsOf: left)
            joined.append(contentsOf: right)
            guard let l = vocabulary.find(left), let r = vocabulary.find(right), let m = vocabulary.find(joined) else {
                let missing = vocabulary.find(left) == nil ? left : vocabulary.find(right) == nil ? right : joined
                throw TokenizerError.invalidField(
                    source: source, field: field,
                    reason: "merge \(rank) ('\(String(decoding: left, as: UTF8.self)) \(String(decoding: right, as: UTF8.self))') uses '\(String(decoding: missing, as: UTF8.self))', which is not in the vocabulary")
            }
            merges.append((l, r, m))
        }
        return merges
    }

    /// - Parameters:
    ///   - vocabulary: token spelling (UTF-8 bytes, as the vocabulary writes it) → id.
    ///   - merges: merges in rank order.
    init(unit: Unit, vocabulary: SpellingTable, merges: [Merge], byteFallback: Bool,
         unknownToken: String?, fuseUnknown: Bool, ignoreMerges: Bool, source: String, unknownField: String) throws {
        self.unit = unit
        var table = MergeTable(capacity: merges.count)
        for (rank, m) in merges.enumerated() { table.set(m.left, m.right, rank: rank, merged: m.merged) }
        self.merges = table
        var bytes = [Int32](repeating: -1, count: 256)
        var scalars: [UInt32: Int32] = [:]
        switch unit {
        case .bytes:
            for b in 0..<256 {
                bytes[b] = vocabulary.find(ByteLevelAlphabet.spell([UInt8(b)])) ?? -1
            }
        case .scalars:
            for (key, id) in vocabulary.entries where key.count <= 4 {
                let s = String(decoding: key, as: UTF8.self).unicodeScalars
                if s.count == 1 { scalars[s.first!.value] = id }
            }
        }
        byteSymbols = bytes
        scalarSymbols = scalars
        // Cutting is only exact when every chunk goes through the merges: with ignore_merges a chunk
        // could match a vocabulary entry that the whole word would not.
        if unit == .scalars, scalars[Self.mark] != nil, !ignoreMerges {
            var joins = Set<UInt32>()
            for (key, _) in vocabulary.entries where key.count > 3 {
                var previous: UInt32?
                for scalar in String(decoding: key, as: UTF8.self).unicodeScalars {
                    if scalar.value == Self.mark, let previous { joins.insert(previous) }
                    previous = scalar.value
                }
            }
            // Byte tokens end in ">"; the unknown token ends in its own last character.
            let unknownLast = unknownToken?.unicodeScalars.last?.value
            wordBreaks = WordBreaks(joinsBeforeMark: joins,
                                    unknownMayPrecede: !joins.contains(0x3E) && !(unknownLast.map(joins.contains) ?? false))
        } else {
            wordBreaks = nil
        }
        if byteFallback {
            self.byteFallback = (0..<256).map { b in
                vocabulary.find(String(format: "<0x%02X>", b)) ?? -1
            }
        } else {
            self.byteFallback = []
        }
        if let unknownToken {
            guard let id = vocabulary.find(unknownToken) else {
                throw TokenizerError.invalidField(source: source, field: unknownField,
                                                  reason: "'\(unknownToken)' is not in the vocabulary")
            }
            unknownID = id
        } else {
            unknownID = nil
        }
        self.fuseUnknown = fuseUnknown
        if ignoreMerges {
            // Keyed by what the model sees: raw bytes for byte-level vocabularies.
            var words = SpellingTable(capacity: vocabulary.count)
            for (key, id) in vocabulary.entries {
                switch unit {
                case .bytes:
                    if let raw = ByteLevelAlphabet.bytes(ofToken: String(decoding: key, as: UTF8.self)) {
                        raw.withUnsafeBufferPointer { words.insert($0, id: id) }
                    }
                case .scalars:
                    key.withUnsafeBufferPointer { words.insert($0, id: id) }
                }
            }
            wholeWords = words
        } else {
            wholeWords = nil
        }
    }

    /// Appends the ids of the pre-token `p[start..<end]` to `out`; `work` is reusable scratch space.
    func tokenize(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, into out: inout [Int32], work: inout [Int32]) {
        guard let wordBreaks, end - start > 16 else {
            tokenizeWord(p, start, end, into: &out, work: &work)
            return
        }
        var chunkStart = start
        var i = start + 1
        while i + 2 < end {
            // "▁" is E2 96 81; a lead byte, so a match is always at a scalar boundary.
            if p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81 {
                let length = lengthOfScalar(endingAt: i, p)
                let previous = decodeScalar(p, i - length).value
                let breaks = scalarSymbols[previous] != nil
                    ? !wordBreaks.joinsBeforeMark.contains(previous) : wordBreaks.unknownMayPrecede
                if breaks && i > chunkStart {
                    tokenizeWord(p, chunkStart, i, into: &out, work: &work)
                    chunkStart = i
                }
                i += 3
            } else {
                i += 1
            }
        }
        tokenizeWord(p, chunkStart, end, into: &out, work: &work)
    }

    private func tokenizeWord(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, into out: inout [Int32], work: inout [Int32]) {
        let count = end - start
        guard count > 0 else { return }
        let key = p + start
        let cacheable = count <= PieceCache.maxPieceLength
        var hash: UInt64 = 0
        if cacheable {
            hash = PieceCache.hash(key, count)
            if cache.lookup(key, count, hash: hash, into: &out) { return }
        }
        work.removeAll(keepingCapacity: true)
        if let wholeWords, let id = wholeWords.find(key, count) {
            work.append(id)
        } else {
            initialSymbols(p, start, end, &work)
            BPEMerger.merge(&work, merges)
        }
        out.append(contentsOf: work)
        if cacheable { cache.insert(key, count, hash: hash, ids: work[...]) }
    }

    /// HF's `BPE::merge_word` before merging: one symbol per character, byte fallback for characters
    /// outside the vocabulary, then the unknown token (fused across a run when `fuseUnknown`).
    private func initialSymbols(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ symbols: inout [Int32]) {
        var pendingUnknown = false
        var i = start
        while i < end {
            let characterBytes: [UInt8]
            switch unit {
            case .bytes:
                let id = byteSymbols[Int(p[i])]
                if id >= 0 {
                    if pendingUnknown { symbols.append(unknownID!); pendingUnknown = false }
                    symbols.append(id)
                    i += 1
                    continue
                }
                characterBytes = Array(ByteLevelAlphabet.spell([p[i]]).utf8)
                i += 1
            case .scalars:
                let (v, l) = decodeScalar(p, i)
                if let found = scalarSymbols[v] {
                    if pendingUnknown { symbols.append(unknownID!); pendingUnknown = false }
                    symbols.append(found)
                    i += l
                    continue
                }
                characterBytes = Array(UnsafeBufferPointer(start: p + i, count: l))
                i += l
            }
            // Byte fallback applies only when every byte has a token (and, as in HF, does not flush
            // a pending unknown token).
            if !byteFallback.isEmpty, characterBytes.allSatisfy({ byteFallback[Int($0)] >= 0 }) {
                for b in characterBytes { symbols.append(byteFallback[Int(b)]) }
                continue
            }
            guard let unknownID else { continue }  // no unknown token: the character is dropped
            if pendingUnknown && !fuseUnknown { symbols.append(unknownID) }
            pendingUnknown = true
        }
        if pendingUnknown { symbols.append(unknownID!) }
    }
}
