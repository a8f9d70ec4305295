import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// The LoRA layer against the formula y = x Wᵀ + b + scale · x Aᵀ Bᵀ computed by hand.
final class LoRATests: XCTestCase {
    func makeLayer(seed: UInt64 = 3) -> (Linear, Tensor) {
        let layer = Linear(8, 6, bias: true, key: RandomKey(seed: seed))
        let x = Random.normal([5, 8], key: RandomKey(seed: seed + 100))
        return (layer, x)
    }

    func testZeroBLeavesOutputUnchanged() throws {
        let (layer, x) = makeLayer()
        let before = layer(x)
        let lora = LoRA(inputDimensions: 8, outputDimensions: 6, rank: 4, alpha: 16, key: RandomKey(seed: 9))
        layer.adapter = lora
        XCTAssertEqual(try lora.loraB.abs.max().float(), 0, "B starts at zero")
        XCTAssertGreaterThan(try lora.loraA.abs.max().float(), 0, "A starts random")
        XCTAssertTrue(try arrayEqual(layer(x), before), "with B = 0 the adapter must not change the output at all")
    }

    func testOutputMatchesHandComputedUpdate() throws {
        let (layer, x) = makeLayer()
        let lora = LoRA(inputDimensions: 8, outputDimensions: 6, rank: 4, alpha: 16, key: RandomKey(seed: 9))
        lora.loraB = Random.normal([6, 4], std: 0.5, key: RandomKey(seed: 10))
        layer.adapter = lora
        XCTAssertEqual(lora.scale, 4)

        let xs = try matrix(x), w = try matrix(layer.weight), a = try matrix(lora.loraA), b = try matrix(lora.loraB)
        let bias = try layer.bias!.value.floats().map(Double.init)
        let base = timesTransposed(xs, w)
        let update = timesTransposed(timesTransposed(xs, a), b)  // x Aᵀ Bᵀ
        var expected: [Double] = []
        for i in 0..<5 { for j in 0..<6 { expected.append(base[i][j] + bias[j] + 4 * update[i][j]) } }
        try assertClose(layer(x), expected, rtol: 1e-5, atol: 1e-5)
    }

    func testRankStabilisedScaling() {
        let plain = LoRA(inputDimensions: 8, outputDimensions: 6, rank: 16, alpha: 32, key: RandomKey(seed: 1))
        let rs = LoRA(inputDimensions: 8, outputDimensions: 6, rank: 16, alpha: 32, rsLoRA: true, key: RandomKey(seed: 1))
        XCTAssertEqual(plain.scale, 2)
        XCTAssertEqual(rs.scale, 8)
    }

    func testKaimingUniformInitialisationOfA() throws {
        // PEFT: kaiming_uniform_(A, a=√5) on [r, in] is Uniform(±1/√in).
        let lora = LoRA(inputDimensions: 256, outputDimensions: 32, rank: 16, alpha: 16, key: RandomKey(seed: 4))
        XCTAssertEqual(lora.loraA.shape, [16, 256])
        XCTAssertEqual(lora.loraB.shape, [32, 16])
        let values = try lora.loraA.floats()
        let bound: Float = 1 / 16
        XCTAssertLessThanOrEqual(values.map(abs).max()!, bound)
        XCTAssertGreaterThan(values.map(abs).max()!, 0.95 * bound, "4096 uniform draws reach near the bound")
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
        XCTAssertEqual(variance, bound * bound / 3, accuracy: 0.1 * bound * bound / 3, "uniform(±c) has variance c²/3")
    }

    func testDropoutActsOnlyOnTheAdapterInputWhileTraining() throws {
        let (layer, x) = makeLayer()
        let base = layer(x)
        let lora = LoRA(inputDimensions: 8, outputDimensions: 6, rank: 4, alpha: 8, dropout: 0.5, key: RandomKey(seed: 2))
        layer.adapter = lora
        layer.train()
        XCTAssertTrue(try arrayEqual(layer(x), base), "dropout must not touch the base path")

        lora.loraB = Random.normal([6, 4], key: RandomKey(seed: 5))
        layer.eval()
        let evaluation = layer(x)
        let noDrop = base + matmul(matmul(x, lora.loraA.T), lora.loraB.T) * 2
        XCTAssertLessThan(try maxAbsDiff(evaluation, noDrop), 1e-5, "no dropout in eval mode")
        layer.train()
        // The same seed draws the same mask: replay it to get the expected training output.
        let replica = Dropout(0.5)
        Random.seed(77)
        let training = layer(x)
        XCTAssertGreaterThan(try maxAbsDiff(training, evaluation), 1e-3, "dropout changes the update while training")
        Random.seed(77)
        let dropped = base + matmul(matmul(replica(x), lora.loraA.T), lora.loraB.T) * 2
        XCTAssertLessThan(try maxAbsDiff(training, dropped), 1e-5, "output = base + scale · dropout(x) Aᵀ Bᵀ")
    }

    func testLoRAOnQuantizedLinearAddsToTheQuantizedBase() throws {
        let float = Linear(64, 16, bias: true, key: RandomKey(seed: 8))
        let q = QuantizedLinear(float, groupSize: 32, bits: 4)
        let x = Random.normal([3, 64], key: RandomKey(seed: 12))
        let base = q(x)
        let lora = LoRA(inputDimensions: q.inputDimensions, outputDimensions: q.outputDimensions, rank: 4, alpha: 4, key: RandomKey(seed: 6))
        q.adapter = lora
        XCTAssertTrue(try arrayEqual(q(x), base))
        lora.loraB = Random.normal([16, 4], key: RandomKey(seed: 7))
        let expected = base + matmul(matmul(x, lora.loraA.T), lora.loraB.T)
        XCTAssertLessThan(try maxAbsDiff(q(x), expected), 1e-5)
        XCTAssertEqual(q.weight.dtype, .uint32, "the base stays quantized")
    }
}
