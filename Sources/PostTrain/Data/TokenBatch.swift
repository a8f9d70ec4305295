import Tensor

/// A batch of token rows for language-model objectives.
///
/// Rows are right-padded to a common length. Only positions with a loss take part in the
/// vocabulary projection: their flat indices are gathered up front, which skips the costly
/// logits for prompts and padding.
public struct TokenBatch: BatchInfo {
    /// Input ids [B, L].
    public var inputs: Tensor
    /// Flat indices (row · L + position) of the positions that carry a loss.
    public var lossIndices: Tensor
    /// The next-token targets at those positions.
    public var lossTargets: Tensor
    /// Per-position RoPE positions [B, L] when rows are packed (restarting per example).
    public var positions: Tensor?
    /// Example ids per position [B, L] when rows are packed: attention stays within an example.
    public var segments: Tensor?
    public var tokenCount: Int
    public var lossTokenCount: Int
    public var shape: (rows: Int, length: Int)

    /// Builds a batch from rows of ids and per-token loss flags (true where the *target* of that
    /// position — the next token — is trained). Rows are padded with `padId`.
    public init(rows: [[Int]], lossOnNext: [[Bool]], segments: [[Int]]? = nil, positions: [[Int]]? = nil,
                padId: Int = 0, padToMultiple: Int = 8) {
        let longest = rows.map(\.count).max() ?? 1
        let length = max(1, (longest + padToMultiple - 1) / padToMultiple * padToMultiple)
        var flat: [Int32] = [], idx: [Int32] = [], tgt: [Int32] = []
        flat.reserveCapacity(rows.count * length)
        for (r, row) in rows.enumerated() {
            for p in 0..<length { flat.append(Int32(p < row.count ? row[p] : padId)) }
            for p in 0..<max(0, row.count - 1) where lossOnNext[r][p] {
                idx.append(Int32(r * length + p))
                tgt.append(Int32(row[p + 1]))
            }
        }
        inputs = Tensor(flat, shape: [rows.count, length])
        lossIndices = Tensor(idx)
        lossTargets = Tensor(tgt)
        func padded(_ xs: [[Int]]?, fill: Int) -> Tensor? {
            guard let xs else { return nil }
            return Tensor(xs.flatMap { $0 + Array(repeating: fill, count: length - $0.count) }, shape: [rows.count, length])
        }
        self.segments = padded(segments, fill: -1)
        self.positions = padded(positions, fill: 0)
        tokenCount = rows.reduce(0) { $0 + $1.count }
        lossTokenCount = idx.count
        shape = (rows.count, length)
    }
}
