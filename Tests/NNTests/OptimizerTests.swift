import Foundation
import NN
import Tensor
import XCTest

/// AdamW, Adam and SGD steps against the torch.optim update rules written out in Double.
/// Two or three steps with different gradients, so that moments, momentum buffers and bias
/// correction all matter; the learning rate changes between steps as a schedule would change it.
final class OptimizerTests: XCTestCase {
    let shape = [2, 3]
    let p0: [Double] = [0.5, -1.0, 2.0, 0.0, 3.0, -0.25]
    let grads: [[Double]] = [
        [0.1, -0.2, 0.3, 0.0, -1.5, 0.02],
        [-0.3, 0.05, 0.3, 1.0, 0.5, -0.04],
        [0.2, 0.2, -0.1, -0.5, 0.0, 0.01],
    ]
    let lrs: [Double] = [0.1, 0.05, 0.02]

    /// torch.optim.AdamW (and Adam when `l2` is set and `decoupled` is zero), one element at a time.
    struct ReferenceAdam {
        var lr = 0.0, b1 = 0.9, b2 = 0.999, eps = 1e-8, decoupled = 0.0, l2 = 0.0, biasCorrection = true
        var m: [Double] = [], v: [Double] = [], t = 0

        mutating func step(_ p: [Double], _ g0: [Double]) -> [Double] {
            if m.isEmpty { m = Array(repeating: 0, count: p.count); v = m }
            t += 1
            let c1 = biasCorrection ? 1 - Foundation.pow(b1, Double(t)) : 1
            let c2 = biasCorrection ? 1 - Foundation.pow(b2, Double(t)) : 1
            var out = p
            for i in p.indices {
                let g = g0[i] + l2 * p[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                let decayed = p[i] * (1 - lr * decoupled)
                out[i] = decayed - lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
            }
            return out
        }
    }

    func run(_ opt: Optimizer, reference: inout ReferenceAdam, steps: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        var p = Tensor(p0.map(Float.init), shape: shape)
        var expected = p0
        for s in 0..<steps {
            opt.learningRate = lrs[s]
            reference.lr = lrs[s]
            let g = Tensor(grads[s].map(Float.init), shape: shape)
            let out = opt.update(parameters: ["w": p], gradients: ["w": g])
            XCTAssertEqual(Array(out.keys), ["w"], file: file, line: line)
            p = out["w"]!
            expected = reference.step(expected, grads[s])
            XCTAssertEqual(opt.step, s + 1, file: file, line: line)
            XCTAssertEqual(p.shape, shape, file: file, line: line)
            try assertClose(p, expected, rtol: 2e-6, atol: 1e-6, "step \(s + 1)", file: file, line: line)
        }
    }

    func testAdamWTwoStepsMatchHandComputation() throws {
        let opt = AdamW(learningRate: 0.1, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0.1)
        var ref = ReferenceAdam(b1: 0.9, b2: 0.999, eps: 1e-8, decoupled: 0.1)
        try run(opt, reference: &ref, steps: 3)

        // Step 1 written out for the first element, as a check on the reference itself:
        // m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) = lr·sign(g) up to ε.
        var r = ReferenceAdam(lr: 0.1, decoupled: 0.1)
        let first = r.step([0.5], [0.1])[0]
        XCTAssertEqual(first, 0.5 * (1 - 0.1 * 0.1) - 0.1 * 0.1 / (0.1 + 1e-8), accuracy: 1e-15)
    }

    func testAdamWWithoutBiasCorrectionAndOtherBetas() throws {
        let opt = AdamW(learningRate: 0.1, betas: (0.8, 0.95), eps: 1e-6, weightDecay: 0, biasCorrection: false)
        var ref = ReferenceAdam(b1: 0.8, b2: 0.95, eps: 1e-6, biasCorrection: false)
        try run(opt, reference: &ref, steps: 2)
    }

    func testAdamWithL2WeightDecay() throws {
        // torch.optim.Adam adds wd·p to the gradient before the moments; nothing is decoupled.
        let opt = Adam(learningRate: 0.1, betas: (0.9, 0.99), eps: 1e-8, weightDecay: 0.2)
        var ref = ReferenceAdam(b1: 0.9, b2: 0.99, eps: 1e-8, l2: 0.2)
        try run(opt, reference: &ref, steps: 3)
    }

    func testAdamWKeepsParameterDtypeAndSkipsParametersWithoutGradients() throws {
        let opt = AdamW(learningRate: 0.1, weightDecay: 0)
        let w = Tensor([0.5, -1.0, 2.0], shape: [3]).asType(.bfloat16)
        let frozen = Tensor([1.0, 2.0] as [Float])
        let out = opt.update(parameters: ["w": w, "frozen": frozen], gradients: ["w": Tensor([1, -1, 0.5] as [Float])])
        XCTAssertEqual(Set(out.keys), ["w"])
        XCTAssertEqual(out["w"]!.dtype, .bfloat16)
        // lr·sign(g) on the first step, rounded to bfloat16 (8 bits of mantissa).
        try assertClose(out["w"]!, [0.4, -0.9, 1.9], rtol: 4e-3)
    }

    func testEveryOptimizerKeepsHalfPrecisionParametersInTheirDtype() throws {
        // Gradients often arrive in float32 (accumulated, or clipped in float32) for bfloat16
        // weights; the update must still hand back bfloat16, or the model silently doubles in size.
        let makers: [(String, () -> Optimizer)] = [
            ("AdamW", { AdamW(learningRate: 0.1) }),
            ("Adam", { Adam(learningRate: 0.1, weightDecay: 0.01) }),
            ("SGD", { SGD(learningRate: 0.1) }),
            ("SGD momentum", { SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) }),
            ("Adafactor", { Adafactor() }),
        ]
        let p = Tensor(p0.map(Float.init), shape: shape).asType(.bfloat16)
        for (name, make) in makers {
            let opt = make()
            for gradDtype in [DType.bfloat16, .float32] {
                let g = Tensor(grads[0].map(Float.init), shape: shape).asType(gradDtype)
                let out = opt.update(parameters: ["w": p], gradients: ["w": g])["w"]!
                XCTAssertEqual(out.dtype, .bfloat16, "\(name) with \(gradDtype) gradients returned \(out.dtype) parameters")
            }
        }
    }

    /// torch.optim.SGD with dampening 0: buf = μ·buf + g (g itself on the first step),
    /// step = g + μ·buf with Nesterov, buf otherwise.
    func sgdReference(momentum: Double, weightDecay: Double, nesterov: Bool, steps: Int) -> [[Double]] {
        var p = p0
        var buf: [Double]? = nil
        var history: [[Double]] = []
        for s in 0..<steps {
            var g = grads[s]
            for i in g.indices { g[i] += weightDecay * p[i] }
            var d = g
            if momentum != 0 {
                let b = buf.map { zip($0, g).map { momentum * $0 + $1 } } ?? g
                buf = b
                d = nesterov ? zip(g, b).map { $0 + momentum * $1 } : b
            }
            for i in p.indices { p[i] -= lrs[s] * d[i] }
            history.append(p)
        }
        return history
    }

    func checkSGD(momentum: Double, weightDecay: Double, nesterov: Bool) throws {
        let opt = SGD(learningRate: 1, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov)
        let expected = sgdReference(momentum: momentum, weightDecay: weightDecay, nesterov: nesterov, steps: 3)
        var p = Tensor(p0.map(Float.init), shape: shape)
        for s in 0..<3 {
            opt.learningRate = lrs[s]
            p = opt.update(parameters: ["w": p], gradients: ["w": Tensor(grads[s].map(Float.init), shape: shape)])["w"]!
            try assertClose(p, expected[s], rtol: 1e-6, atol: 1e-7,
                            "SGD momentum \(momentum) wd \(weightDecay) nesterov \(nesterov), step \(s + 1)")
        }
    }

    func testSGDPlainMomentumAndNesterov() throws {
        try checkSGD(momentum: 0, weightDecay: 0, nesterov: false)
        try checkSGD(momentum: 0.9, weightDecay: 0, nesterov: false)
        try checkSGD(momentum: 0.9, weightDecay: 0.05, nesterov: false)
        try checkSGD(momentum: 0.9, weightDecay: 0.05, nesterov: true)
        // Hand check of the reference: plain SGD, step 1, element 0: 0.5 − 0.1·0.1.
        XCTAssertEqual(sgdReference(momentum: 0, weightDecay: 0, nesterov: false, steps: 1)[0][0], 0.49, accuracy: 1e-15)
        // Nesterov, step 2, element 0: buf = 0.9·0.1 − 0.3 = −0.21, d = −0.3 + 0.9·(−0.21) = −0.489.
        XCTAssertEqual(sgdReference(momentum: 0.9, weightDecay: 0, nesterov: true, steps: 2)[1][0],
                       0.5 - 0.1 * (0.1 + 0.9 * 0.1) - 0.05 * -0.489, accuracy: 1e-12)
    }

    func testApplyUpdatesOnlyTrainableParametersOfAModule() throws {
        let layer = Linear(weight: Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]), bias: Tensor([0.5, -0.5] as [Float]))
        layer.freeze(["bias"])
        let opt = SGD(learningRate: 0.5)
        let grads = ["weight": Tensor([1, 1, 1, 1] as [Float], shape: [2, 2]), "bias": Tensor([1, 1] as [Float])]
        try opt.apply(gradients: grads, to: layer)
        try assertClose(layer.weight, [0.5, 1.5, 2.5, 3.5])
        try assertClose(layer.bias!.value, [0.5, -0.5])
    }
}
