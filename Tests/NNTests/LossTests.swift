import Foundation
import NN
import Tensor
import XCTest

final class LossTests: XCTestCase {
    // Batch 2 × sequence 2 × vocabulary 3.
    let logits: [[Double]] = [[1, 2, 3], [0.5, -1, 2], [0, 0, 0], [3, -2, 1]]
    let targets = [2, 0, 1, 1]

    /// log Σ exp(l) − l[t], in Double.
    func handCrossEntropy(_ l: [Double], _ t: Int) -> Double {
        let m = l.max()!
        return m + Foundation.log(l.reduce(0) { $0 + Foundation.exp($1 - m) }) - l[t]
    }

    var logitsTensor: Tensor { Tensor(logits.flatMap { $0 }.map(Float.init), shape: [2, 2, 3]) }

    func testCrossEntropyPerTokenAndUnmasked() throws {
        let per = (0..<4).map { handCrossEntropy(logits[$0], targets[$0]) }
        // Row 3 by hand: uniform logits give log 3.
        XCTAssertEqual(per[2], Foundation.log(3.0), accuracy: 1e-15)
        let t = Tensor(targets, shape: [2, 2])
        let perToken = Losses.crossEntropyPerToken(logits: logitsTensor, targets: t)
        XCTAssertEqual(perToken.shape, [2, 2])
        try assertClose(perToken, per)
        let (mean, sum, count) = Losses.crossEntropy(logits: logitsTensor, targets: t)
        try assertClose(mean, per.reduce(0, +) / 4)
        try assertClose(sum, per.reduce(0, +))
        try assertClose(count, 4)
    }

    func testCrossEntropyWithMask() throws {
        let per = (0..<4).map { handCrossEntropy(logits[$0], targets[$0]) }
        let mask = Tensor([true, false, true, true], shape: [2, 2])
        let (mean, sum, count) = Losses.crossEntropy(logits: logitsTensor, targets: Tensor(targets, shape: [2, 2]), mask: mask)
        let expected = per[0] + per[2] + per[3]
        try assertClose(mean, expected / 3)
        try assertClose(sum, expected)
        try assertClose(count, 3)

        // Gradient: (softmax − onehot)·mask / count, the masked position gets none.
        let g = try grad({ l in
            Losses.crossEntropy(logits: l, targets: Tensor(self.targets, shape: [2, 2]), mask: mask).mean
        }, at: logitsTensor)
        var expectedGrad: [Double] = []
        for (i, row) in logits.enumerated() {
            let m = row.max()!
            let z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            let on = i == 1 ? 0.0 : 1.0 / 3
            for (j, v) in row.enumerated() { expectedGrad.append(on * (Foundation.exp(v - m) / z - (j == targets[i] ? 1 : 0))) }
        }
        try assertClose(g, expectedGrad)

        // Everything masked: zero, not NaN.
        let none = Losses.crossEntropy(logits: logitsTensor, targets: Tensor(targets, shape: [2, 2]),
                                       mask: Tensor([false, false, false, false], shape: [2, 2]))
        try assertClose(none.mean, 0)
        try assertClose(none.count, 0)
    }

    func testCrossEntropyWithIgnoreIndex() throws {
        let per = (0..<4).map { handCrossEntropy(logits[$0], targets[$0]) }
        let t = Tensor([2, -100, 1, 1], shape: [2, 2])
        try assertClose(Losses.crossEntropy(logits: logitsTensor, targets: t, ignoreIndex: -100), (per[0] + per[2] + per[3]) / 3)
        let allIgnored = Tensor([-100, -100, -100, -100], shape: [2, 2])
        try assertClose(Losses.crossEntropy(logits: logitsTensor, targets: allIgnored, ignoreIndex: -100), 0)
        // Another ignore value, int64 targets.
        let t64 = Tensor([2, 0, 7, 1], shape: [2, 2], dtype: .int64)
        try assertClose(Losses.crossEntropy(logits: logitsTensor, targets: t64, ignoreIndex: 7), (per[0] + per[1] + per[3]) / 3)
    }

    func testMSE() throws {
        let p = Tensor([1, 2, 3, -1] as [Float], shape: [2, 2]), t = Tensor([1.5, 2, 0, 1] as [Float], shape: [2, 2])
        try assertClose(Losses.mse(p, t), (0.25 + 0 + 9 + 4) / 4)
    }

    func testLogSigmoidIsAccurateAndStable() throws {
        let xs: [Double] = [-100, -20, -2, -0.5, 0, 0.5, 3, 20, 50]
        let y = NN.logSigmoid(Tensor(xs.map(Float.init)))
        // log σ(0) = −log 2; log σ(−100) = −100 − log(1 + e⁻¹⁰⁰) (no overflow to −inf).
        XCTAssertEqual(logSigmoid(0), -Foundation.log(2.0), accuracy: 1e-15)
        try assertClose(y, xs.map(logSigmoid), rtol: 1e-6, atol: 1e-7)
        try assertClose(Losses.negativeLogSigmoid(Tensor([-1, 0, 2] as [Float])),
                        -(logSigmoid(-1) + logSigmoid(0) + logSigmoid(2)) / 3)
        // Its gradient is σ(−x), also without overflow.
        let g = try grad({ NN.logSigmoid($0).sum() }, at: Tensor(xs.map(Float.init)))
        try assertClose(g, xs.map { sigmoid(-$0) }, rtol: 1e-5, atol: 1e-7)
    }

    func testBinaryCrossEntropyOnLogits() throws {
        let z: [Double] = [-3, -0.5, 0, 2, 40, -40]
        let t: [Double] = [0, 1, 0.3, 1, 0, 1]
        // −[t·log σ(z) + (1 − t)·log σ(−z)]
        let per = zip(z, t).map { z, t in -(t * logSigmoid(z) + (1 - t) * logSigmoid(-z)) }
        XCTAssertEqual(per[2], Foundation.log(2.0), accuracy: 1e-15)
        XCTAssertEqual(per[4], 40, accuracy: 1e-15)
        try assertClose(Losses.binaryCrossEntropy(logits: Tensor(z.map(Float.init)), targets: Tensor(t.map(Float.init))),
                        per.reduce(0, +) / Double(per.count))
    }
}
