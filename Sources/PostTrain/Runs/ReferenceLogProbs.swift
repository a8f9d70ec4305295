import Foundation
import LM
import Tensor

/// Reference log-probs computed once, before training: a forward pass of the starting policy (or
/// a given reference model) over every answer row of the training and validation sets. Batches
/// then carry them, so no reference model stays in memory and no reference forward pass runs per
/// step. They are stored in the run folder with a fingerprint of the token rows, so a resumed run
/// reuses them instead of recomputing.
public enum ReferenceLogProbs {
    public static let fileName = "reference_logps.safetensors"

    /// Log-prob sums of every answer row of `dataset` under `model` as it is now.
    /// Rows go in length-sorted batches of at most `tokenBudget` padded tokens (on the CPU a few
    /// rows at a time run faster than one large graph: 2048 took half the time of 8192 here).
    public static func compute(model: any LanguageModel, dataset: PreferenceDataset, padId: Int, tokenBudget: Int = 2048,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> [Float] {
        let wasTraining = model.training
        model.train(false)
        defer { model.train(wasTraining) }
        let rows = dataset.answers
        let order = rows.indices.sorted { rows[$0].ids.count > rows[$1].ids.count }
        var out = [Float](repeating: 0, count: rows.count)
        var start = 0
        while start < order.count {
            let width = rows[order[start]].ids.count
            let n = max(1, min(order.count - start, tokenBudget / max(1, width)))
            let idx = Array(order[start..<(start + n)])
            let sums = SequenceLogProbs.sums(model: model, rows: AnswerRows(idx.map { rows[$0] }, padId: padId))
            try eval([sums])
            for (i, v) in zip(idx, try sums.floats()) { out[i] = v }
            start += n
            progress(start, order.count)
        }
        return out
    }

    /// Fills `referenceLogps` of each dataset: from `cache` when it holds values for the same
    /// token rows and the same reference (`source` names it: the model and adapter), otherwise by
    /// computing them with `model` (then writing `cache`).
    /// - Returns: whether the values were computed (false: all came from the cache).
    @discardableResult
    public static func attach(model: any LanguageModel, datasets: inout [String: PreferenceDataset], padId: Int,
                              cache: URL?, source: String = "", log: (String) -> Void = { _ in }) throws -> Bool {
        var stored: [String: Tensor] = [:], meta: [String: String] = [:]
        if let cache, FileManager.default.fileExists(atPath: cache.path),
           let file = try? TensorIO.loadSafetensors(cache.path) {
            (stored, meta) = file
        }
        var computed = false
        for name in datasets.keys.sorted() {
            var d = datasets[name]!
            if meta["\(name)_fingerprint"] == d.fingerprint, meta["reference"] == source, let t = stored[name], t.size == d.answers.count {
                d.referenceLogps = try t.floats()
                log("reference log-probs for \(name) loaded from \(cache!.lastPathComponent)")
            } else {
                let start = Date()
                var lastShown = Date.distantPast
                d.referenceLogps = try compute(model: model, dataset: d, padId: padId) { done, total in
                    if Date().timeIntervalSince(lastShown) > 10 || done == total {
                        lastShown = Date()
                        log("reference log-probs for \(name): \(done)/\(total) answers")
                    }
                }
                log(String(format: "reference log-probs for %@ computed in %.1fs", name, Date().timeIntervalSince(start)))
                stored[name] = Tensor(d.referenceLogps!)
                meta["\(name)_fingerprint"] = d.fingerprint
                computed = true
            }
            datasets[name] = d
        }
        if computed, let cache {
            meta["reference"] = source
            // Values computed for another reference are stale: keep only this one's.
            for name in Array(stored.keys) where datasets[name] == nil {
                stored.removeValue(forKey: name)
                meta.removeValue(forKey: "\(name)_fingerprint")
            }
            try TensorIO.saveSafetensors(stored, to: cache.path, metadata: meta)
        }
        return computed
    }
}
