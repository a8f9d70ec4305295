// posttrain-bench kernels: our fused CPU kernels (FusedKernels) against the MLX ops they replace,
// at the shapes of a SmolLM2-135M LoRA step (batch 4 × 512 tokens, 9 query / 3 kv heads of 64,
// hidden 576, vocabulary 49152).
//
//   posttrain-bench kernels [--repeats N] [--only attention|ce]
//
// For each case: forward alone, then forward + backward (valueAndGrad of Σ out·cotangent), best
// and median wall time over the runs, the engine's peak memory over one forward + backward, and
// the largest difference between the two paths' results (relative to the largest entry).
import Foundation
import Tensor

struct KernelOptions {
    var repeats = 3
    var only: String? = nil

    init(_ args: ArraySlice<String>) throws {
        var f = Flags(args)
        while let flag = f.next() {
            switch flag {
            case "--repeats": repeats = try f.positive()
            case "--only":
                let v = try f.value()
                guard v == "attention" || v == "ce" else { throw UsageError(description: "--only: expected attention or ce, got '\(v)'") }
                only = v
            default: throw f.unknown()
            }
        }
    }
}

/// One side of a comparison: a forward function and the inputs it is differentiated against.
private struct KernelPath {
    let name: String
    let forward: ([Tensor]) -> Tensor
}

private func relativeDifference(_ a: Tensor, _ b: Tensor) throws -> Float {
    let diff = try (a.asType(.float32) - b.asType(.float32)).abs.max().float()
    return diff / Swift.max(try b.asType(.float32).abs.max().float(), 1e-30)
}

/// Times `path` on `inputs` (gradients with respect to `wrt`) and returns its results for the
/// cross-check: the forward output and the gradients.
private func measure(_ path: KernelPath, inputs: [Tensor], wrt: [Int], cotangent: Tensor,
                     repeats: Int, label: String) throws -> [Tensor] {
    let clock = ContinuousClock()
    let loss: ([Tensor]) throws -> [Tensor] = { x in [(path.forward(x) * cotangent).sum()] }
    // Warm-up: allocations reach their steady state and MLX's buffer cache fills.
    var results = [try path.forward(inputs).eval()]
    results += try valueAndGrad(loss, at: inputs, argnums: wrt).grads
    try eval(results)

    var forward: [Double] = [], both: [Double] = []
    for _ in 0..<repeats {
        var start = clock.now
        try path.forward(inputs).eval()
        forward.append(seconds(clock.now - start))
        start = clock.now
        let (v, g) = try valueAndGrad(loss, at: inputs, argnums: wrt)
        try eval(v + g)
        both.append(seconds(clock.now - start))
    }
    // Peak memory of one forward + backward, above what was live before it (inputs, cache).
    Engine.Memory.clearCache()
    let before = Engine.Memory.active
    Engine.Memory.resetPeak()
    let (v, g) = try valueAndGrad(loss, at: inputs, argnums: wrt)
    try eval(v + g)
    let peak = Engine.Memory.peak
    print(String(format: "%@ path=%@ fwd_best_ms=%.1f fwd_median_ms=%.1f fwd_bwd_best_ms=%.1f fwd_bwd_median_ms=%.1f peak_gb=%.3f peak_above_inputs_gb=%.3f",
                 label, path.name, forward.min()! * 1e3, median(forward) * 1e3, both.min()! * 1e3,
                 median(both) * 1e3, Double(peak) / 1e9, Double(peak - before) / 1e9))
    fflush(nil)
    return results
}

private func compare(_ label: String, _ names: [String], _ ours: [Tensor], _ mlx: [Tensor]) throws {
    let fields = try zip(names, zip(ours, mlx)).map { name, pair in
        String(format: "%@=%.2e", name, try relativeDifference(pair.0, pair.1))
    }
    print("\(label) max_rel_diff \(fields.joined(separator: " "))")
}

func runKernels(_ o: KernelOptions) throws {
    guard FusedKernels.isAvailable else { throw UsageError(description: "the fused kernels need the CPU device") }
    print("blas=\(Engine.blas)")
    print("mlx=\(Engine.version) device=\(Engine.defaultDevice.rawValue) threads=\(ProcessInfo.processInfo.activeProcessorCount)")

    if o.only == nil || o.only == "attention" {
        let (B, Hq, Hkv, L, D) = (4, 9, 3, 512, 64)
        let keys = RandomKey(seed: 1).split(4)
        let inputs = [Random.normal([B, Hq, L, D], key: keys[0]), Random.normal([B, Hkv, L, D], key: keys[1]),
                      Random.normal([B, Hkv, L, D], key: keys[2])]
        let cot = Random.normal([B, Hq, L, D], key: keys[3])
        try eval(inputs + [cot])
        let scale = 1 / Float(D).squareRoot()
        let label = "attention B=\(B) Hq=\(Hq) Hkv=\(Hkv) L=\(L) D=\(D) causal"
        let mlx = KernelPath(name: "mlx") { x in
            Fast.scaledDotProductAttention(queries: x[0], keys: x[1], values: x[2], scale: scale, mask: .causal)
        }
        let ours = KernelPath(name: "fused") { x in
            FusedKernels.attention(queries: x[0], keys: x[1], values: x[2], scale: scale, causal: true)
        }
        let a = try measure(mlx, inputs: inputs, wrt: [0, 1, 2], cotangent: cot, repeats: o.repeats, label: label)
        let b = try measure(ours, inputs: inputs, wrt: [0, 1, 2], cotangent: cot, repeats: o.repeats, label: label)
        try compare(label, ["out", "dq", "dk", "dv"], b, a)
    }

    if o.only == nil || o.only == "ce" {
        let (N, D, V) = (2048, 576, 49152)
        let keys = RandomKey(seed: 2).split(4)
        let hidden = Random.normal([N, D], key: keys[0])
        let weight = Random.normal([V, D], key: keys[1]) * 0.05
        let targets = Random.randint(0, V, [N], key: keys[2])
        let cot = Random.uniform([N], key: keys[3])
        try eval(hidden, weight, targets, cot)
        // Losses.crossEntropyPerToken over materialised logits: what a training step does without
        // the fused kernel.
        let mlx = KernelPath(name: "mlx") { x in
            let logits = matmul(x[0], x[1].transposed())
            return logits.logSumExp(axis: -1) - logits.takeAlong(targets.expandedDims(-1), axis: -1).squeezed(-1)
        }
        let ours = KernelPath(name: "fused") { x in
            FusedKernels.linearCrossEntropy(hidden: x[0], weight: x[1], targets: targets)
        }
        // LoRA: the (tied) output weight is frozen, only the hidden states get a gradient.
        var label = "cross_entropy N=\(N) D=\(D) V=\(V) grad=hidden"
        var a = try measure(mlx, inputs: [hidden, weight], wrt: [0], cotangent: cot, repeats: o.repeats, label: label)
        var b = try measure(ours, inputs: [hidden, weight], wrt: [0], cotangent: cot, repeats: o.repeats, label: label)
        try compare(label, ["loss", "dhidden"], b, a)
        // Full fine-tuning: the weight gets a gradient too.
        label = "cross_entropy N=\(N) D=\(D) V=\(V) grad=hidden,weight"
        a = try measure(mlx, inputs: [hidden, weight], wrt: [0, 1], cotangent: cot, repeats: o.repeats, label: label)
        b = try measure(ours, inputs: [hidden, weight], wrt: [0, 1], cotangent: cot, repeats: o.repeats, label: label)
        try compare(label, ["loss", "dhidden", "dweight"], b, a)
    }
}
