import Foundation
import NN
import Tensor

/// How float weights are held after loading.
public struct LoadOptions: Sendable {
    /// dtype for float weights (float32 on CPU: bf16 matmuls are slow there).
    public var dtype: DType
    /// Keep quantized weights quantized (QLoRA, inference) instead of dequantizing them.
    public var keepQuantized: Bool
    /// Quantize float weights at load (QLoRA on an HF float checkpoint): bits and group size.
    public var quantizeBits: Int?
    public var quantizeGroupSize: Int

    public init(dtype: DType = .float32, keepQuantized: Bool = false, quantizeBits: Int? = nil, quantizeGroupSize: Int = 64) {
        self.dtype = dtype
        self.keepQuantized = keepQuantized
        self.quantizeBits = quantizeBits
        self.quantizeGroupSize = quantizeGroupSize
    }
}

/// Puts checkpoint tensors (HF names; quantized weights as `.weight`/`.scales`/`.biases`
/// triples) into a freshly built model, checking that every parameter is present and fits.
enum WeightLoader {
    static func apply(_ tensors: [String: Tensor], to model: any LanguageModel, options: LoadOptions,
                      groupSize: (String) -> Int, path: String) throws {
        var remaining = tensors
        var replaced: Set<String> = []
        // Linear layers and embeddings are replaced whole, since their kind depends on the data.
        for (modulePath, module) in model.modules() {
            let isLinear = module is any LinearLayer
            let isEmbedding = module is Embedding || module is QuantizedEmbedding
            guard isLinear || isEmbedding, !modulePath.isEmpty else { continue }
            let wKey = "\(modulePath).weight"
            guard let w = remaining.removeValue(forKey: wKey) else {
                throw ModelLoadError.missingTensor(wKey, path: path)
            }
            let scales = remaining.removeValue(forKey: "\(modulePath).scales")
            let qbiases = remaining.removeValue(forKey: "\(modulePath).biases")
            let bias = remaining.removeValue(forKey: "\(modulePath).bias")
            let expectedBias = (module as? Linear)?.bias != nil || (module as? QuantizedLinear)?.bias != nil
            if expectedBias && bias == nil { throw ModelLoadError.missingTensor("\(modulePath).bias", path: path) }

            var quantized: QuantizedWeight?
            var dense: Tensor?
            if let scales, let qbiases {
                let g = groupSize(modulePath)
                let bits = w.dim(-1) * 32 / (scales.dim(-1) * g)
                quantized = QuantizedWeight(weight: w, scales: scales, biases: qbiases, groupSize: g, bits: bits)
            } else {
                dense = w
            }
            let expected = expectedShape(module)
            let got = quantized?.shape ?? dense!.shape
            if got != expected { throw ModelLoadError.shapeMismatch(wKey, expected: expected, got: got, path: path) }

            if let bits = options.quantizeBits, quantized == nil, isLinear {
                quantized = QuantizedWeight(dense!.asType(options.dtype), groupSize: options.quantizeGroupSize, bits: bits)
            }
            let replacement: Module
            if let q = quantized, options.keepQuantized || options.quantizeBits != nil {
                replacement = isLinear ? QuantizedLinear(q, bias: bias?.asType(options.dtype)) : QuantizedEmbedding(q)
            } else {
                let weight = (quantized?.dequantized(dtype: options.dtype) ?? dense!).asType(options.dtype)
                replacement = isLinear ? Linear(weight: weight, bias: bias?.asType(options.dtype)) : Embedding(weight: weight)
            }
            try model.replaceModule(at: modulePath, with: replacement)
            replaced.insert(modulePath)
        }
        // Everything else (norm weights) is a plain parameter.
        var updates: [String: Tensor] = [:]
        for (key, p) in model.parameters() where !replaced.contains(parentPath(key)) {
            guard let t = remaining.removeValue(forKey: key) else { throw ModelLoadError.missingTensor(key, path: path) }
            if t.shape != p.shape { throw ModelLoadError.shapeMismatch(key, expected: p.shape, got: t.shape, path: path) }
            updates[key] = t.asType(options.dtype)
        }
        try model.update(parameters: updates)
        // Buffers some checkpoints carry that the model recomputes.
        let leftovers = remaining.keys.filter { !$0.hasSuffix("rotary_emb.inv_freq") }.sorted()
        if !leftovers.isEmpty {
            throw ModelLoadError.unsupported("\(path): tensors the \(model.config.modelType) model does not use: \(leftovers.prefix(5).joined(separator: ", "))\(leftovers.count > 5 ? ", …" : "")")
        }
    }

    static func expectedShape(_ m: Module) -> [Int] {
        switch m {
        case let l as any LinearLayer: [l.outputDimensions, l.inputDimensions]
        case let e as Embedding: e.weight.shape
        case let e as QuantizedEmbedding: e.quantized.shape
        default: []
        }
    }

    static func parentPath(_ key: String) -> String {
        guard let dot = key.lastIndex(of: ".") else { return "" }
        return String(key[..<dot])
    }
}
