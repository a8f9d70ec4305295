import CMLX

extension Tensor {
    /// A tensor holding a copy of `values`, shaped `shape` (a flat vector by default).
    public init<T: TensorElement>(_ values: [T], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor(_:shape:): \(values.count) values do not fill shape \(shape)")
        let s = int32s(shape)
        // An empty Swift array may have no storage; MLX still needs a pointer (it copies 0 bytes).
        let storage = values.isEmpty ? [T()] : values
        let result = storage.withUnsafeBytes { pt_from_data($0.baseAddress, s, s.count, T.dtype.raw) }
        self.init(result: result, "Tensor(_:shape:)")
    }

    /// A tensor of Swift `Int`s stored as int32 (token ids, indices), or as `dtype`.
    public init(_ values: [Int], shape: [Int]? = nil, dtype: DType = .int32) {
        switch dtype {
        case .int64: self.init(values.map { Int64($0) }, shape: shape)
        case .int32: self.init(values.map { Int32(truncatingIfNeeded: $0) }, shape: shape)
        default: self = Tensor(values.map { Int32(truncatingIfNeeded: $0) }, shape: shape).asType(dtype)
        }
    }

    /// A 0-d tensor.
    public init(_ value: Float, dtype: DType = .float32) {
        self.init(result: pt_scalar_f(Double(value), dtype.raw), "Tensor(scalar)")
    }

    public init(_ value: Double, dtype: DType = .float32) {
        self.init(result: pt_scalar_f(value, dtype.raw), "Tensor(scalar)")
    }

    public init(_ value: Int, dtype: DType = .int32) {
        self.init(result: pt_scalar_i(Int64(value), dtype.raw), "Tensor(scalar)")
    }

    public init(_ value: Bool) {
        self.init([value], shape: [])
    }

    /// A 2-d tensor from rows of equal length.
    public init<T: TensorElement>(rows: [[T]]) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "Tensor(rows:): rows have different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, cols])
    }

    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let s = int32s(shape)
        return op("full", Tensor(value, dtype: dtype)) { pt_full(s, s.count, $0, dtype.raw) }
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 0, dtype: dtype) }
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape, dtype: t.dtype) }
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape, dtype: t.dtype) }

    /// Evenly spaced values in [start, stop).
    public static func arange(_ start: Double, _ stop: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        Tensor(result: pt_arange(start, stop, step, dtype.raw), "arange")
    }

    public static func arange(_ stop: Int, dtype: DType = .int32) -> Tensor {
        arange(0, Double(stop), dtype: dtype)
    }

    public static func eye(_ n: Int, dtype: DType = .float32) -> Tensor {
        Tensor(result: pt_eye(Int32(n), dtype.raw), "eye")
    }
}

// MARK: Reading values back

extension Tensor {
    /// Evaluates this tensor (and its graph).
    @discardableResult
    public func eval() throws -> Tensor {
        try check()
        var r: pt_array? = raw
        if pt_eval(&r, 1) != 0 { throw MLXError.last("eval") }
        return self
    }

    /// All elements in row-major order, converted to `T`.
    public func toArray<T: TensorElement>(_: T.Type = T.self) throws -> [T] {
        try check()
        let n = size
        var out = [T](repeating: T(), count: n)
        let rc = out.withUnsafeMutableBytes { pt_read(raw, T.dtype.raw, $0.baseAddress) }
        if rc != 0 { throw MLXError.last("toArray") }
        return out
    }

    public func floats() throws -> [Float] { try toArray(Float.self) }
    public func ints() throws -> [Int] { try toArray(Int32.self).map(Int.init) }

    /// The single element of a one-element tensor.
    public func item<T: TensorElement>(_: T.Type = T.self) throws -> T {
        try check()
        guard size == 1 else { throw MLXError("item() needs a tensor with one element, got shape \(shape)") }
        return try toArray(T.self)[0]
    }

    public func float() throws -> Float { try item(Float.self) }
}

/// Evaluates several tensors together (one graph walk, shared sub-expressions once).
public func eval(_ tensors: [Tensor]) throws {
    var raws: [pt_array?] = []
    for t in tensors {
        try t.check()
        raws.append(t.raw)
    }
    if raws.isEmpty { return }
    if pt_eval(&raws, raws.count) != 0 { throw MLXError.last("eval") }
}

public func eval(_ tensors: Tensor...) throws { try eval(tensors) }

/// Starts evaluating in the background; a later `eval` waits for it.
public func asyncEval(_ tensors: [Tensor]) throws {
    var raws: [pt_array?] = []
    for t in tensors {
        try t.check()
        raws.append(t.raw)
    }
    if raws.isEmpty { return }
    if pt_async_eval(&raws, raws.count) != 0 { throw MLXError.last("asyncEval") }
}
