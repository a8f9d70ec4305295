import CMLX

/// An error raised by the MLX engine (shape mismatch, bad file, failed evaluation, ...).
public struct MLXError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "MLX error: \(message)" }

    static func last(_ context: String? = nil) -> MLXError {
        let msg = String(cString: pt_last_error())
        return MLXError(context.map { "\($0): \(msg)" } ?? msg)
    }
}

/// Owns one reference to an `mlx::core::array`.
@usableFromInline
final class ArrayHandle: @unchecked Sendable {
    @usableFromInline let raw: pt_array
    @usableFromInline init(_ raw: pt_array) { self.raw = raw }
    deinit { pt_free(raw) }
}

/// A lazily evaluated n-dimensional array on the MLX engine.
///
/// Operations never throw: an engine error (for example a shape mismatch) yields a *failed* tensor
/// that carries the error, and every operation on it passes the failure along, much like NaN.
/// The error surfaces as a Swift `throw` from `eval()`, `toArray()`, `item()`, `check()`,
/// autodiff and I/O. Reading the shape of a failed tensor stops the program with the message.
public struct Tensor: @unchecked Sendable {
    @usableFromInline let handle: ArrayHandle?
    @usableFromInline let failure: MLXError?

    @usableFromInline init(handle: ArrayHandle) {
        self.handle = handle
        self.failure = nil
    }

    @usableFromInline init(failure: MLXError) {
        self.handle = nil
        self.failure = failure
    }

    /// A failed tensor carrying `error`, for code that cannot throw (it surfaces at `eval`).
    public init(error: Error) {
        self.init(failure: (error as? MLXError) ?? MLXError(String(describing: error)))
    }

    /// Wraps a result from the shim: nil means the call failed and `pt_last_error` says why.
    @usableFromInline init(result: pt_array?, _ context: @autoclosure () -> String) {
        if let result {
            self.init(handle: ArrayHandle(result))
        } else {
            self.init(failure: MLXError.last(context()))
        }
    }

    /// The raw handle; stops with the engine's message if this tensor is a failure.
    @usableFromInline var raw: pt_array {
        guard let handle else { fatalError(failure!.description) }
        return handle.raw
    }

    /// Runs `body` on the raw handles unless an input already failed, in which case the first
    /// failure is passed along without calling the engine.
    @inlinable
    static func op(_ name: @autoclosure () -> String, _ inputs: [Tensor], _ body: ([pt_array]) -> pt_array?) -> Tensor {
        var raws: [pt_array] = []
        raws.reserveCapacity(inputs.count)
        for t in inputs {
            guard let h = t.handle else { return t }
            raws.append(h.raw)
        }
        return Tensor(result: body(raws), name())
    }

    @inlinable
    static func op(_ name: @autoclosure () -> String, _ a: Tensor, _ body: (pt_array) -> pt_array?) -> Tensor {
        guard let h = a.handle else { return a }
        return Tensor(result: body(h.raw), name())
    }

    @inlinable
    static func op(_ name: @autoclosure () -> String, _ a: Tensor, _ b: Tensor, _ body: (pt_array, pt_array) -> pt_array?) -> Tensor {
        guard let ha = a.handle else { return a }
        guard let hb = b.handle else { return b }
        return Tensor(result: body(ha.raw, hb.raw), name())
    }

    /// Whether an earlier operation failed.
    public var isFailure: Bool { failure != nil }

    /// Throws the carried engine error, if any; returns self otherwise.
    @discardableResult
    public func check() throws -> Tensor {
        if let failure { throw failure }
        return self
    }

    // MARK: Properties

    public var ndim: Int { pt_ndim(raw) }

    public var shape: [Int] {
        let r = raw
        let n = pt_ndim(r)
        if n == 0 { return [] }
        var s = [Int32](repeating: 0, count: n)
        pt_shape(r, &s)
        return s.map(Int.init)
    }

    public func dim(_ axis: Int) -> Int {
        let s = shape
        return s[axis < 0 ? axis + s.count : axis]
    }

    public var size: Int { pt_size(raw) }
    public var nbytes: Int { pt_nbytes(raw) }
    public var dtype: DType { DType(pt_get_dtype(raw)) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        if let failure { return "Tensor(failed: \(failure.message))" }
        return "Tensor(shape: \(shape), dtype: \(dtype))"
    }
}

/// Shapes cross the C boundary as Int32.
@inlinable func int32s(_ xs: [Int]) -> [Int32] { xs.map { Int32(truncatingIfNeeded: $0) } }
