import Foundation
import NN
import Tensor
import XCTest

/// Adafactor against Hugging Face transformers' algorithm (`transformers.optimization.Adafactor`),
/// re-derived element by element in Double:
///
///     ρ_t  = min(1e-2 (or 1e-6·t with warmup_init), 1/√t)     if relative_step, else lr
///     α_t  = max(ε₂, RMS(p)) · ρ_t                           if scale_parameter, else ρ_t
///     β₂_t = 1 − t^decay_rate
///     G    = g² + ε₁
///     factored (ndim ≥ 2): R ← β₂_t·R + (1−β₂_t)·mean_cols(G),  C ← β₂_t·C + (1−β₂_t)·mean_rows(G)
///                          u = g / √(R_i / mean(R) · C_j)
///     otherwise:           V ← β₂_t·V + (1−β₂_t)·G,  u = g / √V
///     u ← u / max(RMS(u)/clip_threshold, 1);  u ← α_t·u
///     with β₁:             M ← β₁·M + (1−β₁)·u,  u = M
///     p ← p − weight_decay·α_t·p − u
final class AdafactorTests: XCTestCase {
    struct Reference {
        var lr: Double? = nil
        var eps1 = 1e-30, eps2 = 1e-3, clip = 1.0, decay = -0.8
        var beta1: Double? = nil
        var weightDecay = 0.0
        var scaleParameter = true
        var warmupInit = false
        var relativeStep: Bool { lr == nil }

        var t = 0
        var row: [Double] = [], col: [Double] = [], v: [Double] = [], m: [Double] = []
        /// Whether the last step's update was scaled down by the RMS clip.
        var clipped = false

        static func rms(_ x: [Double]) -> Double { (x.reduce(0) { $0 + $1 * $1 } / Double(x.count)).squareRoot() }

        mutating func step(_ p: [Double], _ g: [Double], shape: [Int]) -> [Double] {
            t += 1
            let td = Double(t)
            let rho = relativeStep ? Swift.min(warmupInit ? 1e-6 * td : 1e-2, 1 / td.squareRoot()) : lr!
            let alpha = scaleParameter ? Swift.max(eps2, Reference.rms(p)) * rho : rho
            let b2 = 1 - Foundation.pow(td, decay)
            let sq = g.map { $0 * $0 + eps1 }
            var u = [Double](repeating: 0, count: g.count)
            if shape.count >= 2 {
                let rows = shape[shape.count - 2], cols = shape[shape.count - 1]
                let batch = g.count / (rows * cols)
                if row.isEmpty {
                    row = Array(repeating: 0, count: batch * rows)
                    col = Array(repeating: 0, count: batch * cols)
                }
                for b in 0..<batch {
                    let base = b * rows * cols
                    for r in 0..<rows {
                        var s = 0.0
                        for c in 0..<cols { s += sq[base + r * cols + c] }
                        row[b * rows + r] = b2 * row[b * rows + r] + (1 - b2) * s / Double(cols)
                    }
                    for c in 0..<cols {
                        var s = 0.0
                        for r in 0..<rows { s += sq[base + r * cols + c] }
                        col[b * cols + c] = b2 * col[b * cols + c] + (1 - b2) * s / Double(rows)
                    }
                    let rowMean = row[(b * rows)..<(b * rows + rows)].reduce(0, +) / Double(rows)
                    for r in 0..<rows {
                        for c in 0..<cols {
                            let i = base + r * cols + c
                            u[i] = g[i] / (row[b * rows + r] / rowMean * col[b * cols + c]).squareRoot()
                        }
                    }
                }
            } else {
                if v.isEmpty { v = Array(repeating: 0, count: g.count) }
                for i in g.indices {
                    v[i] = b2 * v[i] + (1 - b2) * sq[i]
                    u[i] = g[i] / v[i].squareRoot()
                }
            }
            let denominator = Swift.max(Reference.rms(u) / clip, 1)
            clipped = denominator > 1
            u = u.map { $0 / denominator * alpha }
            if let beta1 {
                if m.isEmpty { m = Array(repeating: 0, count: u.count) }
                for i in u.indices { m[i] = beta1 * m[i] + (1 - beta1) * u[i] }
                u = m
            }
            return zip(p, u).map { pi, ui in pi - weightDecay * alpha * pi - ui }
        }
    }

    /// Runs `steps` updates of `opt` and the reference side by side and compares the parameter
    /// changes (not the parameters, whose size would hide an error in a step of ~1% of them).
    func compare(_ opt: Adafactor, _ ref: inout Reference, p0: [Double], grads: [[Double]], shape: [Int],
                 file: StaticString = #filePath, line: UInt = #line) throws -> [Bool] {
        var p = Tensor(p0.map(Float.init), shape: shape)
        var clips: [Bool] = []
        for (s, g) in grads.enumerated() {
            let before = try p.floats().map(Double.init)
            p = opt.update(parameters: ["w": p], gradients: ["w": Tensor(g.map(Float.init), shape: shape)])["w"]!
            let after = try p.floats().map(Double.init)
            // The reference steps from the same float32 values the engine holds.
            let expected = ref.step(before, g, shape: shape)
            clips.append(ref.clipped)
            XCTAssertEqual(p.shape, shape, file: file, line: line)
            assertClose(zip(after, before).map { Float($0 - $1) }, zip(expected, before).map { $0 - $1 },
                        rtol: 1e-4, atol: 3e-7, "Adafactor step \(s + 1), shape \(shape)", file: file, line: line)
        }
        return clips
    }

    let matrix: [Double] = [0.8, -0.5, 0.3, 1.2, -0.9, 0.4, 0.05, -1.1, 0.7, -0.2, 0.6, 1.5]
    let matrixGrads: [[Double]] = [
        [0.3, -0.02, 0.5, 0.01, -1.2, 0.2, 0.03, -0.4, 0.9, 0.05, -0.07, 0.6],
        [-0.1, 0.4, 0.02, -0.3, 0.5, -0.6, 0.08, 0.2, -0.05, 1.0, 0.3, -0.2],
    ]

    func testFactoredMatrixTwoStepsWithRelativeStepAndParameterScale() throws {
        // transformers' defaults: lr=None → relative step, scale_parameter, clip 1, decay −0.8.
        let opt = Adafactor()
        XCTAssertTrue(opt.relativeStep)
        var ref = Reference()
        _ = try compare(opt, &ref, p0: matrix, grads: matrixGrads, shape: [3, 4])

        // Second moments are factored: one value per row and per column, no full-size slot.
        let state = opt.state()
        XCTAssertEqual(state["row.w"]?.shape, [3])
        XCTAssertEqual(state["col.w"]?.shape, [4])
        XCTAssertNil(state["v.w"])
        XCTAssertNil(state["m.w"])
        try assertClose(state["row.w"]!, ref.row, rtol: 1e-5, atol: 1e-12)
        try assertClose(state["col.w"]!, ref.col, rtol: 1e-5, atol: 1e-12)
        XCTAssertEqual(try state["step"]!.toArray(Int64.self), [2])
    }

    func testFactoredUpdateIsClippedToTheThresholdRMS() throws {
        // A low threshold makes the clip bind on both steps; the reference confirms it did.
        let opt = Adafactor(clipThreshold: 0.25)
        var ref = Reference(clip: 0.25)
        let clips = try compare(opt, &ref, p0: matrix, grads: matrixGrads, shape: [3, 4])
        XCTAssertEqual(clips, [true, true])

        // Step 1 by hand for a rank-one gradient g = a bᵀ: the factored estimate is exact, so
        // u = sign(g), RMS(u) = 1, and the clipped step is α·0.25·sign(g) with α = 1e-2·RMS(p).
        let p: [Double] = [1, -2, 3, -4, 5, -6]  // RMS = √(91/6)
        let a: [Double] = [0.5, -2], b: [Double] = [1, 0.25, -3]
        let g = a.flatMap { ai in b.map { ai * $0 } }
        let one = Adafactor(clipThreshold: 0.25)
        let out = try one.update(parameters: ["w": Tensor(p.map(Float.init), shape: [2, 3])],
                                 gradients: ["w": Tensor(g.map(Float.init), shape: [2, 3])])["w"]!.floats()
        let step = 1e-2 * (91.0 / 6).squareRoot() * 0.25
        assertClose(zip(out, p).map { Float(Double($0) - $1) }, g.map { -step * ($0 > 0 ? 1 : -1) }, rtol: 1e-4, atol: 1e-7)
    }

    func testBatchedMatricesFactorEachMatrixSeparatelyWithWeightDecay() throws {
        // [2, 2, 3]: the leading axis is a batch of 2×3 matrices with their own row/col moments.
        // Weight decay here is scaled by the parameter-scaled step α_t, not by ρ_t.
        let p0 = matrix
        let grads = matrixGrads.map { g in g.enumerated().map { i, x in i < 6 ? x : 10 * x } }
        let opt = Adafactor(weightDecay: 0.1)
        var ref = Reference(weightDecay: 0.1)
        _ = try compare(opt, &ref, p0: p0, grads: grads, shape: [2, 2, 3])
        XCTAssertEqual(opt.state()["row.w"]?.shape, [2, 2])
        XCTAssertEqual(opt.state()["col.w"]?.shape, [2, 3])
    }

    let vector: [Double] = [0.5, -1.5, 0.25, 2.0, -0.75]
    let vectorGrads: [[Double]] = [[0.2, -0.1, 0.0, 0.7, -0.3], [-0.4, 0.05, 0.1, 0.2, 0.6]]

    func testVectorTwoStepsWithRelativeStep() throws {
        let opt = Adafactor()
        var ref = Reference()
        _ = try compare(opt, &ref, p0: vector, grads: vectorGrads, shape: [5])
        let state = opt.state()
        XCTAssertEqual(state["v.w"]?.shape, [5])
        XCTAssertNil(state["row.w"])
        try assertClose(state["v.w"]!, ref.v, rtol: 1e-5, atol: 1e-35)

        // Step 1 by hand: β₂₁ = 0, so V = g² + ε₁ and u = g/|g| = sign(g) (0 where g = 0); RMS(u) =
        // √(4/5) < 1, no clip; α = 1e-2·RMS(p).
        var hand = Reference()
        let rmsP = (vector.reduce(0) { $0 + $1 * $1 } / 5).squareRoot()
        let expected = vector.enumerated().map { i, p in p - 1e-2 * rmsP * (vectorGrads[0][i] == 0 ? 0 : (vectorGrads[0][i] > 0 ? 1 : -1)) }
        let fromReference = hand.step(vector, vectorGrads[0], shape: [5])
        for (x, y) in zip(fromReference, expected) { XCTAssertEqual(x, y, accuracy: 1e-12) }
    }

    func testVectorWithWarmupInit() throws {
        // ρ_t = 1e-6·t: tiny steps that grow linearly.
        let opt = Adafactor(warmupInit: true)
        var ref = Reference(warmupInit: true)
        _ = try compare(opt, &ref, p0: vector, grads: vectorGrads, shape: [5])
    }

    func testExternalLearningRateWithFirstMomentAndWeightDecay() throws {
        // relative_step off, scale_parameter off, β₁ = 0.9, weight decay 0.1, clip 0.5.
        let opt = Adafactor(learningRate: 0.05, clipThreshold: 0.5, beta1: 0.9, weightDecay: 0.1, scaleParameter: false)
        XCTAssertFalse(opt.relativeStep)
        var ref = Reference(lr: 0.05, clip: 0.5, beta1: 0.9, weightDecay: 0.1, scaleParameter: false)
        _ = try compare(opt, &ref, p0: matrix, grads: matrixGrads, shape: [3, 4])
        XCTAssertEqual(opt.state()["m.w"]?.shape, [3, 4])

        let opt1 = Adafactor(learningRate: 0.05, clipThreshold: 0.5, beta1: 0.9, weightDecay: 0.1, scaleParameter: false)
        var ref1 = Reference(lr: 0.05, clip: 0.5, beta1: 0.9, weightDecay: 0.1, scaleParameter: false)
        _ = try compare(opt1, &ref1, p0: vector, grads: vectorGrads, shape: [5])
    }
}
