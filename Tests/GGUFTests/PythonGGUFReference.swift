import Foundation
import GGUF

/// The header of a GGUF file as the Python `gguf` package reads it, for an exact comparison.
/// Floats travel as `float.hex()` strings so that every bit (and inf/nan) survives JSON.
enum PythonGGUFReference {
    static let script = #"""
import sys, json, struct
import gguf
from gguf import GGUFValueType as T

r = gguf.GGUFReader(sys.argv[1])

def enc(v, t):
    if t in (T.FLOAT32, T.FLOAT64):
        return float(v).hex()
    if t == T.BOOL:
        return bool(v)
    if t == T.STRING:
        return v
    return str(int(v))  # as text: JSON readers lose UINT64 precision

def value(field):
    types = field.types
    if types[0] != T.ARRAY:
        return {"type": int(types[0]), "value": enc(field.contents(), types[0])}
    if len(types) == 1:  # the reader records no element type for an empty array
        return {"type": 9, "element": [], "value": []}
    if types[1] == T.ARRAY:  # the reader flattens arrays of arrays; only the kind is comparable
        return {"type": 9, "element": [9], "value": None}
    return {"type": 9, "element": [int(types[1])], "value": [enc(x, types[1]) for x in field.contents()]}

out = {"kv": [], "tensors": []}
for name, f in r.fields.items():
    if name.startswith("GGUF."):
        out[name] = int(f.contents())
        continue
    item = value(f)
    item["key"] = name
    out["kv"].append(item)
for t in r.tensors:
    out["tensors"].append({"name": t.name, "shape": [int(x) for x in t.shape], "type": int(t.tensor_type),
                           "type_name": t.tensor_type.name, "offset": int(t.data_offset), "bytes": int(t.n_bytes)})
json.dump(out, sys.stdout)
"""#

    struct Header {
        var version: Int
        var kv: [[String: Any]]
        var tensors: [[String: Any]]
    }

    static func read(_ path: String) throws -> Header {
        let data = try TestEnvironment.runPython(script, [path])
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let version = json["GGUF.version"] as? Int,
              let kv = json["kv"] as? [[String: Any]],
              let tensors = json["tensors"] as? [[String: Any]]
        else { throw TestEnvironment.Missing(description: "unexpected output from the gguf reference script") }
        return Header(version: version, kv: kv, tensors: tensors)
    }

    /// Compares one of our values with the reference's JSON rendering of it; returns a mismatch reason.
    static func mismatch(_ ours: GGUFValue, _ reference: [String: Any]) -> String? {
        guard let type = reference["type"] as? Int else { return "reference has no type" }
        guard type == Int(ours.type.rawValue) else { return "type \(ours.type) vs reference \(type)" }
        if case let .array(array) = ours {
            guard let elementTypes = reference["element"] as? [Int] else { return "reference has no element type" }
            if elementTypes.isEmpty { return array.count == 0 ? nil : "\(array.count) elements vs an empty reference" }
            if elementTypes == [Int(GGUFValueType.array.rawValue)] {
                return array.elementType == .array ? nil : "element type \(array.elementType) vs reference ARRAY"
            }
            return compare(array, elementTypes, reference["value"])
        }
        return compareScalar(ours, reference["value"])
    }

    private static func compare(_ array: GGUFArray, _ types: [Int], _ ref: Any?) -> String? {
        guard let items = ref as? [Any] else { return "reference value is not a list" }
        guard types.first == Int(array.elementType.rawValue) else { return "element type \(array.elementType) vs \(types)" }
        guard items.count == array.count else { return "count \(array.count) vs reference \(items.count)" }
        func each(_ values: [GGUFValue]) -> String? {
            for (i, (v, r)) in zip(values, items).enumerated() {
                if let m = compareScalar(v, r) { return "element \(i): \(m)" }
            }
            return nil
        }
        switch array {
        case let .uint8(a): return each(a.map { .uint8($0) })
        case let .int8(a): return each(a.map { .int8($0) })
        case let .uint16(a): return each(a.map { .uint16($0) })
        case let .int16(a): return each(a.map { .int16($0) })
        case let .uint32(a): return each(a.map { .uint32($0) })
        case let .int32(a): return each(a.map { .int32($0) })
        case let .uint64(a): return each(a.map { .uint64($0) })
        case let .int64(a): return each(a.map { .int64($0) })
        case let .float32(a): return each(a.map { .float32($0) })
        case let .float64(a): return each(a.map { .float64($0) })
        case let .bool(a): return each(a.map { .bool($0) })
        case let .string(a):
            // The hot case (150k tokens): compare without boxing each element.
            for (i, (s, r)) in zip(a, items).enumerated() where (r as? String) != s {
                return "element \(i): \(s.debugDescription) vs reference \(String(describing: r))"
            }
            return nil
        case .array:
            return "nested arrays are compared by kind only"
        }
    }

    private static func compareScalar(_ v: GGUFValue, _ r: Any?) -> String? {
        let ok: Bool
        switch v {
        case let .float32(f): ok = (r as? String).flatMap { Double($0) }.map { $0.bitPattern == Double(f).bitPattern || ($0.isNaN && f.isNaN) } ?? false
        case let .float64(d): ok = (r as? String).flatMap { Double($0) }.map { $0.bitPattern == d.bitPattern || ($0.isNaN && d.isNaN) } ?? false
        case let .bool(b): ok = (r as? Bool) == b
        case let .string(s): ok = (r as? String) == s
        case let .uint64(u): ok = (r as? String) == String(u)
        default: ok = (r as? String) == v.intValue.map(String.init)
        }
        return ok ? nil : "\(v) vs reference \(String(describing: r))"
    }
}
