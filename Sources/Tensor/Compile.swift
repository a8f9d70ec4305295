import CMLX

/// A function traced once per input shape (or once for all shapes when `shapeless`) into a fused
/// graph. The traced function must be pure: it may only depend on its tensor arguments.
public final class CompiledFunction: @unchecked Sendable {
    private let box: FunctionBox
    private let fn: pt_fn

    public init(shapeless: Bool = false, _ f: @escaping ([Tensor]) throws -> [Tensor]) throws {
        box = FunctionBox(f)
        guard let fn = pt_compile(FunctionBox.trampoline, Unmanaged.passUnretained(box).toOpaque(), shapeless) else {
            throw MLXError.last("compile")
        }
        self.fn = fn
    }

    /// A gradient-checkpointed function: the backward pass recomputes its intermediates rather
    /// than keeping them, trading compute for memory. Gradients flow only to its inputs, so
    /// parameters must be passed in, not captured.
    public init(checkpointing f: @escaping ([Tensor]) throws -> [Tensor]) throws {
        box = FunctionBox(f)
        guard let fn = pt_checkpoint(FunctionBox.trampoline, Unmanaged.passUnretained(box).toOpaque()) else {
            throw MLXError.last("checkpoint")
        }
        self.fn = fn
    }

    deinit { pt_fn_free(fn) }

    public func callAsFunction(_ inputs: [Tensor]) throws -> [Tensor] {
        var raws = try rawInputs(inputs)
        var out: pt_vec?
        box.error = nil
        try box.run("compiled function") { _ in pt_fn_call(fn, &raws, raws.count, &out) }
        return Tensor.unpack(out, "compiled function", expected: 0)
    }
}

public enum Compilation {
    /// Turns compilation on or off process-wide (off is useful when debugging).
    public static func setEnabled(_ enabled: Bool) { pt_set_compile_enabled(enabled) }
}
