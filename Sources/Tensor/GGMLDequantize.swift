import CMLX

/// GGML storage formats (the tensor types of a GGUF file) and their conversion to float tensors.
///
/// MLX's GGUF loader handles only F32/F16/BF16 and Q4_0/Q4_1/Q8_0; this covers the K-quants and
/// the other legacy formats too (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K,
/// Q5_K, Q6_K, Q8_K). Values are the float32 numbers ggml's own dequantization produces, bit for bit.
public enum GGML {
    /// Converts one tensor's raw GGUF bytes to a float tensor.
    ///
    /// - Parameters:
    ///   - bytes: exactly the tensor's data (the whole blocks of all its rows).
    ///   - type: the GGML type id from the GGUF tensor directory (`GGMLType` raw value).
    ///   - shape: row-major (MLX) shape, i.e. the GGUF `ne` dimensions reversed; the last
    ///     dimension (ggml's row) must be a whole number of blocks.
    ///   - dtype: `.float32`, `.float16` or `.bfloat16` (16-bit results are rounded to nearest even
    ///     from the float32 value).
    /// - Throws: `MLXError` naming the type for unsupported types, shapes that split a block, or a
    ///   byte count other than the one the shape needs.
    public static func dequantize(_ bytes: UnsafeRawBufferPointer, type: UInt32, shape: [Int],
                                  dtype: DType = .float32) throws -> Tensor {
        let name = typeName(type)
        guard isSupported(type: type) else {
            throw MLXError("GGML dequantize: \(name) tensors are not supported")
        }
        guard dtype == .float32 || dtype == .float16 || dtype == .bfloat16 else {
            throw MLXError("GGML dequantize: \(name) can be converted to float32, float16 or bfloat16, not \(dtype)")
        }
        if let bad = shape.first(where: { $0 < 0 || $0 > Int(Int32.max) }) {
            throw MLXError("GGML dequantize: dimension \(bad) of shape \(shape) is out of range")
        }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw MLXError("GGML dequantize: shape \(shape) has too many elements") }
            elements = p
        }
        let block = blockSize(type: type)!
        // ggml quantizes rows independently, so the row (last dimension) holds whole blocks.
        if elements % block.elements != 0 || (shape.last.map { $0 % block.elements != 0 } ?? false) {
            throw MLXError("GGML dequantize: \(name) rows of shape \(shape) are not a multiple of the block size \(block.elements)")
        }
        let expected = elements / block.elements * block.bytes
        guard bytes.count == expected else {
            throw MLXError("GGML dequantize: \(name) tensor of shape \(shape) needs \(expected) bytes, got \(bytes.count)")
        }
        let dims = int32s(shape)
        let result = dims.withUnsafeBufferPointer { dp in
            pt_ggml_dequantize(bytes.baseAddress, bytes.count, type, dp.baseAddress, dp.count, dtype.raw)
        }
        guard let result else {
            throw MLXError("GGML dequantize: \(name) tensor of shape \(shape): \(String(cString: pt_ggml_last_error()))")
        }
        return Tensor(handle: ArrayHandle(result))
    }

    /// Whether `dequantize` can convert tensors of this GGML type id.
    public static func isSupported(type: UInt32) -> Bool { pt_ggml_is_supported(type) }

    /// Bytes that `elements` values of `type` occupy in a GGUF file; nil for unsupported types and
    /// for element counts that are not a whole number of blocks.
    public static func byteCount(type: UInt32, elements: Int) -> Int? {
        guard elements >= 0, let block = blockSize(type: type), elements % block.elements == 0 else { return nil }
        let (bytes, overflow) = (elements / block.elements).multipliedReportingOverflow(by: block.bytes)
        return overflow ? nil : bytes
    }

    /// Elements and bytes per block of a supported type (1 element for F32/F16/BF16).
    public static func blockSize(type: UInt32) -> (elements: Int, bytes: Int)? {
        var elements = 0, bytes = 0
        guard pt_ggml_block_info(type, &elements, &bytes) else { return nil }
        return (elements, bytes)
    }

    /// ggml's name of a type id ("Q4_K"), or "GGML type N" for ids it does not know.
    public static func typeName(_ type: UInt32) -> String {
        pt_ggml_type_name(type).map { String(cString: $0) } ?? "GGML type \(type)"
    }
}
