import NN

extension Adapters {
    /// Runs `body` with every adapter of `model` switched off, so the model computes its base
    /// outputs (PEFT's `disable_adapter()` context): the reference model of DPO-style objectives
    /// without a second copy of the weights. The adapters' previous states are restored afterwards,
    /// also when `body` throws.
    ///
    /// - Throws: `PEFTError.notMergeable` when an adapter is merged into its weight (its update
    ///   cannot be switched off then; `unmerge` first), before running `body`.
    public static func withAdaptersDisabled<R>(_ model: Module, _ body: () throws -> R) throws -> R {
        let adapted = adaptedLayers(of: model)
        if let merged = adapted.first(where: { $0.adapter.isMerged }) {
            throw PEFTError.notMergeable(path: merged.path, reason: "the adapter is merged into the weight and cannot be disabled; unmerge it first")
        }
        let states = adapted.map(\.adapter.isEnabled)
        for (_, _, adapter) in adapted { adapter.isEnabled = false }
        defer { for ((_, _, adapter), state) in zip(adapted, states) { adapter.isEnabled = state } }
        return try body()
    }
}
