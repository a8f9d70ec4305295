/// The merge table of a BPE model: pair of token ids → (rank, merged id), packed into 64-bit words.
struct MergeTable: Sendable {
    private var table: [UInt64: UInt64] = [:]

    init(capacity: Int) { table.reserveCapacity(capacity) }

    var count: Int { table.count }

    /// Records a merge; a later merge of the same pair replaces an earlier one, as in HF.
    mutating func set(_ left: Int32, _ right: Int32, rank: Int, merged: Int32) {
        table[Self.key(left, right)] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// (rank, merged id) for a pair, or nil when the pair never merges.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: UInt32, merged: Int32)? {
        guard let v = table[Self.key(left, right)] else { return nil }
        return (UInt32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
    }
}

/// Applies BPE merges to a word: repeatedly merges the adjacent pair of lowest rank, leftmost first,
/// until no pair merges. This is exactly what HF's `Word::merge_all` computes with its priority queue
/// (without dropout). Short words use a plain scan; long ones a heap over a linked list, so a
/// 100 kB SentencePiece segment stays O(n log n).
enum BPEMerger {
    static let linearLimit = 48

    static func merge(_ symbols: inout [Int32], _ merges: MergeTable) {
        if symbols.count < 2 { return }
        if symbols.count <= linearLimit {
            mergeLinear(&symbols, merges)
        } else {
            mergeWithHeap(&symbols, merges)
        }
    }

    static func mergeLinear(_ symbols: inout [Int32], _ merges: MergeTable) {
        // ranks[i] / merged[i] describe the pair (symbols[i], symbols[i + 1]).
        var ranks = [UInt32](repeating: .max, count: symbols.count - 1)
        var merged = [Int32](repeating: 0, count: symbols.count - 1)
        for i in 0..<(symbols.count - 1) {
            if let m = merges.lookup(symbols[i], symbols[i + 1]) { ranks[i] = m.rank; merged[i] = m.merged }
        }
        while true {
            var best = -1
            var bestRank = UInt32.max
            for i in 0..<ranks.count where ranks[i] < bestRank {
                bestRank = ranks[i]
                best = i
            }
            if best < 0 { return }
            symbols[best] = merged[best]
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            merged.remove(at: best)
            if best > 0 {
                if let m = merges.lookup(symbols[best - 1], symbols[best]) {
                    ranks[best - 1] = m.rank; merged[best - 1] = m.merged
                } else {
                    ranks[best - 1] = .max
                }
            }
            if best < ranks.count {
                if let m = merges.lookup(symbols[best], symbols[best + 1]) {
                    ranks[best] = m.rank; merged[best] = m.merged
                } else {
                    ranks[best] = .max
                }
            }
        }
    }

    private struct Candidate {
        var rank: UInt32
        var position: Int32
        var merged: Int32

        @inline(__always)
        static func < (a: Candidate, b: Candidate) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.position < b.position
        }
    }

    static func mergeWithHeap(_ symbols: inout [Int32], _ merges: MergeTable) {
        let n = symbols.count
        var previous = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i) - 1 }
            c = n
        }
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = i + 1 < n ? Int32(i + 1) : -1 }
            c = n
        }
        var alive = [Bool](repeating: true, count: n)
        var heap: [Candidate] = []
        heap.reserveCapacity(n)
        for i in 0..<(n - 1) {
            if let m = merges.lookup(symbols[i], symbols[i + 1]) {
                push(&heap, Candidate(rank: m.rank, position: Int32(i), merged: m.merged))
            }
        }
        while let top = pop(&heap) {
            let pos = Int(top.position)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // Skip entries made stale by an earlier merge of either neighbour.
            guard let m = merges.lookup(symbols[pos], symbols[right]), m.merged == top.merged else { continue }
            symbols[pos] = top.merged
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(pos) }
            if previous[pos] >= 0 {
                let left = Int(previous[pos])
                if let m = merges.lookup(symbols[left], symbols[pos]) {
                    push(&heap, Candidate(rank: m.rank, position: Int32(left), merged: m.merged))
                }
            }
            if next[pos] >= 0 {
                if let m = merges.lookup(symbols[pos], symbols[Int(next[pos])]) {
                    push(&heap, Candidate(rank: m.rank, position: Int32(pos), merged: m.merged))
                }
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        for i in 0..<n where alive[i] { out.append(symbols[i]) }
        symbols = out
    }

    private static func push(_ heap: inout [Candidate], _ c: Candidate) {
        heap.append(c)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i] < heap[parent] else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private static func pop(_ heap: inout [Candidate]) -> Candidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l] < heap[m] { m = l }
            if r < n && heap[r] < heap[m] { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}
