import NN
import Tensor

/// The decoder-only transformer shared by the Llama family (Llama 2/3, SmolLM, Mistral),
/// Qwen2/2.5 (q/k/v biases) and Qwen3 (q/k RMSNorm): the differences are config flags.
/// Parameter paths follow Hugging Face checkpoints (`model.layers.0.self_attn.q_proj.weight`).
public final class TransformerLM: Module, LanguageModel {
    public let config: ModelConfig
    @Child public var model: DecoderStack
    @Child public var lmHead: (any LinearLayer)?

    public init(_ config: ModelConfig) {
        self.config = config
        _model = Child(wrappedValue: DecoderStack(config), key: "model")
        _lmHead = Child(wrappedValue: config.tieWordEmbeddings ? nil : Linear(config.hiddenSize, config.vocabSize, bias: false),
                        key: "lm_head")
        super.init()
    }

    public func embed(_ ids: Tensor) -> Tensor {
        switch model.embedTokens {
        case let e as Embedding: e(ids)
        case let e as QuantizedEmbedding: e(ids)
        default: fatalError("unsupported embedding module \(type(of: model.embedTokens))")
        }
    }

    /// Recompute each block's activations in the backward pass instead of keeping them
    /// (gradient checkpointing): much less memory for about one extra forward pass.
    public var gradientCheckpointing = false
    /// Checkpointed functions of the last forward pass; MLX calls them again during backward.
    private var liveCheckpoints: [CompiledFunction] = []

    public func hiddenStates(_ ids: Tensor?, embeddings: Tensor?, options: ForwardOptions) -> Tensor {
        var h = embeddings ?? embed(ids!)
        let length = h.dim(1)
        let mask = options.mask ?? (length > 1 ? .causal : .none)
        let checkpoint = gradientCheckpointing && training && options.cache == nil
        liveCheckpoints.removeAll()
        for (i, layer) in model.layers.enumerated() {
            if checkpoint {
                h = checkpointed(layer, h, mask: mask, options: options)
            } else {
                h = layer(h, cache: options.cache?[i], mask: mask, offsets: options.positionOffsets, positions: options.positions)
            }
        }
        return model.norm(h)
    }

    /// Runs a block as a checkpointed function of its input and its trainable parameters
    /// (gradients reach only a checkpoint's explicit inputs, so parameters are passed in).
    private func checkpointed(_ layer: DecoderBlock, _ h: Tensor, mask: Fast.AttentionMask, options: ForwardOptions) -> Tensor {
        let trainable = Set(layer.trainableParameters().keys)
        let boxes = layer.parameterBoxes().filter { trainable.contains($0.0) }.map(\.1)
        do {
            let fn = try CompiledFunction(checkpointing: { xs in
                let saved = boxes.map(\.value)
                for (b, x) in zip(boxes, xs.dropFirst()) { b.value = x }
                defer { for (b, v) in zip(boxes, saved) { b.value = v } }
                return [layer(xs[0], cache: nil, mask: mask, offsets: options.positionOffsets, positions: options.positions)]
            })
            liveCheckpoints.append(fn)
            return try fn([h] + boxes.map(\.value))[0]
        } catch {
            return Tensor(error: error)
        }
    }

    /// The output projection as a float [V, D] matrix when it is a plain one (a tied float
    /// embedding, or an lm_head without bias or adapter): losses can then fuse it with the
    /// cross-entropy and never build the logits.
    public var outputProjection: Tensor? {
        if let lmHead {
            guard let l = lmHead as? Linear, l.bias == nil, l.adapter == nil else { return nil }
            return l.weight
        }
        return (model.embedTokens as? Embedding)?.weight
    }

    public func logits(fromHidden h: Tensor) -> Tensor {
        if let lmHead { return lmHead(h) }
        switch model.embedTokens {
        case let e as Embedding: return e.asLinear(h)
        case let e as QuantizedEmbedding: return e.asLinear(h)
        default: fatalError("unsupported embedding module \(type(of: model.embedTokens))")
        }
    }
}

/// Architectures by Hugging Face `model_type` and GGUF `general.architecture`.
public enum Architectures {
    public static let supported = ["llama", "mistral", "smollm", "qwen2", "qwen3"]

    public static func make(_ config: ModelConfig, path: String) throws -> any LanguageModel {
        switch config.modelType {
        case "llama", "mistral", "smollm", "smollm2", "qwen2", "qwen3":
            return TransformerLM(config)
        default:
            throw ModelLoadError.unknownArchitecture(config.modelType, path: path)
        }
    }
}
