/// The value types of GGUF metadata, with the raw codes the file format uses.
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The upper-case name the GGUF specification and the Python `gguf` package use.
    public var name: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    public var description: String { name }

    /// Bytes one scalar of this type occupies; nil for strings and arrays, whose size varies.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }
}

/// One metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an integer if it is one of the integer types and fits in `Int`.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// The value as a floating-point number: either float type, or any integer type.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: intValue.map(Double.init)
        }
    }

    /// A short human-readable type description used in error messages ("ARRAY[STRING] (3)").
    public var typeDescription: String {
        if case let .array(a) = self { return "ARRAY[\(a.elementType.name)] of \(a.count)" }
        return type.name
    }
}

/// A metadata array. Elements are stored in typed Swift arrays (no per-element boxing), so that a
/// 150k-entry vocabulary costs one `String` per token and a score table one contiguous `[Float]`.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8])
    case int8([Int8])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case float32([Float])
    case bool([Bool])
    case string([String])
    case uint64([UInt64])
    case int64([Int64])
    case float64([Double])
    /// An array of arrays (allowed by the format, rare in practice); each inner array has its own type.
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    public var count: Int {
        switch self {
        case let .uint8(a): a.count
        case let .int8(a): a.count
        case let .uint16(a): a.count
        case let .int16(a): a.count
        case let .uint32(a): a.count
        case let .int32(a): a.count
        case let .float32(a): a.count
        case let .bool(a): a.count
        case let .string(a): a.count
        case let .uint64(a): a.count
        case let .int64(a): a.count
        case let .float64(a): a.count
        case let .array(a): a.count
        }
    }

    /// The elements as integers, if this is an array of an integer type whose values all fit in `Int`.
    public var intValues: [Int]? {
        switch self {
        case let .uint8(a): a.map(Int.init)
        case let .int8(a): a.map(Int.init)
        case let .uint16(a): a.map(Int.init)
        case let .int16(a): a.map(Int.init)
        case let .uint32(a): a.map(Int.init)
        case let .int32(a): a.map(Int.init)
        case let .int64(a): a.map(Int.init)
        case let .uint64(a):
            a.allSatisfy { $0 <= UInt64(Int.max) } ? a.map { Int($0) } : nil
        default: nil
        }
    }

    /// The elements as floating-point numbers, if this is an array of a float or integer type.
    public var doubleValues: [Double]? {
        switch self {
        case let .float32(a): a.map(Double.init)
        case let .float64(a): a
        default: intValues?.map(Double.init)
        }
    }
}
