import Foundation
import NN
import Tensor
import XCTest

final class LayerTests: XCTestCase {
    // W [out 2, in 3], b [2].
    let w: [[Double]] = [[1, -2, 0.5], [0.25, 3, -1]]
    let b: [Double] = [0.1, -0.2]

    func handLinear(_ x: [Double], bias: Bool = true) -> [Double] {
        (0..<2).map { o in (0..<3).reduce(bias ? b[o] : 0) { $0 + w[o][$1] * x[$1] } }
    }

    func testLinearOnVectorsMatricesAndBatches() throws {
        let weight = Tensor(w.flatMap { $0 }.map(Float.init), shape: [2, 3])
        let layer = Linear(weight: weight, bias: Tensor(b.map(Float.init)))
        let bare = Linear(weight: weight)
        XCTAssertEqual(layer.inputDimensions, 3)
        XCTAssertEqual(layer.outputDimensions, 2)
        let rows: [[Double]] = [[1, 2, 3], [-1, 0.5, 4], [0, 0, 0], [2, -3, 1]]

        let v = layer(Tensor(rows[0].map(Float.init)))
        XCTAssertEqual(v.shape, [2])
        try assertClose(v, handLinear(rows[0]))

        let m = layer(Tensor(rows.flatMap { $0 }.map(Float.init), shape: [4, 3]))
        XCTAssertEqual(m.shape, [4, 2])
        try assertClose(m, rows.flatMap { handLinear($0) })

        let batched = layer(Tensor(rows.flatMap { $0 }.map(Float.init), shape: [2, 2, 3]))
        XCTAssertEqual(batched.shape, [2, 2, 2])
        try assertClose(batched, rows.flatMap { handLinear($0) })

        try assertClose(bare(Tensor(rows.flatMap { $0 }.map(Float.init), shape: [2, 2, 3])), rows.flatMap { handLinear($0, bias: false) })
        XCTAssertEqual(Set(bare.parameters().keys), ["weight"])
    }

    func testEmbeddingLookupAndAsLinear() throws {
        let table: [[Double]] = [[0, 1, 2], [3, 4, 5], [-1, 0.5, 2], [7, -7, 0], [0.25, 0.5, 0.75]]
        let emb = Embedding(weight: Tensor(table.flatMap { $0 }.map(Float.init), shape: [5, 3]))
        let ids = [[4, 0], [2, 2]]
        let out = emb(Tensor(ids.flatMap { $0 }, shape: [2, 2]))
        XCTAssertEqual(out.shape, [2, 2, 3])
        try assertClose(out, ids.flatMap { $0 }.flatMap { table[$0] })

        // Tied output projection: logits[i][v] = x_i · E_v.
        let x: [[Double]] = [[1, 0, -1], [0.5, 2, 1]]
        let logits = emb.asLinear(Tensor(x.flatMap { $0 }.map(Float.init), shape: [2, 3]))
        XCTAssertEqual(logits.shape, [2, 5])
        try assertClose(logits, x.flatMap { xi in table.map { e in zip(xi, e).reduce(0) { $0 + $1.0 * $1.1 } } })
    }

    /// MLX's affine quantization stores w ≈ bias + q·scale with q ∈ [0, 2^bits − 1] per group, and
    /// picks scale and bias so that 0 is exactly representable (the bias is the group's extreme of
    /// larger magnitude and the scale is negative when that is the maximum): the grid may stop just
    /// short of the other extreme, which is then clipped to the last grid point.
    func checkQuantized(bits: Int, groupSize: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let (inD, outD) = (128, 16)
        let linear = Linear(inD, outD, key: RandomKey(seed: UInt64(bits)))
        let q = QuantizedLinear(linear, groupSize: groupSize, bits: bits)
        XCTAssertEqual(q.inputDimensions, inD, file: file, line: line)
        XCTAssertEqual(q.outputDimensions, outD, file: file, line: line)
        // The packed weights are frozen; the float bias stays trainable.
        XCTAssertEqual(Set(q.trainableParameters().keys), ["bias"], file: file, line: line)

        let wf = try linear.weight.floats(), dense = try q.denseWeight().floats()
        let scales = try q.scales.floats(), biases = try q.biases.floats()
        let groups = inD / groupSize
        XCTAssertEqual(q.scales.shape, [outD, groups], file: file, line: line)
        let levels = Double((1 << bits) - 1)
        for r in 0..<outD {
            for c in 0..<inD {
                let s = Double(scales[r * groups + c / groupSize]), b = Double(biases[r * groups + c / groupSize])
                let w = Double(wf[r * inD + c]), d = Double(dense[r * inD + c])
                // Each dequantized weight is the grid point nearest to the float weight.
                let level = ((w - b) / s).rounded()
                let nearest = b + Swift.min(Swift.max(level, 0), levels) * s
                XCTAssertEqual(d, nearest, accuracy: 1e-3 * Swift.abs(s), "\(bits)-bit weight [\(r), \(c)]", file: file, line: line)
                // Inside the grid the error is at most half a step. Rounding the scale so that the
                // zero-point is an integer shortens the grid by less than one step, so a clipped
                // extreme is off by at most one step.
                let inside = level >= 0 && level <= levels
                XCTAssertLessThanOrEqual(Swift.abs(d - w), (inside ? 0.5 : 1) * Swift.abs(s) * (1 + 1e-3) + 1e-9,
                                         "\(bits)-bit weight [\(r), \(c)], \(inside ? "on" : "off") the grid", file: file, line: line)
            }
        }

        for rows in [3, 16] {  // below and above `dequantizeAboveRows`: both code paths
            let x = Random.normal([rows, inD], key: RandomKey(seed: UInt64(rows)))
            let yq = q(x), yf = linear(x)
            XCTAssertEqual(yq.shape, [rows, outD], file: file, line: line)
            // Exactly the dequantized layer, up to float32 summation order.
            let reference = try (matmul(x, q.denseWeight().T) + linear.bias!.value).floats()
            try assertClose(yq.floats(), reference.map(Double.init), rtol: 1e-4, atol: 1e-4, "\(bits)-bit, \(rows) rows", file: file, line: line)
            // And within the propagated weight error: |Δy_io| ≤ Σ_k |x_ik|·|Δw_ok|.
            let xs = try x.floats(), a = try yq.floats(), f = try yf.floats()
            for i in 0..<rows {
                for o in 0..<outD {
                    let bound = (0..<inD).reduce(0.0) { $0 + Swift.abs(Double(xs[i * inD + $1]) * (Double(dense[o * inD + $1]) - Double(wf[o * inD + $1]))) }
                    XCTAssertLessThanOrEqual(Swift.abs(Double(a[i * outD + o]) - Double(f[i * outD + o])), bound * (1 + 1e-3) + 1e-4,
                                             "\(bits)-bit output [\(i), \(o)]", file: file, line: line)
                }
            }
            let relative = try ((yq - yf).square().sum().sqrt() / yf.square().sum().sqrt()).float()
            XCTAssertLessThan(relative, bits == 8 ? 0.01 : 0.15, "\(bits)-bit relative output error", file: file, line: line)
        }
    }

    func testQuantizedLinearIsCloseToLinear() throws {
        try checkQuantized(bits: 8, groupSize: 64)
        try checkQuantized(bits: 4, groupSize: 32)
    }

    func testQuantizedEmbeddingMatchesDequantizedTable() throws {
        let table = Random.normal([12, 64], key: RandomKey(seed: 2))
        let qe = QuantizedEmbedding(QuantizedWeight(table, groupSize: 32, bits: 8))
        XCTAssertEqual(qe.trainableParameterCount(), 0)
        let dense = qe.quantized.dequantized()
        let ids = Tensor([3, 11, 0], shape: [1, 3])
        try assertClose(qe(ids).floats(), try dense.take(ids, axis: 0).floats().map(Double.init), rtol: 0, atol: 0)
        let x = Random.normal([9, 64], key: RandomKey(seed: 3))
        try assertClose(qe.asLinear(x).floats(), try matmul(x, dense.T).floats().map(Double.init), rtol: 1e-4, atol: 1e-4)
    }

    func testNormsMatchHandValues() throws {
        let x: [[Double]] = [[1, 2, 3, 4], [-0.5, 0, 0.5, 10]]
        let gamma: [Double] = [1, 0.5, 2, -1]
        let xt = Tensor(x.flatMap { $0 }.map(Float.init), shape: [2, 4])
        let rms = RMSNorm(weight: Tensor(gamma.map(Float.init)), eps: 1e-5)
        try assertClose(rms(xt), x.flatMap { row -> [Double] in
            let r = (row.reduce(0) { $0 + $1 * $1 } / 4 + 1e-5).squareRoot()
            return zip(row, gamma).map { $0 / r * $1 }
        }, rtol: 1e-5, atol: 1e-6)

        let ln = LayerNorm(4, eps: 1e-5)
        try ln.update(parameters: ["weight": Tensor(gamma.map(Float.init)), "bias": Tensor([0, 1, -1, 0.5] as [Float])])
        try assertClose(ln(xt), x.flatMap { row -> [Double] in
            let mean = row.reduce(0, +) / 4
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4
            return row.indices.map { (row[$0] - mean) / (variance + 1e-5).squareRoot() * gamma[$0] + [0, 1, -1, 0.5][$0] }
        }, rtol: 1e-5, atol: 1e-5)
    }

    func testActivationsMatchHandValues() throws {
        let xs: [Double] = [-6, -1.5, -0.25, 0, 0.3, 1, 4]
        let t = Tensor(xs.map(Float.init))
        try assertClose(silu(t), xs.map { $0 * sigmoid($0) })
        try assertClose(relu(t), xs.map { Swift.max($0, 0) })
        // Exact GELU: x·Φ(x) = x·(1 + erf(x/√2))/2.
        try assertClose(gelu(t), xs.map { $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) / 2 }, rtol: 1e-5, atol: 1e-6)
        let c = (2 / Double.pi).squareRoot()
        try assertClose(geluApproximate(t), xs.map { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) },
                        rtol: 1e-5, atol: 1e-6)
    }
}
