/// What can go wrong attaching, saving, loading or merging adapters. Every case names what the
/// user has to look at: the config field, the module path, the checkpoint key and the file.
public enum PEFTError: Error, CustomStringConvertible, Equatable {
    /// The config asks for something this implementation does not do (or a value out of range).
    case unsupportedConfig(String)
    /// No module matched the selection; `available` lists some linear modules that exist.
    case noTargetModules(selection: String, available: [String])
    /// The layer already carries an adapter (one adapter per layer).
    case alreadyAdapted(String)
    /// Full fine-tuning was asked of a model whose weights are stored quantized.
    case quantizedWeights([String])
    /// A bad or unreadable adapter_config.json.
    case badConfigFile(path: String, reason: String)
    /// A tensor the adapters need is not in the file.
    case missingKey(String, file: String)
    /// The file holds a tensor that belongs to no adapter of the model.
    case unexpectedKey(String, file: String)
    case shapeMismatch(String, file: String, expected: [Int], got: [Int])
    /// A layer whose weights cannot take the merged matrix.
    case notMergeable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedConfig(let why):
            return "unsupported PEFT config: \(why)"
        case .noTargetModules(let selection, let available):
            let list = available.isEmpty ? "the model has no linear layers" : "linear modules in the model include \(available.joined(separator: ", "))"
            return "no module matched \(selection); \(list)"
        case .alreadyAdapted(let path):
            return "\(path) already has an adapter (merge or remove it before attaching another)"
        case .quantizedWeights(let paths):
            let shown = paths.prefix(3).joined(separator: ", ") + (paths.count > 3 ? ", …" : "")
            return "full fine-tuning needs float weights, but \(paths.count) module(s) hold quantized weights (\(shown)): "
                + "quantized weights cannot take gradient updates; load the model without keeping it quantized "
                + "(LoadOptions(keepQuantized: false)), or train adapters (LoRA/QLoRA) on the quantized base instead"
        case .badConfigFile(let path, let reason):
            return "\(path): \(reason)"
        case .missingKey(let key, let file):
            return "\(file): missing tensor \(key)"
        case .unexpectedKey(let key, let file):
            return "\(file): unexpected tensor \(key) (no adapter of the model takes it)"
        case .shapeMismatch(let key, let file, let expected, let got):
            return "\(file): tensor \(key) has shape \(got), the adapter expects \(expected)"
        case .notMergeable(let path, let reason):
            return "cannot merge the adapter of \(path): \(reason)"
        }
    }
}
