import CMLX

/// Carries a Swift function of tensors through MLX's C++ transforms (value_and_grad, vjp, jvp,
/// compile), and the first Swift error it threw back out.
final class FunctionBox {
    let body: ([Tensor]) throws -> [Tensor]
    var error: Error?
    init(_ body: @escaping ([Tensor]) throws -> [Tensor]) { self.body = body }

    /// The C entry point: wraps borrowed inputs, runs the Swift body, pushes the outputs.
    static let trampoline: pt_callback = { ctx, inputs, n, out in
        let box = Unmanaged<FunctionBox>.fromOpaque(ctx!).takeUnretainedValue()
        var args: [Tensor] = []
        args.reserveCapacity(n)
        for i in 0..<n { args.append(Tensor(handle: ArrayHandle(pt_retain(inputs![i]!)))) }
        do {
            for t in try box.body(args) {
                try t.check()
                pt_vec_push(out, t.raw)
            }
            return 0
        } catch {
            if box.error == nil { box.error = error }
            return 1
        }
    }

    /// Runs a shim transform with this box as context, turning its status into Swift errors.
    func run(_ name: String, _ call: (UnsafeMutableRawPointer) -> Int32) throws {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        let rc = withExtendedLifetime(self) { call(ctx) }
        if rc == 1 { throw error ?? MLXError("\(name): the function failed") }
        if rc != 0 { throw MLXError.last(name) }
    }
}

func rawInputs(_ xs: [Tensor]) throws -> [pt_array?] {
    try xs.map { try $0.check().raw }
}

/// The values of `f` and the gradients of its first output with respect to the inputs at
/// `argnums` (all inputs when nil). The first output must be a scalar.
public func valueAndGrad(_ f: @escaping ([Tensor]) throws -> [Tensor], at inputs: [Tensor],
                         argnums: [Int]? = nil) throws -> (values: [Tensor], grads: [Tensor]) {
    let box = FunctionBox(f)
    var raws = try rawInputs(inputs)
    let args = int32s(argnums ?? Array(0..<inputs.count))
    var values: pt_vec?
    var grads: pt_vec?
    try box.run("valueAndGrad") { ctx in
        pt_value_and_grad(FunctionBox.trampoline, ctx, &raws, raws.count, args, args.count, &values, &grads)
    }
    return (Tensor.unpack(values, "valueAndGrad", expected: 0), Tensor.unpack(grads, "valueAndGrad", expected: 0))
}

/// Value and gradients of a scalar function of named tensors (a flattened parameter tree).
/// Only `trainable` keys (all keys when nil) receive gradients; the rest are held constant.
public func valueAndGrad(_ f: @escaping ([String: Tensor]) throws -> Tensor, at parameters: [String: Tensor],
                         trainable: Set<String>? = nil) throws -> (value: Tensor, grads: [String: Tensor]) {
    let keys = parameters.keys.sorted()
    let wrt = keys.enumerated().filter { trainable?.contains($0.element) ?? true }.map(\.offset)
    let (values, grads) = try valueAndGrad({ xs in
        var tree: [String: Tensor] = [:]
        tree.reserveCapacity(keys.count)
        for (k, x) in zip(keys, xs) { tree[k] = x }
        return [try f(tree)]
    }, at: keys.map { parameters[$0]! }, argnums: wrt)
    var out: [String: Tensor] = [:]
    for (i, g) in zip(wrt, grads) { out[keys[i]] = g }
    return (values[0], out)
}

/// Gradient of a scalar function of one tensor.
public func grad(_ f: @escaping (Tensor) throws -> Tensor, at x: Tensor) throws -> Tensor {
    try valueAndGrad({ [try f($0[0])] }, at: [x]).grads[0]
}

/// Vector-Jacobian product: outputs of `f` at `primals` and cotangents pulled back to the inputs.
public func vjp(_ f: @escaping ([Tensor]) throws -> [Tensor], primals: [Tensor],
                cotangents: [Tensor]) throws -> (outputs: [Tensor], vjps: [Tensor]) {
    let box = FunctionBox(f)
    var p = try rawInputs(primals), c = try rawInputs(cotangents)
    var outs: pt_vec?, vs: pt_vec?
    try box.run("vjp") { ctx in pt_vjp(FunctionBox.trampoline, ctx, &p, p.count, &c, c.count, &outs, &vs) }
    return (Tensor.unpack(outs, "vjp", expected: 0), Tensor.unpack(vs, "vjp", expected: 0))
}

/// Jacobian-vector product: outputs of `f` at `primals` and the directional derivatives.
public func jvp(_ f: @escaping ([Tensor]) throws -> [Tensor], primals: [Tensor],
                tangents: [Tensor]) throws -> (outputs: [Tensor], jvps: [Tensor]) {
    let box = FunctionBox(f)
    var p = try rawInputs(primals), t = try rawInputs(tangents)
    var outs: pt_vec?, js: pt_vec?
    try box.run("jvp") { ctx in pt_jvp(FunctionBox.trampoline, ctx, &p, p.count, &t, t.count, &outs, &js) }
    return (Tensor.unpack(outs, "jvp", expected: 0), Tensor.unpack(js, "jvp", expected: 0))
}
