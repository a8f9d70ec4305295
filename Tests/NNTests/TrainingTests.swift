import Foundation
import NN
import Tensor
import XCTest

/// Two linear layers with SiLU between them.
final class TinyMLP: Module, @unchecked Sendable {
    let fc1: Linear
    let fc2: Linear

    init(inputs: Int, hidden: Int, outputs: Int, seed: UInt64) {
        let keys = RandomKey(seed: seed).split()
        fc1 = Linear(inputs, hidden, key: keys[0])
        fc2 = Linear(hidden, outputs, key: keys[1])
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor { fc2(silu(fc1(x))) }
}

/// End to end: autodiff over a module's parameter tree, AdamW and the module update together
/// must fit a nonlinear function. A wrong gradient, a sign error in the optimizer or an update
/// that does not reach the model all leave the loss where it started.
final class TrainingTests: XCTestCase {
    func testMLPFitsNonlinearTargetWithAdamW() throws {
        let n = 256
        let x = Random.uniform([n, 2], low: -1, high: 1, key: RandomKey(seed: 11))
        // y = sin(3·x₁)·x₂
        let y = (x[0..., 0..<1] * 3).sin() * x[0..., 1..<2]
        try eval(x, y)

        let model = TinyMLP(inputs: 2, hidden: 64, outputs: 1, seed: 5)
        XCTAssertEqual(model.trainableParameterCount(), 2 * 64 + 64 + 64 + 1)
        // At this rate the loss falls ~100–180× over seeds (5–8); the test asks for 10×.
        let opt = AdamW(learningRate: 2e-2, weightDecay: 0)

        func loss(_ tree: [String: Tensor]) throws -> Tensor {
            try model.update(parameters: tree)
            return Losses.mse(model(x), y)
        }

        var losses: [Float] = []
        for _ in 0..<300 {
            let params = model.trainableParameters()
            let (value, grads) = try valueAndGrad(loss, at: params)
            XCTAssertEqual(Set(grads.keys), Set(params.keys))
            // The closure left traced copies in the model; step from the real values.
            try model.update(parameters: opt.update(parameters: params, gradients: grads))
            try eval([value] + Array(model.parameters().values) + opt.stateTensors())
            losses.append(try value.float())
        }
        let first = losses[0], last = try Losses.mse(model(x), y).float()
        XCTAssertGreaterThan(first, 0.05, "the target has variance ≈ 0.16; an untrained model cannot fit it")
        XCTAssertLessThan(last, first / 10, "loss \(first) → \(last) after 300 AdamW steps")
        XCTAssertTrue(losses.allSatisfy { $0.isFinite })
    }

    func testGradientsOfLinearLayerMatchHandDerivation() throws {
        // L = mean((x Wᵀ + b − t)²) over 2 rows and 1 output: dL/dW = 2/N Σ r_i x_i, dL/db = 2/N Σ r_i.
        let layer = Linear(weight: Tensor([0.5, -1.0] as [Float], shape: [1, 2]), bias: Tensor([0.25] as [Float]))
        let x = Tensor([1, 2, -3, 0.5] as [Float], shape: [2, 2])
        let t = Tensor([0, 1] as [Float], shape: [2, 1])
        let (value, grads) = try valueAndGrad({ tree in
            try layer.update(parameters: tree)
            return Losses.mse(layer(x), t)
        }, at: layer.trainableParameters())
        // Predictions: 0.5 − 2 + 0.25 = −1.25 and −1.5 − 0.5 + 0.25 = −1.75; residuals −1.25, −2.75.
        let r = [-1.25, -2.75], xs = [[1.0, 2.0], [-3.0, 0.5]]
        try assertClose(value, (r[0] * r[0] + r[1] * r[1]) / 2)
        try assertClose(grads["weight"]!, [r[0] * xs[0][0] + r[1] * xs[1][0], r[0] * xs[0][1] + r[1] * xs[1][1]])
        try assertClose(grads["bias"]!, [r[0] + r[1]])
    }
}
