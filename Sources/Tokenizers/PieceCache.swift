import Foundation

/// A bounded, thread-safe cache from a pre-token's bytes to its BPE ids. Keys are compared by bytes
/// (never as Strings: Swift's String equality is canonical equivalence, which would conflate "é"
/// and "e\u{301}"). Lookups allocate nothing. The cache is split into independently locked shards
/// so that threads encoding in parallel rarely wait on each other; a full shard is cleared and
/// refills with what the current text uses.
final class PieceCache: Sendable {
    /// Pieces longer than this are not cached (long runs rarely repeat and would crowd the table).
    static let maxPieceLength = 256
    private static let shardCount = 16

    private let shards: [Shard]

    init(maxEntries: Int = 128_000) {
        shards = (0..<Self.shardCount).map { _ in Shard(maxEntries: maxEntries / Self.shardCount) }
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        // FNV-1a: cheap for the short keys pre-tokens are; collisions are resolved by comparing bytes.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
        return h
    }

    @inline(__always)
    private func shard(_ hash: UInt64) -> Shard { shards[Int(hash >> 60) & (Self.shardCount - 1)] }

    /// Appends the cached ids for `p[0..<count]` to `out` and returns true, or returns false.
    func lookup(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, into out: inout [Int32]) -> Bool {
        shard(hash).lookup(p, count, hash: hash, into: &out)
    }

    func insert(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, ids: ArraySlice<Int32>) {
        shard(hash).insert(p, count, hash: hash, ids: ids)
    }

    private final class Shard: @unchecked Sendable {
        // All state is guarded by `lock`.
        private let lock = NSLock()
        private var index: [UInt64: Int32] = [:]
        private var entries: [(keyStart: Int32, keyLength: Int32, idStart: Int32, idCount: Int32)] = []
        private var keys: [UInt8] = []
        private var ids: [Int32] = []
        private let maxEntries: Int
        private let maxKeyBytes: Int

        init(maxEntries: Int) {
            self.maxEntries = maxEntries
            maxKeyBytes = maxEntries * 16
        }

        func lookup(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, into out: inout [Int32]) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            guard let e = index[hash].map({ entries[Int($0)] }), Int(e.keyLength) == count else { return false }
            let same = keys.withUnsafeBufferPointer { k in memcmp(k.baseAddress! + Int(e.keyStart), p, count) == 0 }
            guard same else { return false }
            out.append(contentsOf: ids[Int(e.idStart)..<Int(e.idStart + e.idCount)])
            return true
        }

        func insert(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, ids newIDs: ArraySlice<Int32>) {
            lock.lock()
            defer { lock.unlock() }
            if entries.count >= maxEntries || keys.count + count > maxKeyBytes {
                index.removeAll(keepingCapacity: true)
                entries.removeAll(keepingCapacity: true)
                keys.removeAll(keepingCapacity: true)
                ids.removeAll(keepingCapacity: true)
            }
            // On a (rare) 64-bit hash collision the newer piece takes the slot.
            index[hash] = Int32(entries.count)
            entries.append((Int32(keys.count), Int32(count), Int32(ids.count), Int32(newIDs.count)))
            keys.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
            ids.append(contentsOf: newIDs)
        }
    }
}
