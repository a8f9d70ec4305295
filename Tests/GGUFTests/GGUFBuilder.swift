import Foundation
import GGUF

/// Writes small GGUF v3 files byte by byte, so that tests can craft every value type and every
/// kind of corruption at a known offset.
struct GGUFBuilder {
    var version: UInt32 = 3
    var magic: [UInt8] = Array("GGUF".utf8)
    var metadata: [(String, GGUFValue)] = []
    var tensors: [(name: String, dims: [Int], type: GGMLType)] = []
    var alignment = 32

    /// Byte offsets of interesting places in the last `build()` output, for targeted corruption.
    private(set) var offsets: [String: Int] = [:]

    mutating func build() -> [UInt8] {
        var out: [UInt8] = magic
        put(&out, version)
        put(&out, UInt64(tensors.count))
        put(&out, UInt64(metadata.count))
        for (key, value) in metadata {
            offsets["key:\(key)"] = out.count
            putString(&out, key)
            offsets["type:\(key)"] = out.count
            put(&out, value.type.rawValue)
            offsets["value:\(key)"] = out.count
            putValue(&out, value)
        }
        var dataOffset = 0
        var sizes: [Int] = []
        for t in tensors {
            offsets["tensor:\(t.name)"] = out.count
            putString(&out, t.name)
            put(&out, UInt32(t.dims.count))
            for d in t.dims { put(&out, UInt64(d)) }
            offsets["ttype:\(t.name)"] = out.count
            put(&out, t.type.rawValue)
            offsets["toffset:\(t.name)"] = out.count
            put(&out, UInt64(dataOffset))
            let size = t.dims.reduce(1, *) / t.type.blockSize * t.type.blockBytes
            sizes.append(size)
            dataOffset += (size + alignment - 1) / alignment * alignment
        }
        offsets["headerEnd"] = out.count
        while out.count % alignment != 0 { out.append(0) }
        offsets["data"] = out.count
        for (i, size) in sizes.enumerated() {
            out.append(contentsOf: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    private func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private func putString(_ out: inout [UInt8], _ s: String) {
        put(&out, UInt64(s.utf8.count))
        out.append(contentsOf: s.utf8)
    }

    private func putValue(_ out: inout [UInt8], _ value: GGUFValue) {
        switch value {
        case let .uint8(v): put(&out, v)
        case let .int8(v): put(&out, v)
        case let .uint16(v): put(&out, v)
        case let .int16(v): put(&out, v)
        case let .uint32(v): put(&out, v)
        case let .int32(v): put(&out, v)
        case let .uint64(v): put(&out, v)
        case let .int64(v): put(&out, v)
        case let .float32(v): put(&out, v.bitPattern)
        case let .float64(v): put(&out, v.bitPattern)
        case let .bool(v): put(&out, UInt8(v ? 1 : 0))
        case let .string(v): putString(&out, v)
        case let .array(a): putArray(&out, a)
        }
    }

    private func putArray(_ out: inout [UInt8], _ array: GGUFArray) {
        put(&out, array.elementType.rawValue)
        put(&out, UInt64(array.count))
        switch array {
        case let .uint8(a): a.forEach { put(&out, $0) }
        case let .int8(a): a.forEach { put(&out, $0) }
        case let .uint16(a): a.forEach { put(&out, $0) }
        case let .int16(a): a.forEach { put(&out, $0) }
        case let .uint32(a): a.forEach { put(&out, $0) }
        case let .int32(a): a.forEach { put(&out, $0) }
        case let .uint64(a): a.forEach { put(&out, $0) }
        case let .int64(a): a.forEach { put(&out, $0) }
        case let .float32(a): a.forEach { put(&out, $0.bitPattern) }
        case let .float64(a): a.forEach { put(&out, $0.bitPattern) }
        case let .bool(a): a.forEach { put(&out, UInt8($0 ? 1 : 0)) }
        case let .string(a): a.forEach { putString(&out, $0) }
        case let .array(a): a.forEach { putArray(&out, $0) }
        }
    }

    /// A file exercising every value type, nested arrays, odd strings and a few tensor types.
    static func everyType() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.metadata = [
            ("general.architecture", .string("test")),
            ("general.alignment", .uint32(32)),
            ("t.u8", .uint8(250)), ("t.i8", .int8(-7)), ("t.u16", .uint16(65000)), ("t.i16", .int16(-32000)),
            ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)),
            ("t.u64", .uint64(18_000_000_000_000_000_000)), ("t.i64", .int64(-9_000_000_000_000_000_000)),
            ("t.f32", .float32(3.25)), ("t.f32.tiny", .float32(1e-38)), ("t.f64", .float64(-2.5e300)),
            ("t.true", .bool(true)), ("t.false", .bool(false)),
            ("t.string", .string("héllo 🌍 \u{0}nul")), ("t.empty", .string("")),
            ("t.strings", .array(.string(["a", "", "ĠĠ", "<|im_start|>", "日本語", "👩‍👩‍👧"]))),
            ("t.ints", .array(.int32([1, -2, 3, Int32.max, Int32.min]))),
            ("t.u8s", .array(.uint8([0, 1, 255]))), ("t.i8s", .array(.int8([-128, 127]))),
            ("t.u16s", .array(.uint16([1, 65535]))), ("t.i16s", .array(.int16([-1, 1]))),
            ("t.u32s", .array(.uint32([7, 4_000_000_000]))), ("t.u64s", .array(.uint64([9, 1 << 40]))),
            ("t.i64s", .array(.int64([-1 << 40, 5]))),
            ("t.floats", .array(.float32([0.5, -1.25, 1e10]))), ("t.doubles", .array(.float64([0.1, -3]))),
            ("t.bools", .array(.bool([true, false, true]))), ("t.emptyarray", .array(.int32([]))),
            ("t.nested", .array(.array([.int32([1, 2]), .string(["x", "y"]), .array([.float32([1.5])])]))),
        ]
        b.tensors = [
            ("token_embd.weight", [64, 8], .q8_0),
            ("norm.weight", [64], .f32),
            ("blk.0.w", [256, 2], .q4_K),
            ("scalar", [], .f16),
            ("blk.0.h", [32, 2, 3], .bf16),
        ]
        return b
    }
}
