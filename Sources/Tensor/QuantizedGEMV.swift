import CMLX

/// `x @ dequantize(w).T` with PostTrain's CPU kernel for few rows of `x` (decoding).
///
/// MLX's own quantized matmul runs scalar, single-threaded code on the CPU. This kernel streams
/// the packed weights once per call with SIMD unpacking and splits large matrices over threads,
/// so decoding reads 4-bit weights at memory speed. It computes in float32 and returns `x`'s dtype;
/// `w` must use 4 or 8 bits with groups of 32, 64 or 128 (see `QuantizedWeight.supportsGEMV`). Every 8 rows of `x`
/// stream the weights again: for many rows dequantize once and use `matmul` instead. It always
/// evaluates on the CPU. Gradients flow to `x` (and to the scales and biases), not to the packed
/// weight.
public func quantizedGEMV(_ x: Tensor, _ w: QuantizedWeight) -> Tensor {
    var message: String?
    let y = Tensor.op("quantized_gemv", [x, w.weight, w.scales, w.biases]) { r in
        let out = pt_quantized_gemv(r[0], r[1], r[2], r[3], Int32(w.groupSize), Int32(w.bits))
        // Argument errors are kept by the kernel's own error slot, not the shim's.
        if out == nil { message = String(cString: pt_qgemv_last_error()) }
        return out
    }
    if let message { return Tensor(failure: MLXError("quantized_gemv: \(message)")) }
    return y
}

extension QuantizedWeight {
    /// Whether `quantizedGEMV` handles this bit width and group size.
    public var supportsGEMV: Bool {
        (bits == 4 || bits == 8) && [32, 64, 128].contains(groupSize)
    }
}
