/// Derives BPE merges from a SentencePiece vocabulary with scores (GGUF "llama" tokenizers carry no
/// merge list), the way `transformers` converts a SentencePiece BPE model for HF tokenizers
/// (`generate_merges`): every split of every piece into two vocabulary pieces is a merge; merges are
/// ranked by the piece's score (higher first), then by the left and right parts' lengths in
/// characters (longer first), then by piece id and the parts' ids. Pieces in `skipped` (control,
/// unknown, user-defined and unused tokens) never take part, so merges cannot spell a control token.
enum SentencePieceMerges {
    /// - Parameter vocabulary: spelling → id of `tokens` (the last id for a repeated spelling).
    static func generate(tokens: [String], vocabulary: SpellingTable, scores: [Double], skipped: Set<Int>) -> [BPEModel.Merge] {
        var skippedSpellings = SpellingTable(capacity: skipped.count)
        for id in skipped { skippedSpellings.insert(tokens[id], id: Int32(id)) }

        struct Candidate {
            var score: Double
            var leftLength: Int32
            var rightLength: Int32
            var sequence: Int32
            var merge: BPEModel.Merge
        }
        var candidates: [Candidate] = []
        var local: [(merge: BPEModel.Merge, leftLength: Int32)] = []
        var firstSeen = SpellingTable(capacity: vocabulary.count == tokens.count ? 0 : tokens.count)
        for (id, token) in tokens.enumerated() {
            var token = token
            token.withUTF8 { piece in
                guard let p = piece.baseAddress, piece.count > 1 else { return }
                // Python dict order of the reference: a repeated piece counts once, at its first position.
                if vocabulary.count != tokens.count {
                    guard firstSeen.find(p, piece.count) == nil else { return }
                    firstSeen.insert(piece, id: Int32(id))
                }
                guard skippedSpellings.find(p, piece.count) == nil, let pieceID = vocabulary.find(p, piece.count) else { return }
                let score = scores[Int(pieceID)]
                // Split points at scalar boundaries, as Python slices a str by code point.
                local.removeAll(keepingCapacity: true)
                var scalarCount: Int32 = 0
                var offset = 0
                while offset < piece.count {
                    offset += utf8Length(p[offset])
                    scalarCount += 1
                    guard offset < piece.count,
                          skippedSpellings.find(p, offset) == nil, skippedSpellings.find(p + offset, piece.count - offset) == nil,
                          let l = vocabulary.find(p, offset), let r = vocabulary.find(p + offset, piece.count - offset)
                    else { continue }
                    local.append(((l, r, pieceID), scalarCount))
                }
                local.sort { ($0.merge.left, $0.merge.right) < ($1.merge.left, $1.merge.right) }
                for m in local {
                    candidates.append(Candidate(score: score, leftLength: m.leftLength, rightLength: scalarCount - m.leftLength,
                                                sequence: Int32(candidates.count), merge: m.merge))
                }
            }
        }
        // Python's stable sort with reverse=True: descending keys, ties in original order.
        candidates.sort {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.leftLength != $1.leftLength { return $0.leftLength > $1.leftLength }
            if $0.rightLength != $1.rightLength { return $0.rightLength > $1.rightLength }
            return $0.sequence < $1.sequence
        }
        return candidates.map(\.merge)
    }

    private static func utf8Length(_ lead: UInt8) -> Int {
        lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }
}
