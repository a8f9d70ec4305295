// posttrain-bench generate: the matrix products of one decoding step of the default model.
//
// A decoding step of SmolLM2-135M multiplies one row per sequence by every weight matrix:
// 30 layers × (q 576→576, k and v 576→192, o 576→576, gate and up 576→1536, down 1536→576) and
// the tied lm_head 576→49152. That reads all weights once per token, so it sets the ceiling on
// tokens/s. This times those products (random weights of the model's shapes, distinct per layer so
// that nothing stays in cache) with the weights in three forms:
//   float32   x · Wᵀ through MLX's matmul (OpenBLAS sgemv/sgemm): what --float decoding runs
//   mlx-q     MLX's quantized_matmul on 4-bit (lm_head 8-bit) group-32 weights: what mlx-lm runs
//   gemv      PostTrain's quantizedGEMV on the same quantized weights: what decoding runs by default
// One line per (form, rows): `key=value` fields for scripts (scripts/bench_generate.sh).
// End-to-end generation (attention, norms, sampling, graph building) is measured by the script
// with `posttrain generate`; this isolates the part the GEMV kernel is responsible for.
import Foundation
import Tensor

struct GenerateOptions {
    var rows = [1, 4]
    var repeats = 10
    var minTime = 2.0
    var warmup = 2
    var forms = ["float32", "mlx-q", "gemv"]

    init(_ args: ArraySlice<String>) throws {
        var f = Flags(args)
        while let flag = f.next() {
            switch flag {
            case "--rows": rows = try f.positiveList()
            case "--forms":
                forms = try f.value().split(separator: ",").map(String.init)
                let known: Set = ["float32", "mlx-q", "gemv"]
                if let bad = forms.first(where: { !known.contains($0) }) {
                    throw UsageError(description: "--forms: unknown form '\(bad)' (float32, mlx-q, gemv)")
                }
                if forms.isEmpty { throw UsageError(description: "--forms: no forms given") }
            case "--repeats": repeats = try f.positive()
            case "--min-time": minTime = try f.seconds()
            case "--warmup": warmup = try f.positive(allowZero: true)
            default: throw f.unknown()
            }
        }
    }
}

/// One decoding step's matrices: (rows out N, columns in K, bits when quantized).
let smolStepShapes: [(n: Int, k: Int, bits: Int)] = {
    let layer: [(Int, Int, Int)] = [(576, 576, 4), (192, 576, 4), (192, 576, 4), (576, 576, 4),
                                    (1536, 576, 4), (1536, 576, 4), (576, 1536, 4)]
    return Array(repeating: layer, count: 30).flatMap { $0 } + [(49152, 576, 8)]
}()

func runGenerate(_ o: GenerateOptions) throws {
    print("blas=\(Engine.blas) mlx=\(Engine.version) device=\(Engine.defaultDevice.rawValue)")
    print("threads=\(ProcessInfo.processInfo.environment["PT_QGEMV_THREADS"] ?? "default") matrices=\(smolStepShapes.count)")
    let clock = ContinuousClock()
    // Weights: float32 for the float form, quantized (group 32) for the two quantized forms.
    var dense: [Tensor] = [], quantized: [QuantizedWeight] = []
    let needDense = o.forms.contains("float32")
    let needQuantized = o.forms.contains { $0 != "float32" }
    for (i, s) in smolStepShapes.enumerated() {
        let w = Random.normal([s.n, s.k], std: 0.05, key: RandomKey(seed: UInt64(i + 1)))
        if needQuantized {
            let q = QuantizedWeight(w, groupSize: 32, bits: s.bits)
            // GGUF's Q4_1/Q8_0 come with float16 scales and biases; so do these.
            quantized.append(QuantizedWeight(weight: q.weight, scales: q.scales.asType(.float16),
                                             biases: q.biases.asType(.float16), groupSize: 32, bits: s.bits))
            try eval([quantized.last!.weight, quantized.last!.scales, quantized.last!.biases])
        }
        if needDense {
            try w.eval()
            dense.append(w)
        }
    }
    let floatBytes = smolStepShapes.reduce(0) { $0 + $1.n * $1.k * 4 }
    let quantBytes = smolStepShapes.reduce(0) { $0 + $1.n * $1.k * $1.bits / 8 + $1.n * $1.k / 32 * 4 }
    for rows in o.rows {
        let inputs = Dictionary(uniqueKeysWithValues: Set(smolStepShapes.map(\.k)).map { k in
            (k, Random.normal([rows, k], key: RandomKey(seed: UInt64(1000 + k))))
        })
        try eval(Array(inputs.values))
        for form in o.forms {
            // One step: every product of the model, evaluated together as a decoding step is.
            let step: () throws -> Void = {
                var outs: [Tensor] = []
                outs.reserveCapacity(smolStepShapes.count)
                for (i, s) in smolStepShapes.enumerated() {
                    let x = inputs[s.k]!
                    switch form {
                    case "float32": outs.append(matmul(x, dense[i].T))
                    case "mlx-q": outs.append(quantizedMatmul(x, quantized[i]))
                    default: outs.append(quantizedGEMV(x, quantized[i]))
                    }
                }
                try eval(outs)
            }
            // MLX's scalar quantized kernel takes about a second per step: fewer runs suffice.
            let slow = form == "mlx-q"
            for _ in 0..<(slow ? min(o.warmup, 1) : o.warmup) { try step() }
            var times: [Double] = []
            let began = clock.now
            let wantRuns = slow ? min(o.repeats, 3) : o.repeats
            let wantTime = slow ? 0 : o.minTime
            while times.count < wantRuns || seconds(clock.now - began) < wantTime {
                let start = clock.now
                try step()
                times.append(seconds(clock.now - start))
            }
            let best = times.min()!, med = median(times)
            let bytes = Double(form == "float32" ? floatBytes : quantBytes)
            print(String(format: "generate form=%@ rows=%d best_ms=%.3f median_ms=%.3f steps_per_s=%.1f weight_GB_per_s=%.1f runs=%d",
                         form, rows, best * 1e3, med * 1e3, 1 / med, bytes / med / 1e9, times.count))
            fflush(nil)
        }
    }
}
