import CMLX

// Elementwise operations. Scalars mixed with tensors take the tensor's dtype (MLX Python's "weak"
// scalars), so `x * 0.5` keeps a bfloat16 `x` in bfloat16.

extension Tensor {
    @inlinable func unary(_ o: pt_unary_op, _ name: String) -> Tensor {
        Tensor.op(name, self) { pt_unary(o, $0) }
    }

    @inlinable static func binary(_ o: pt_binary_op, _ a: Tensor, _ b: Tensor, _ name: String) -> Tensor {
        op(name, a, b) { pt_binary(o, $0, $1) }
    }

    /// A scalar with this tensor's dtype (float32 for integer tensors when `value` is fractional).
    @inlinable public func scalar(_ value: Double) -> Tensor {
        guard handle != nil else { return self }
        let dt = dtype
        if dt.isFloatingPoint { return Tensor(value, dtype: dt) }
        if dt.isInteger, value.rounded() == value { return Tensor(Int(value), dtype: dt) }
        if dt == .bool { return Tensor(value != 0) }
        return Tensor(value)
    }

    public static prefix func - (a: Tensor) -> Tensor { a.unary(PT_NEG, "negative") }
    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(PT_ADD, a, b, "add") }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(PT_SUB, a, b, "subtract") }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(PT_MUL, a, b, "multiply") }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(PT_DIV, a, b, "divide") }
    public static func % (a: Tensor, b: Tensor) -> Tensor { binary(PT_REMAINDER, a, b, "remainder") }

    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalar(b) }
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalar(b) }
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalar(b) }
    public static func / (a: Tensor, b: Double) -> Tensor { a / a.scalar(b) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalar(a) + b }
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalar(a) - b }
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalar(a) * b }
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalar(a) / b }

    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }

    // Comparisons return boolean tensors.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { binary(PT_EQ, a, b, "equal") }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { binary(PT_NE, a, b, "not_equal") }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { binary(PT_LT, a, b, "less") }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { binary(PT_LE, a, b, "less_equal") }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { binary(PT_GT, a, b, "greater") }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { binary(PT_GE, a, b, "greater_equal") }
    public static func .== (a: Tensor, b: Double) -> Tensor { a .== a.scalar(b) }
    public static func .!= (a: Tensor, b: Double) -> Tensor { a .!= a.scalar(b) }
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalar(b) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { a .<= a.scalar(b) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalar(b) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { a .>= a.scalar(b) }
    public static func .&& (a: Tensor, b: Tensor) -> Tensor { binary(PT_LOGICAL_AND, a, b, "logical_and") }
    public static func .|| (a: Tensor, b: Tensor) -> Tensor { binary(PT_LOGICAL_OR, a, b, "logical_or") }
    public static prefix func .! (a: Tensor) -> Tensor { a.unary(PT_LOGICAL_NOT, "logical_not") }

    public var abs: Tensor { unary(PT_ABS, "abs") }
    public func exp() -> Tensor { unary(PT_EXP, "exp") }
    public func expm1() -> Tensor { unary(PT_EXPM1, "expm1") }
    public func log() -> Tensor { unary(PT_LOG, "log") }
    public func log1p() -> Tensor { unary(PT_LOG1P, "log1p") }
    public func sqrt() -> Tensor { unary(PT_SQRT, "sqrt") }
    public func rsqrt() -> Tensor { unary(PT_RSQRT, "rsqrt") }
    public func sin() -> Tensor { unary(PT_SIN, "sin") }
    public func cos() -> Tensor { unary(PT_COS, "cos") }
    public func tanh() -> Tensor { unary(PT_TANH, "tanh") }
    public func sigmoid() -> Tensor { unary(PT_SIGMOID, "sigmoid") }
    public func square() -> Tensor { unary(PT_SQUARE, "square") }
    public func floor() -> Tensor { unary(PT_FLOOR, "floor") }
    public func ceil() -> Tensor { unary(PT_CEIL, "ceil") }
    public func rounded() -> Tensor { unary(PT_ROUND, "round") }
    public func sign() -> Tensor { unary(PT_SIGN, "sign") }
    public func erf() -> Tensor { unary(PT_ERF, "erf") }
    public func erfinv() -> Tensor { unary(PT_ERFINV, "erfinv") }
    public func reciprocal() -> Tensor { unary(PT_RECIPROCAL, "reciprocal") }
    public func isNaN() -> Tensor { unary(PT_ISNAN, "isnan") }
    public func isInf() -> Tensor { unary(PT_ISINF, "isinf") }
    /// Blocks gradients through this value.
    public func stopGradient() -> Tensor { unary(PT_STOP_GRADIENT, "stop_gradient") }
    /// A row-contiguous copy (a no-op if already contiguous).
    public func contiguous() -> Tensor { unary(PT_CONTIGUOUS, "contiguous") }

    public func pow(_ e: Tensor) -> Tensor { Tensor.binary(PT_POW, self, e, "power") }
    public func pow(_ e: Double) -> Tensor { pow(scalar(e)) }

    public func asType(_ dtype: DType) -> Tensor {
        if let h = handle, DType(pt_get_dtype(h.raw)) == dtype { return self }
        return Tensor.op("astype(\(dtype))", self) { pt_astype($0, dtype.raw) }
    }

    public func clipped(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        let l = lo.map { scalar($0) }
        let h = hi.map { scalar($0) }
        return Tensor.op("clip", [self] + [l, h].compactMap { $0 }) { r in
            pt_clip(r[0], l == nil ? nil : r[1], h == nil ? nil : r[l == nil ? 1 : 2])
        }
    }

    public func nanToNum(nan: Float = 0, posInf: Float = .greatestFiniteMagnitude, negInf: Float = -.greatestFiniteMagnitude) -> Tensor {
        Tensor.op("nan_to_num", self) { pt_nan_to_num($0, nan, posInf, negInf) }
    }
}

infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence
infix operator .&& : LogicalConjunctionPrecedence
infix operator .|| : LogicalDisjunctionPrecedence
prefix operator .!

/// Matrix product (batched over leading axes).
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binary(PT_MATMUL, a, b, "matmul") }
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binary(PT_MAXIMUM, a, b, "maximum") }
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binary(PT_MINIMUM, a, b, "minimum") }
public func maximum(_ a: Tensor, _ b: Double) -> Tensor { maximum(a, a.scalar(b)) }
public func minimum(_ a: Tensor, _ b: Double) -> Tensor { minimum(a, a.scalar(b)) }
public func logAddExp(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binary(PT_LOGADDEXP, a, b, "logaddexp") }
public func floorDivide(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binary(PT_FLOOR_DIVIDE, a, b, "floor_divide") }

/// `c * beta + (a @ b) * alpha` in one call.
public func addmm(_ c: Tensor, _ a: Tensor, _ b: Tensor, alpha: Float = 1, beta: Float = 1) -> Tensor {
    Tensor.op("addmm", [c, a, b]) { pt_addmm($0[0], $0[1], $0[2], alpha, beta) }
}

/// Elementwise choice: `x` where `condition` holds, `y` elsewhere.
public func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor) -> Tensor {
    Tensor.op("where", [condition, x, y]) { pt_where($0[0], $0[1], $0[2]) }
}

public func select(_ condition: Tensor, _ x: Tensor, _ y: Double) -> Tensor { select(condition, x, x.scalar(y)) }

/// True when both tensors have the same shape and equal values.
public func arrayEqual(_ a: Tensor, _ b: Tensor) throws -> Bool {
    try Tensor.op("array_equal", a, b) { pt_array_equal($0, $1) }.item(Bool.self)
}
