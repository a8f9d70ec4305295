import CMLX

/// Element types of a tensor.
public enum DType: String, Sendable, CaseIterable, Codable {
    case bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64
    case float16, float32, float64, bfloat16, complex64

    @usableFromInline init(_ raw: pt_dtype) {
        switch raw {
        case PT_BOOL: self = .bool
        case PT_UINT8: self = .uint8
        case PT_UINT16: self = .uint16
        case PT_UINT32: self = .uint32
        case PT_UINT64: self = .uint64
        case PT_INT8: self = .int8
        case PT_INT16: self = .int16
        case PT_INT32: self = .int32
        case PT_INT64: self = .int64
        case PT_FLOAT16: self = .float16
        case PT_FLOAT64: self = .float64
        case PT_BFLOAT16: self = .bfloat16
        case PT_COMPLEX64: self = .complex64
        default: self = .float32
        }
    }

    @usableFromInline var raw: pt_dtype {
        switch self {
        case .bool: PT_BOOL
        case .uint8: PT_UINT8
        case .uint16: PT_UINT16
        case .uint32: PT_UINT32
        case .uint64: PT_UINT64
        case .int8: PT_INT8
        case .int16: PT_INT16
        case .int32: PT_INT32
        case .int64: PT_INT64
        case .float16: PT_FLOAT16
        case .float32: PT_FLOAT32
        case .float64: PT_FLOAT64
        case .bfloat16: PT_BFLOAT16
        case .complex64: PT_COMPLEX64
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .float32, .float64, .bfloat16: true
        default: false
        }
    }

    public var isInteger: Bool {
        switch self {
        case .uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64: true
        default: false
        }
    }

    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8: 1
        case .uint16, .int16, .float16, .bfloat16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .complex64: 8
        }
    }
}

/// Swift scalar types that map one-to-one onto a tensor dtype.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
    init()
}

extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension UInt32: TensorElement { public static var dtype: DType { .uint32 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt16: TensorElement { public static var dtype: DType { .uint16 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: TensorElement { public static var dtype: DType { .float16 } }
#endif
