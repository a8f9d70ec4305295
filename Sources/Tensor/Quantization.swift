import CMLX

/// Affine group quantization: each group of `groupSize` weights along the last axis is stored as
/// `bits`-bit integers with a float scale and bias (w ≈ scale · q + bias).
public struct QuantizedWeight: Sendable {
    public var weight: Tensor   // packed uint32
    public var scales: Tensor
    public var biases: Tensor
    public var groupSize: Int
    public var bits: Int

    public init(weight: Tensor, scales: Tensor, biases: Tensor, groupSize: Int, bits: Int) {
        self.weight = weight; self.scales = scales; self.biases = biases
        self.groupSize = groupSize; self.bits = bits
    }

    /// Quantizes a float matrix along its last axis.
    public init(_ w: Tensor, groupSize: Int = 64, bits: Int = 4) {
        let parts = w.handle.map { Tensor.unpack(pt_quantize($0.raw, Int32(groupSize), Int32(bits)), "quantize", expected: 3) }
            ?? [w, w, w]
        self.init(weight: parts[0], scales: parts[1], biases: parts[2], groupSize: groupSize, bits: bits)
    }

    /// The float matrix these values stand for, in `dtype` (the scales' dtype by default).
    /// MLX computes in the scales' dtype, so they are widened first when a wider result is
    /// wanted: float16 scales would otherwise round every weight to float16.
    public func dequantized(dtype: DType? = nil) -> Tensor {
        let dt: Int32 = dtype.map { Int32($0.raw.rawValue) } ?? -1
        var scales = self.scales, biases = self.biases
        if let dtype, dtype.byteSize > scales.dtype.byteSize {
            scales = scales.asType(dtype)
            biases = biases.asType(dtype)
        }
        return Tensor.op("dequantize", [weight, scales, biases]) {
            pt_dequantize($0[0], $0[1], $0[2], Int32(groupSize), Int32(bits), dt)
        }
    }

    /// Logical shape of the float matrix.
    public var shape: [Int] {
        var s = weight.shape
        s[s.count - 1] = s[s.count - 1] * 32 / bits
        return s
    }
}

/// `x @ dequantize(w).T` (or `x @ dequantize(w)` when `transpose` is false) without materialising w.
public func quantizedMatmul(_ x: Tensor, _ w: QuantizedWeight, transpose: Bool = true) -> Tensor {
    Tensor.op("quantized_matmul", [x, w.weight, w.scales, w.biases]) {
        pt_quantized_matmul($0[0], $0[1], $0[2], $0[3], transpose, Int32(w.groupSize), Int32(w.bits))
    }
}
