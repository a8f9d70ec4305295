import Tensor

/// Keys and values of past positions for one attention layer, grown in blocks so that decoding
/// does not reallocate every step. Works for batches: every row shares the same length (prompts
/// are left-padded; the padding is masked out).
public final class KVCache: @unchecked Sendable {
    public private(set) var keys: Tensor?
    public private(set) var values: Tensor?
    /// Positions filled so far.
    public private(set) var offset = 0
    public let step: Int

    public init(step: Int = 256) { self.step = step }

    /// Appends `k`, `v` [B, H, L, D] and returns all keys and values so far.
    public func update(keys k: Tensor, values v: Tensor) -> (Tensor, Tensor) {
        let (b, h, l, dk) = (k.dim(0), k.dim(1), k.dim(2), k.dim(3))
        let dv = v.dim(3)
        let needed = offset + l
        if keys == nil || needed > keys!.dim(2) {
            let capacity = ((needed + step - 1) / step) * step
            var newK = Tensor.zeros([b, h, capacity, dk], dtype: k.dtype)
            var newV = Tensor.zeros([b, h, capacity, dv], dtype: v.dtype)
            if let oldK = keys, let oldV = values, offset > 0 {
                newK[.all, .all, 0..<offset] = oldK[.all, .all, 0..<offset]
                newV[.all, .all, 0..<offset] = oldV[.all, .all, 0..<offset]
            }
            keys = newK
            values = newV
        }
        keys![.all, .all, offset..<needed] = k
        values![.all, .all, offset..<needed] = v
        offset = needed
        return (keys![.all, .all, 0..<offset], values![.all, .all, 0..<offset])
    }

    /// Drops the last `n` positions (speculative decoding, rejected drafts).
    public func trim(_ n: Int) { offset = Swift.max(0, offset - n) }

    /// Keeps only the batch rows in `rows` (finished sequences leave a batch).
    public func select(rows: Tensor) {
        keys = keys?.take(rows, axis: 0)
        values = values?.take(rows, axis: 0)
    }

    /// The tensors to evaluate together with a decoding step.
    public var state: [Tensor] { [keys, values].compactMap { $0 } }
}

