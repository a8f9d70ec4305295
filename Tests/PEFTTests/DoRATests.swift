import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// DoRA against y = b + m/‖W + sBA‖ · x (W + sBA)ᵀ computed by hand, with the norm per output row.
final class DoRATests: XCTestCase {
    func testInitialisationReproducesTheBaseLayer() throws {
        let layer = Linear(8, 6, bias: true, key: RandomKey(seed: 3))
        let x = Random.normal([5, 8], key: RandomKey(seed: 4))
        let before = layer(x)
        let dora = DoRA(layer: layer, rank: 4, alpha: 8, key: RandomKey(seed: 5))
        layer.adapter = dora
        // m starts as the row norms of W (B = 0).
        let w = try matrix(layer.weight)
        try assertClose(dora.magnitude, w.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }, rtol: 1e-6, atol: 0)
        XCTAssertLessThan(try maxAbsDiff(layer(x), before), 1e-6)
    }

    /// The hand-computed DoRA output for the adapter's current values.
    func expectedOutput(_ layer: Linear, _ dora: DoRA, _ x: Tensor) throws -> [Double] {
        let xs = try matrix(x), w = try matrix(layer.weight), a = try matrix(dora.loraA), b = try matrix(dora.loraB)
        let m = try dora.magnitude.floats().map(Double.init)
        let bias = try layer.bias?.value.floats().map(Double.init) ?? Array(repeating: 0, count: w.count)
        let ba = product(b, a)
        let adapted = zip(w, ba).map { zip($0, $1).map { $0 + dora.scale * $1 } }
        let norms = adapted.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let plain = timesTransposed(xs, adapted)
        return plain.flatMap { row in row.indices.map { m[$0] / norms[$0] * row[$0] + bias[$0] } }
    }

    func testOutputMatchesTheFormulaAfterPerturbation() throws {
        let layer = Linear(8, 6, bias: true, key: RandomKey(seed: 3))
        let x = Random.normal([5, 8], key: RandomKey(seed: 4))
        let dora = DoRA(layer: layer, rank: 4, alpha: 8, key: RandomKey(seed: 5))
        layer.adapter = dora
        dora.loraB = Random.normal([6, 4], std: 0.3, key: RandomKey(seed: 6))
        dora.magnitude = dora.magnitude * (Random.normal([6], std: 0.2, key: RandomKey(seed: 7)) + 1)
        try assertClose(layer(x), try expectedOutput(layer, dora, x), rtol: 1e-5, atol: 1e-5)
    }

    func testWorksWithoutBiasAndOnQuantizedLayers() throws {
        let float = Linear(64, 8, bias: false, key: RandomKey(seed: 13))
        let x = Random.normal([9, 64], key: RandomKey(seed: 14))
        let dora = DoRA(layer: float, rank: 2, alpha: 4, key: RandomKey(seed: 15))
        float.adapter = dora
        dora.loraB = Random.normal([8, 2], std: 0.3, key: RandomKey(seed: 16))
        try assertClose(float(x), try expectedOutput(float, dora, x), rtol: 1e-5, atol: 1e-5)

        // On a quantized base the formula uses the dequantized weight.
        let q = QuantizedLinear(Linear(64, 8, bias: true, key: RandomKey(seed: 17)), groupSize: 32, bits: 4)
        let base = q(x)
        let qd = DoRA(layer: q, rank: 2, alpha: 4, key: RandomKey(seed: 18))
        q.adapter = qd
        XCTAssertLessThan(try maxAbsDiff(q(x), base), 1e-5, "DoRA starts as the identity on a quantized base too")
        qd.loraB = Random.normal([8, 2], std: 0.3, key: RandomKey(seed: 19))
        let dense = Linear(weight: q.denseWeight(), bias: q.bias!.value)
        try assertClose(q(x), try expectedOutput(dense, qd, x), rtol: 1e-4, atol: 1e-4)
        XCTAssertEqual(q.weight.dtype, .uint32)
    }

    /// PEFT's DoRA with dropout while training: y = base(x) + (f − 1)·x′Wᵀ + f·s·x′AᵀBᵀ with
    /// x′ = dropout(x) and f = m/‖W + sBA‖; the bias stays unscaled and the base path undropped.
    func testDropoutWhileTrainingFollowsPEFT() throws {
        let layer = Linear(8, 6, bias: true, key: RandomKey(seed: 3))
        let x = Random.normal([5, 8], key: RandomKey(seed: 4))
        let base = layer(x)
        let dora = DoRA(layer: layer, rank: 4, alpha: 8, dropout: 0.3, key: RandomKey(seed: 5))
        layer.adapter = dora
        dora.loraB = Random.normal([6, 4], std: 0.3, key: RandomKey(seed: 6))
        dora.magnitude = dora.magnitude * 1.5
        layer.train()
        let replica = Dropout(0.3)
        Random.seed(78)
        let y = layer(x)
        Random.seed(78)
        let dropped = replica(x)
        let w = layer.weight + matmul(dora.loraB, dora.loraA) * dora.scale
        let f = dora.magnitude / w.square().sum(axis: 1).sqrt()
        let expected = base + (f - 1) * matmul(dropped, layer.weight.T) + f * matmul(dropped, w.T - layer.weight.T)
        XCTAssertLessThan(try maxAbsDiff(y, expected), 1e-5)
        layer.eval()
        try assertClose(layer(x), try expectedOutput(layer, dora, x), rtol: 1e-5, atol: 1e-5)
    }

    /// With the norm held constant, L = Σ y gives ∂L/∂B = s · diag(m/‖W'‖) · 1 (Σₙ xₙ) Aᵀ and
    /// ∂L/∂m_i = Σₙ (x W'ᵀ)ₙᵢ / ‖W'ᵢ‖. A gradient through the norm would give other values.
    func testGradientTreatsTheNormAsConstant() throws {
        let layer = Linear(8, 6, bias: true, key: RandomKey(seed: 3))
        let x = Random.normal([5, 8], key: RandomKey(seed: 4))
        let dora = DoRA(layer: layer, rank: 4, alpha: 8, key: RandomKey(seed: 5))
        layer.adapter = dora
        dora.loraB = Random.normal([6, 4], std: 0.3, key: RandomKey(seed: 6))
        layer.freeze(["weight", "bias"])
        let (_, grads) = try valueAndGrad({ tree in
            try layer.update(parameters: tree)
            return layer(x).sum()
        }, at: layer.trainableParameters())
        XCTAssertEqual(Set(grads.keys), ["adapter.lora_A", "adapter.lora_B", "adapter.lora_magnitude_vector"])

        let xs = try matrix(x), w = try matrix(layer.weight), a = try matrix(dora.loraA), b = try matrix(dora.loraB)
        let m = try dora.magnitude.floats().map(Double.init)
        let adapted = zip(w, product(b, a)).map { zip($0, $1).map { $0 + dora.scale * $1 } }
        let norms = adapted.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let xSum = (0..<8).map { j in xs.reduce(0) { $0 + $1[j] } }
        var dB: [Double] = []
        for i in 0..<6 {
            for k in 0..<4 { dB.append(dora.scale * m[i] / norms[i] * zip(xSum, a[k]).reduce(0) { $0 + $1.0 * $1.1 }) }
        }
        try assertClose(grads["adapter.lora_B"]!, dB, rtol: 1e-4, atol: 1e-5)
        let plain = timesTransposed(xs, adapted)
        let dm = (0..<6).map { i in plain.reduce(0) { $0 + $1[i] } / norms[i] }
        try assertClose(grads["adapter.lora_magnitude_vector"]!, dm, rtol: 1e-4, atol: 1e-5)
    }
}
