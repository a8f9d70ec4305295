import CMLX
import Foundation

/// Process-wide engine settings: devices, memory accounting, BLAS, distributed groups.
public enum Engine {
    public enum Device: String, Sendable { case cpu, gpu }

    public static var version: String { String(cString: pt_mlx_version()) }
    public static var gpuAvailable: Bool { pt_gpu_available() }
    public static var defaultDevice: Device { pt_default_device() == 1 ? .gpu : .cpu }

    public static func setDefaultDevice(_ d: Device) throws {
        if pt_set_default_device(d == .gpu ? 1 : 0) != 0 { throw MLXError.last("set_default_device(\(d))") }
    }

    /// Which library `cblas_sgemm` resolved to in this process.
    public static var blas: String { String(cString: pt_blas_name()) }

    /// Makes OpenBLAS pick its fast kernels on CPUs it misidentifies. OpenBLAS reads
    /// OPENBLAS_CORETYPE once, when it loads, so if the variable had to be set the process
    /// re-executes itself (once; a marker variable prevents loops). Call first thing in `main`.
    public static func configureBLAS(arguments: [String] = CommandLine.arguments) {
        guard ProcessInfo.processInfo.environment["POSTTRAIN_BLAS_CONFIGURED"] == nil else { return }
        setenv("POSTTRAIN_BLAS_CONFIGURED", "1", 1)
        guard pt_configure_openblas_env() else { return }
        let argv = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", argv)
        // execv only returns on failure: carry on with the slower kernels.
    }

    public enum Memory {
        /// Bytes held by live arrays.
        public static var active: Int { pt_get_active_memory() }
        /// Largest `active` since start or the last `resetPeak()`.
        public static var peak: Int { pt_get_peak_memory() }
        /// Bytes kept in MLX's buffer cache for reuse.
        public static var cache: Int { pt_get_cache_memory() }
        public static func resetPeak() { pt_reset_peak_memory() }
        public static func clearCache() { pt_clear_cache() }
        @discardableResult public static func setLimit(_ bytes: Int) -> Int { pt_set_memory_limit(bytes) }
        @discardableResult public static func setCacheLimit(_ bytes: Int) -> Int { pt_set_cache_limit(bytes) }

        /// The process's peak resident set size in bytes (what the OS charged us, engine or not).
        public static var maxRSS: Int {
            var usage = rusage()
            #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return usage.ru_maxrss * 1024  // kilobytes on Linux
            #else
            getrusage(RUSAGE_SELF, &usage)
            return usage.ru_maxrss  // bytes on macOS
            #endif
        }
    }
}

/// Data-parallel collectives over MLX's distributed backends (ring over TCP, MPI, NCCL).
public final class DistributedGroup: @unchecked Sendable {
    public let rank: Int
    public let size: Int

    /// Joins the group described by the environment (MLX_RANK, MLX_HOSTFILE, ...). With `strict`
    /// false and no backend configured, returns a group of one in which collectives are no-ops.
    public init(backend: String = "any", strict: Bool = false) throws {
        var r: Int32 = 0
        let n = pt_distributed_init(strict, backend, &r)
        if n < 0 { throw MLXError.last("distributed init (\(backend))") }
        rank = Int(r)
        size = Int(n)
    }

    public func allSum(_ x: Tensor) -> Tensor { size == 1 ? x : Tensor.op("all_sum", x) { pt_all_sum($0) } }
    public func allGather(_ x: Tensor) -> Tensor { size == 1 ? x : Tensor.op("all_gather", x) { pt_all_gather($0) } }
    /// Mean of `x` over all processes: the gradient average of data-parallel training.
    public func allMean(_ x: Tensor) -> Tensor { size == 1 ? x : allSum(x) / Double(size) }
}
