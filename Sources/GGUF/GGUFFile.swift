import Foundation

/// The header of a GGUF file: format version, every metadata key/value, and the tensor directory.
///
/// Reading maps the file and parses only the header; tensor data is never read (the model loader
/// hands the file to MLX for that). Every failure is a `GGUFError` that names the file.
public struct GGUFFile: Sendable {
    /// The path (or caller-given name) used in error messages.
    public let path: String
    public let version: UInt32
    /// Metadata keys in the order they appear in the file.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor entries in file order.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of tensor data (general.alignment, default 32).
    public let alignment: Int
    /// File offset where the data section (and so tensor offset 0) begins.
    public let dataOffset: Int
    public let fileSize: Int
    private let tensorIndex: [String: Int]

    /// Reads the header of the GGUF file at `path`.
    /// - Parameter validateTensorData: when true (the default) every tensor's bytes must lie inside the
    ///   file, so a truncated download is reported; pass false to read metadata from a file whose
    ///   tensor data is incomplete (a partial download, the first part of a split file).
    public init(path: String, validateTensorData: Bool = true) throws {
        let mapped = try MappedFile(path: path)
        try self.init(bytes: mapped.bytes, name: path, validateTensorData: validateTensorData)
        withExtendedLifetime(mapped) {}
    }

    public init(url: URL, validateTensorData: Bool = true) throws {
        try self.init(path: url.path, validateTensorData: validateTensorData)
    }

    /// Parses a GGUF header held in memory; `name` stands for the file in error messages.
    public init(data: Data, name: String, validateTensorData: Bool = true) throws {
        self = try data.withUnsafeBytes { raw in
            try GGUFFile(bytes: raw, name: name, validateTensorData: validateTensorData)
        }
    }

    private init(bytes: UnsafeRawBufferPointer, name: String, validateTensorData: Bool) throws {
        var parser = GGUFParser(bytes: bytes, file: name)
        let header = try parser.parseHeader(validateTensorData: validateTensorData)
        path = name
        version = header.version
        keys = header.keys
        metadata = header.metadata
        tensors = header.tensors
        alignment = header.alignment
        dataOffset = header.dataOffset
        fileSize = bytes.count
        var index: [String: Int] = [:]
        index.reserveCapacity(header.tensors.count)
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        tensorIndex = index
    }

    /// The tensor entry with this name, if the file has one.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw value stored under `key`.
    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// `general.architecture` ("llama", "qwen2", "gemma3", ...), if present.
    public var architecture: String? {
        if case let .string(s)? = metadata["general.architecture"] { return s }
        return nil
    }
}
