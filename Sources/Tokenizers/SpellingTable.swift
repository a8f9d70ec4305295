/// Token spelling → id, keyed by raw UTF-8 bytes. One flat byte arena and an open-addressing index:
/// building it for a 262k vocabulary allocates a handful of arrays rather than one per token, and
/// lookups take a pointer and length, so substrings are looked up without being copied.
/// (Keys are bytes, not Strings: Swift's String equality would merge canonically equivalent tokens.)
struct SpellingTable: Sendable {
    private var arena: [UInt8] = []
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var ids: [Int32] = []
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        arena.reserveCapacity(capacity * 8)
        starts.reserveCapacity(capacity)
        lengths.reserveCapacity(capacity)
        ids.reserveCapacity(capacity)
    }

    /// A table of `tokens[i]` → i; a spelling that occurs twice maps to its last id.
    init(_ tokens: [String]) {
        self.init(capacity: tokens.count)
        for (id, token) in tokens.enumerated() { insert(token, id: Int32(id)) }
    }

    var count: Int { ids.count }

    /// Entries as (spelling, id), one per distinct spelling.
    var entries: [(bytes: ArraySlice<UInt8>, id: Int32)] {
        (0..<ids.count).map { (arena[Int(starts[$0])..<Int(starts[$0] + lengths[$0])], ids[$0]) }
    }

    @inline(__always)
    private static func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Adds or replaces the id of a spelling.
    mutating func insert(_ token: String, id: Int32) {
        var token = token
        token.withUTF8 { insert($0, id: id) }
    }

    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, id: Int32) {
        if ids.count * 2 >= slots.count { grow() }
        let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
        var slot = Self.hash(base, bytes.count) & mask
        while slots[slot] >= 0 {
            let entry = Int(slots[slot])
            if equals(entry, base, bytes.count) {
                ids[entry] = id
                return
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Int32(ids.count)
        starts.append(Int32(arena.count))
        lengths.append(Int32(bytes.count))
        arena.append(contentsOf: bytes)
        ids.append(id)
    }

    /// The id spelled by `p[0..<count]`.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int32? {
        var slot = Self.hash(p, count) & mask
        while slots[slot] >= 0 {
            let entry = Int(slots[slot])
            if equals(entry, p, count) { return ids[entry] }
            slot = (slot + 1) & mask
        }
        return nil
    }

    func find(_ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { find($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    func find(_ token: String) -> Int32? {
        var token = token
        return token.withUTF8 { find($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    @inline(__always)
    private func equals(_ entry: Int, _ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard Int(lengths[entry]) == count else { return false }
        let start = Int(starts[entry])
        for i in 0..<count where arena[start + i] != p[i] { return false }
        return true
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for entry in 0..<ids.count {
            let start = Int(starts[entry]), length = Int(lengths[entry])
            var slot = arena.withUnsafeBufferPointer { buffer in
                Self.hash((buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!) + start, length)
            } & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(entry)
        }
    }
}
