// posttrain-bench: engine micro-benchmarks (the figures DESIGN.md quotes, measured through Tensor).
//
//   posttrain-bench sgemm [--sizes 512,1024,2048] [--repeats 10] [--min-time 1] [--warmup 2]
//
// One line per size, `key=value` fields so that scripts (scripts/bench_sgemm.sh) can read them.
import Foundation
import Tensor

struct UsageError: Error, CustomStringConvertible {
    let description: String
}

let usage = """
    usage: posttrain-bench sgemm [--sizes N[,N...]] [--repeats N] [--min-time S] [--warmup N]
           posttrain-bench generate [--rows N[,N...]] [--forms float32,mlx-q,gemv] [--repeats N]
                                    [--min-time S] [--warmup N]
           posttrain-bench kernels [--repeats N] [--only attention|ce]

      sgemm   float32 n×n @ n×n matrix product through Tensor: best and median GFLOP/s
              after the warm-up runs, over at least N timed runs and at least S seconds
              of them (defaults: sizes 512,1024,2048, 10 runs, 1 second, 2 warm-up runs)
      generate
              the matrix products of one decoding step of SmolLM2-135M (211 matrices, random
              weights of its shapes) for N rows: float32 matmul, MLX's quantized_matmul and
              quantizedGEMV on 4-bit (lm_head 8-bit) group-32 weights; ms per step and weight
              GB/s (defaults: rows 1,4, 10 runs, 2 seconds, 2 warm-up runs)
      kernels fused CPU attention and linear cross-entropy against the MLX ops they replace
              (SmolLM2-135M step shapes): time and peak memory of forward and forward+backward

    The process re-executes itself once to set OPENBLAS_CORETYPE (see Engine.configureBLAS)
    unless POSTTRAIN_BLAS_CONFIGURED is already set in the environment.
    """

struct SgemmOptions {
    var sizes = [512, 1024, 2048]
    var repeats = 10
    /// Small products take a millisecond; timing them for a while keeps one scheduler hiccup
    /// on a shared machine from deciding the median.
    var minTime = 1.0
    var warmup = 2

    init(_ args: ArraySlice<String>) throws {
        var f = Flags(args)
        while let flag = f.next() {
            switch flag {
            case "--sizes": sizes = try f.positiveList()
            case "--repeats": repeats = try f.positive()
            case "--min-time": minTime = try f.seconds()
            case "--warmup": warmup = try f.positive(allowZero: true)
            default: throw f.unknown()
            }
        }
    }
}

func seconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) + Double(atto) * 1e-18
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    let n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/// The kernel family OpenBLAS chose when it loaded (nil when OpenBLAS is not in the process).
func openBLASCore() -> String? {
    #if os(Linux)
    let everywhere: UnsafeMutableRawPointer? = nil  // glibc's RTLD_DEFAULT
    #else
    let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // Darwin's RTLD_DEFAULT
    #endif
    guard let sym = dlsym(everywhere, "openblas_get_corename") else { return nil }
    typealias CoreName = @convention(c) () -> UnsafePointer<CChar>?
    return unsafeBitCast(sym, to: CoreName.self)().map { String(cString: $0) }
}

func runSgemm(_ o: SgemmOptions) throws {
    print("blas=\(Engine.blas)")
    print("openblas_core=\(openBLASCore() ?? "(not loaded)")")
    print("OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
    print("mlx=\(Engine.version) device=\(Engine.defaultDevice.rawValue)")
    let clock = ContinuousClock()
    for n in o.sizes {
        let keys = RandomKey(seed: UInt64(n)).split()
        let a = Random.normal([n, n], key: keys[0])
        let b = Random.normal([n, n], key: keys[1])
        // Inputs are materialised up front so that only the product is timed.
        try eval(a, b)
        for _ in 0..<o.warmup { try matmul(a, b).eval() }
        var times: [Double] = []
        let began = clock.now
        while times.count < o.repeats || seconds(clock.now - began) < o.minTime {
            let start = clock.now
            try matmul(a, b).eval()
            times.append(seconds(clock.now - start))
        }
        let flop = 2 * Double(n) * Double(n) * Double(n)
        let best = times.min()!, med = median(times)
        print(String(format: "sgemm n=%d best=%.2f median=%.2f GFLOP/s runs=%d best_ms=%.3f",
                     n, flop / best / 1e9, flop / med / 1e9, times.count, best * 1e3))
        fflush(nil)  // lines appear as they are measured, also through a pipe
    }
}

// OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so this must come before any engine call.
// POSTTRAIN_BLAS_CONFIGURED set by the caller skips it: that measures OpenBLAS's own detection.
if ProcessInfo.processInfo.environment["POSTTRAIN_BLAS_CONFIGURED"] == nil {
    Engine.configureBLAS()
}

let args = CommandLine.arguments.dropFirst()
do {
    switch args.first {
    case "sgemm":
        try runSgemm(SgemmOptions(args.dropFirst()))
    case "generate":
        try runGenerate(GenerateOptions(args.dropFirst()))
    case "kernels":
        try runKernels(KernelOptions(args.dropFirst()))
    case "-h", "--help", "help":
        print(usage)
    case nil:
        throw UsageError(description: "no benchmark named")
    case let other?:
        throw UsageError(description: "unknown benchmark '\(other)'")
    }
} catch let e as UsageError {
    FileHandle.standardError.write(Data("posttrain-bench: \(e.description)\n\(usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("posttrain-bench: \(error)\n".utf8))
    exit(1)
}
