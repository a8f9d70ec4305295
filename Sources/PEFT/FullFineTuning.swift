import NN

extension Adapters {
    /// Makes every parameter of `model` trainable: full fine-tuning, the baseline that adapters
    /// approximate. Adapters already attached stay and train too.
    ///
    /// - Throws: `PEFTError.quantizedWeights` naming the quantized layers when the model holds
    ///   weights stored quantized (`QuantizedLinear`, `QuantizedEmbedding`): packed integers take
    ///   no gradient steps, so full fine-tuning needs the model loaded with float weights.
    public static func enableFullFineTuning(_ model: Module) throws {
        let quantized = model.modules().filter { $0.1 is QuantizedLinear || $0.1 is QuantizedEmbedding }.map(\.0)
        guard quantized.isEmpty else { throw PEFTError.quantizedWeights(quantized) }
        model.unfreeze()
    }
}
