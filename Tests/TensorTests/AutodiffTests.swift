import Foundation
import Tensor
import XCTest

/// Gradients from MLX's autodiff against central finite differences, for composite functions of
/// the kind models are built from. MLX's CPU transcendental kernels are float32-accurate even for
/// float64 data, so the step is 1e-3 (truncation error ~1e-6) and the tolerance 1e-3 relative: a
/// wrong derivative formula misses by far more.
final class AutodiffTests: XCTestCase {
    /// Central differences of `f` at `x` (float64 evaluation for accuracy).
    func numericGradient(_ f: (Tensor) -> Tensor, at x: [Double], shape: [Int], eps: Double = 1e-3) throws -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            var up = x, down = x
            up[i] += eps
            down[i] -= eps
            let fu = try f(Tensor(up, shape: shape)).item(Double.self)
            let fd = try f(Tensor(down, shape: shape)).item(Double.self)
            g[i] = (fu - fd) / (2 * eps)
        }
        return g
    }

    func check(_ name: String, shape: [Int], seed: UInt64 = 0, _ f: @escaping (Tensor) -> Tensor) throws {
        let x = try Random.normal(shape, key: RandomKey(seed: seed)).asType(.float64).toArray(Double.self)
        let analytic = try grad(f, at: Tensor(x, shape: shape)).toArray(Double.self)
        let numeric = try numericGradient(f, at: x, shape: shape)
        for (a, n) in zip(analytic, numeric) {
            XCTAssertEqual(a, n, accuracy: 5e-4 + 1e-3 * Swift.abs(n), "\(name): analytic \(a) vs numeric \(n)")
        }
    }

    func testCompositeFunctionsMatchFiniteDifferences() throws {
        let w = Tensor((0..<12).map { Double($0) / 10 - 0.5 }, shape: [4, 3])
        try check("tanh(x·W) summed", shape: [2, 4]) { x in matmul(x, w).tanh().sum() }
        try check("logsumexp + softmax", shape: [3, 5]) { x in x.logSumExp(axis: -1).sum() + (x.softmax(axis: -1) * x).sum() }
        try check("sigmoid·exp / (1 + x²)", shape: [6]) { x in (x.sigmoid() * x.exp() / (x.square() + 1)).mean() }
        try check("log-sigmoid of differences", shape: [4]) { x in
            let d = x[0..<2] - x[2..<4]
            return -(d.sigmoid().log()).sum()
        }
        try check("rms-normalised quadratic", shape: [2, 6]) { x in
            let n = x * (x.square().mean(axis: -1, keepDims: true) + 1e-3).rsqrt()
            return (n * n * n).sum()
        }
        try check("slices, concat, max", shape: [3, 4]) { x in
            concatenated([x[0..., 0..<2] * 3, x[0..., 2...].square()], axis: 1).max(axis: 1).sum()
        }
        try check("silu MLP", shape: [2, 4]) { x in
            let h = matmul(x, w)
            return (h * h.sigmoid()).pow(2).sum()
        }
    }

    func testValueAndGradOverNamedParameters() throws {
        let params: [String: Tensor] = ["a": Tensor([1, 2] as [Float]), "b": Tensor([3] as [Float]), "frozen": Tensor([5] as [Float])]
        let (value, grads) = try valueAndGrad({ p in
            (p["a"]!.square().sum() * p["b"]!.sum()) + p["frozen"]!.sum()
        }, at: params, trainable: ["a", "b"])
        XCTAssertEqual(try value.float(), 20)  // (1 + 4) * 3 + 5
        XCTAssertEqual(try grads["a"]!.floats(), [6, 12])  // 2a·b
        XCTAssertEqual(try grads["b"]!.floats(), [5])
        XCTAssertNil(grads["frozen"])
    }

    func testVJPAndJVP() throws {
        let x = Tensor([1, 2, 3] as [Float])
        let (out, v) = try vjp({ [$0[0].square()] }, primals: [x], cotangents: [Tensor([1, 1, 1] as [Float])])
        XCTAssertEqual(try out[0].floats(), [1, 4, 9])
        XCTAssertEqual(try v[0].floats(), [2, 4, 6])
        let (_, j) = try jvp({ [$0[0].square()] }, primals: [x], tangents: [Tensor([1, 0, 1] as [Float])])
        XCTAssertEqual(try j[0].floats(), [2, 0, 6])
    }

    struct Boom: Error {}

    func testErrorsInsideTransformsBecomeSwiftErrors() {
        XCTAssertThrowsError(try grad({ _ in throw Boom() }, at: Tensor([1] as [Float]))) { XCTAssertTrue($0 is Boom) }
        XCTAssertThrowsError(try grad({ x in (x + Tensor.ones([7])).sum() }, at: Tensor([1, 2] as [Float])))
        // A non-scalar output cannot be differentiated by value_and_grad.
        XCTAssertThrowsError(try grad({ x in x * 2 }, at: Tensor([1, 2] as [Float])))
    }

    func testCompiledFunctionMatchesEagerAndRetraces() throws {
        let f = try CompiledFunction { xs in [(xs[0] * xs[1]).exp().sum(axis: -1)] }
        let a = Random.normal([4, 8], key: RandomKey(seed: 1)), b = Random.normal([4, 8], key: RandomKey(seed: 2))
        let eager = (a * b).exp().sum(axis: -1)
        XCTAssertLessThan(try (f([a, b])[0] - eager).abs.max().float(), 1e-5)
        // A new shape is traced again and still right.
        let c = Random.normal([2, 3], key: RandomKey(seed: 3))
        XCTAssertLessThan(try (f([c, c])[0] - (c * c).exp().sum(axis: -1)).abs.max().float(), 1e-5)
        XCTAssertThrowsError(try f([a, c]))
    }
}
