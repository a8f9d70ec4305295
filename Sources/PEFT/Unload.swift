import NN
import Tensor

extension Adapters {
    /// Removes every adapter from `model` without merging it (PEFT's `unload`), restoring base
    /// weights that `mergeKeepingAdapters` had changed. The base parameters keep their frozen state.
    ///
    /// - Returns: the paths of the layers whose adapters were removed.
    @discardableResult
    public static func unload(_ model: Module) throws -> [String] {
        try unmerge(model)
        let adapted = adaptedLayers(of: model)
        for (_, layer, _) in adapted { layer.adapter = nil }
        return adapted.map(\.path)
    }
}
