/// One entry of a GGUF tensor directory: where a tensor's bytes are and how to read them.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions in GGUF (ggml) order: `dimensions[0]` is the fastest-varying (innermost) axis.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Byte offset of the tensor's data relative to the start of the file's data section.
    public let offset: Int
    /// Byte offset of the tensor's data from the start of the file.
    public let absoluteOffset: Int
    /// Size of the tensor's data in bytes.
    public let byteCount: Int

    /// The shape in row-major order, as MLX, NumPy and PyTorch write it (GGUF order reversed).
    public var shape: [Int] { dimensions.reversed() }

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { dimensions.reduce(1, *) }
}
