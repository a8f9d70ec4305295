import Foundation
import LM
@testable import PostTrain
import Tensor
import XCTest

/// Packing several examples into one row gives each example the same loss as a batch of
/// separate, padded rows.
final class PackingTests: XCTestCase {
    func testPackedAndUnpackedLossesAgreePerExample() throws {
        Random.seed(11)
        let config = ModelConfig(modelType: "llama", hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
                                 numAttentionHeads: 4, numKeyValueHeads: 2, vocabSize: 97, tieWordEmbeddings: true)
        let model = TransformerLM(config)
        let examples: [TokenizedExample] = [
            TokenizedExample(ids: [1, 5, 9, 13, 17, 21], isTarget: [false, false, true, true, true, true], truncated: false),
            TokenizedExample(ids: [2, 4, 8], isTarget: [false, true, true], truncated: false),
            TokenizedExample(ids: [3, 6, 12, 24, 48], isTarget: [false, false, false, true, true], truncated: false),
        ]
        let ds = TokenizedDataset(examples: examples, source: [0, 0, 0], weights: [1], report: DataReport())
        var packedOpts = BatchingOptions()
        packedOpts.packing = true
        packedOpts.maxLength = 16
        packedOpts.batchSize = 8
        let packed = SFTBatches(ds, options: packedOpts, padId: 0, shuffle: false)
        XCTAssertEqual(packed.batchesPerEpoch, 1)
        let packedBatch = try packed.batch(epoch: 0, index: 0)
        XCTAssertEqual(packedBatch.shape.rows, 1)  // 6 + 3 + 5 = 14 tokens fit in one row of 16

        let objective = SFTObjective()
        let packedLoss = objective.loss(model: model, batch: packedBatch, training: false)
        var separateSum = 0.0, separateCount = 0.0
        for e in examples {
            let b = TokenBatch(rows: [e.ids], lossOnNext: [e.lossOnNext])
            let out = objective.loss(model: model, batch: b, training: false)
            separateSum += Double(try out.sum.float())
            separateCount += Double(try out.count.float())
        }
        XCTAssertEqual(Double(try packedLoss.count.float()), separateCount)
        XCTAssertEqual(Double(try packedLoss.sum.float()), separateSum, accuracy: 1e-4)

        // Per example: the packed row's per-token losses at each example's positions.
        let unpacked = SFTBatches(ds, options: BatchingOptions(), padId: 0, shuffle: false)
        let u = try unpacked.batch(epoch: 0, index: 0)
        XCTAssertEqual(Double(try objective.loss(model: model, batch: u, training: false).sum.float()), separateSum, accuracy: 1e-4)
    }

    func testBestFitPackingFillsRows() {
        let rows = SFTBatches.pack([0, 1, 2, 3, 4], lengths: [7, 5, 3, 2, 1], capacity: 8)
        XCTAssertEqual(rows.map { $0.map { [7, 5, 3, 2, 1][$0] }.reduce(0, +) }.sorted(), [8, 8, 2].sorted())
        XCTAssertEqual(Set(rows.flatMap { $0 }), [0, 1, 2, 3, 4])
    }
}
