import Foundation
import Tensor
import XCTest

/// `quantizedGEMV` (PostTrain's SIMD CPU kernel for decoding) against MLX's dequantize followed by
/// a float32 matmul of the same weights: only the order of float32 additions differs, so results
/// agree to ~1e-7 relative; 1e-5 leaves room for long rows and still catches a wrong nibble,
/// group, scale or bias (each of which is off by far more).
final class QuantizedGEMVTests: XCTestCase {
    /// max |a - b| / max |b| (with `floor` as the least denominator).
    func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 0) throws -> Float {
        let scale = Swift.max(try b.abs.max().float(), floor)
        let err = try (a.asType(.float32) - b.asType(.float32)).abs.max().float()
        return err / Swift.max(scale, .leastNormalMagnitude)
    }

    func quantized(n: Int, k: Int, groupSize: Int, bits: Int, scales dtype: DType, seed: UInt64) -> QuantizedWeight {
        var q = QuantizedWeight(Random.normal([n, k], std: 0.05, key: RandomKey(seed: seed)), groupSize: groupSize, bits: bits)
        if dtype != q.scales.dtype {
            q = QuantizedWeight(weight: q.weight, scales: q.scales.asType(dtype), biases: q.biases.asType(dtype),
                                groupSize: groupSize, bits: bits)
        }
        return q
    }

    func testMatchesDequantizedMatmulAcrossShapesAndFormats() throws {
        var seed: UInt64 = 1
        var cases = 0
        for bits in [4, 8] {
            for groupSize in [32, 64, 128] {
                for k in [64, 576, 1536] where k % groupSize == 0 {
                    for n in [1, 7, 192, 5000] {
                        for scalesType in [DType.float32, .float16] {
                            seed += 1
                            let q = quantized(n: n, k: k, groupSize: groupSize, bits: bits, scales: scalesType, seed: seed)
                            XCTAssertEqual(q.scales.dtype, scalesType)
                            let dense = q.dequantized(dtype: .float32)
                            for m in [1, 2, 5] {
                                let x = Random.normal([m, k], key: RandomKey(seed: seed &* 31 &+ UInt64(m)))
                                let y = quantizedGEMV(x, q)
                                XCTAssertEqual(y.shape, [m, n])
                                XCTAssertEqual(y.dtype, .float32)
                                // With one or a few outputs the largest may nearly cancel; the
                                // typical output size (√K times a term) then bounds the scale.
                                let typical = try matmul(x.abs, dense.abs.T).max().float() / Float(k).squareRoot()
                                let err = try relativeError(y, matmul(x, dense.T), floor: typical)
                                XCTAssertLessThan(err, 1e-5, "bits \(bits) group \(groupSize) K \(k) N \(n) M \(m) scales \(scalesType)")
                                cases += 1
                            }
                        }
                    }
                }
            }
        }
        // Groups of 32 and 64 divide every K; of 128 only K=1536.
        XCTAssertEqual(cases, 2 * (4 * 2 * 3) * (3 + 3 + 1))
    }

    func testManyRowsBatchDimensionsAndLayouts() throws {
        let q = quantized(n: 300, k: 256, groupSize: 64, bits: 4, scales: .float16, seed: 7)
        let dense = q.dequantized(dtype: .float32)
        // More rows than one pass holds, with batch dimensions: [2, 11, K] → [2, 11, N].
        let x = Random.normal([2, 11, 256], key: RandomKey(seed: 8))
        let y = quantizedGEMV(x, q)
        XCTAssertEqual(y.shape, [2, 11, 300])
        XCTAssertLessThan(try relativeError(y, matmul(x, dense.T)), 1e-5)
        // Non-contiguous x (a transpose) and weights (a row slice of every part).
        let xt = Random.normal([256, 3], key: RandomKey(seed: 9)).T
        XCTAssertLessThan(try relativeError(quantizedGEMV(xt, q), matmul(xt, dense.T)), 1e-5)
        let rows = QuantizedWeight(weight: q.weight[50..<120], scales: q.scales[50..<120], biases: q.biases[50..<120],
                                   groupSize: 64, bits: 4)
        XCTAssertLessThan(try relativeError(quantizedGEMV(xt, rows), matmul(xt, dense[50..<120].T)), 1e-5)
        // A column slice of the packed weight and its scales is strided in both dimensions.
        let left = QuantizedWeight(weight: q.weight[0..., 0..<16], scales: q.scales[0..., 0..<2], biases: q.biases[0..., 0..<2],
                                   groupSize: 64, bits: 4)
        let xl = x[0, 0..<4, 0..<128]
        XCTAssertLessThan(try relativeError(quantizedGEMV(xl, left), matmul(xl, dense[0..., 0..<128].T)), 1e-5)
        // A vector input keeps its rank: [K] → [N].
        let v = Random.normal([256], key: RandomKey(seed: 10))
        let yv = quantizedGEMV(v, q)
        XCTAssertEqual(yv.shape, [300])
        XCTAssertLessThan(try relativeError(yv, matmul(v.reshaped(1, 256), dense.T).reshaped(300)), 1e-5)
    }

    func testHalfPrecisionInputsComputeInFloat32() throws {
        let q = quantized(n: 64, k: 128, groupSize: 32, bits: 8, scales: .bfloat16, seed: 11)
        let dense = q.dequantized(dtype: .float32)
        for dtype in [DType.float16, .bfloat16] {
            let x = Random.normal([3, 128], key: RandomKey(seed: 12)).asType(dtype)
            let y = quantizedGEMV(x, q)
            XCTAssertEqual(y.dtype, dtype)
            // The float32 result rounded once to the output type.
            let exact = matmul(x.asType(.float32), dense.T)
            XCTAssertLessThan(try relativeError(y, exact), dtype == .float16 ? 1e-3 : 8e-3)
        }
    }

    func testLargeMatricesAreDeterministicAcrossThreads() throws {
        // Rows are split over threads, but each row is computed by one thread in a fixed order.
        let q = quantized(n: 8192, k: 576, groupSize: 32, bits: 4, scales: .float16, seed: 13)
        let x = Random.normal([1, 576], key: RandomKey(seed: 14))
        let first = try quantizedGEMV(x, q).floats()
        for _ in 0..<5 {
            XCTAssertEqual(try quantizedGEMV(x, q).floats(), first)
        }
        XCTAssertLessThan(try relativeError(Tensor(first, shape: [1, 8192]), matmul(x, q.dequantized(dtype: .float32).T)), 1e-5)
    }

    func testGradientsMatchTheDequantizedProduct() throws {
        let q = quantized(n: 40, k: 64, groupSize: 32, bits: 4, scales: .float32, seed: 15)
        let x = Random.normal([3, 64], key: RandomKey(seed: 16))
        let c = Random.normal([3, 40], key: RandomKey(seed: 17))
        // d/dx, d/dscales, d/dbiases of Σ c ⊙ (x · Wᵀ), against the same through MLX's dequantize.
        let (_, ours) = try valueAndGrad({ t in
            let w = QuantizedWeight(weight: q.weight, scales: t[1], biases: t[2], groupSize: 32, bits: 4)
            return [(quantizedGEMV(t[0], w) * c).sum()]
        }, at: [x, q.scales, q.biases])
        let (_, reference) = try valueAndGrad({ t in
            let w = QuantizedWeight(weight: q.weight, scales: t[1], biases: t[2], groupSize: 32, bits: 4)
            return [(matmul(t[0], w.dequantized(dtype: .float32).T) * c).sum()]
        }, at: [x, q.scales, q.biases])
        for (name, a, b) in zip3(["x", "scales", "biases"], ours, reference) {
            XCTAssertEqual(a.shape, b.shape, name)
            XCTAssertLessThan(try relativeError(a, b), 1e-5, "gradient with respect to \(name)")
        }
        // Forward mode with respect to x.
        let dx = Random.normal([3, 64], key: RandomKey(seed: 18))
        let (_, tangents) = try jvp({ [quantizedGEMV($0[0], q)] }, primals: [x], tangents: [dx])
        XCTAssertLessThan(try relativeError(tangents[0], matmul(dx, q.dequantized(dtype: .float32).T)), 1e-5)
    }

    func testInvalidArgumentsFailWithAMessage() throws {
        let q = quantized(n: 8, k: 64, groupSize: 32, bits: 4, scales: .float32, seed: 19)
        let x = Random.normal([1, 64])
        let cases: [(QuantizedWeight, Tensor, String)] = [
            (QuantizedWeight(weight: q.weight, scales: q.scales, biases: q.biases, groupSize: 16, bits: 4), x, "group size"),
            (QuantizedWeight(weight: q.weight, scales: q.scales, biases: q.biases, groupSize: 32, bits: 2), x, "bits"),
            (q, Random.normal([1, 63]), "features"),
            (QuantizedWeight(weight: q.weight, scales: q.scales[0..., 0..<1], biases: q.biases, groupSize: 32, bits: 4), x, "shape"),
            (q, Tensor([Int32](repeating: 1, count: 64), shape: [1, 64]), "float"),
        ]
        for (w, input, expected) in cases {
            let y = quantizedGEMV(input, w)
            XCTAssertTrue(y.isFailure, expected)
            XCTAssertThrowsError(try y.eval()) { error in
                XCTAssertTrue("\(error)".contains("quantized_gemv"), "\(error)")
                XCTAssertTrue("\(error)".contains(expected), "expected '\(expected)' in \(error)")
            }
        }
        XCTAssertFalse(QuantizedWeight(weight: q.weight, scales: q.scales, biases: q.biases, groupSize: 16, bits: 4).supportsGEMV)
        XCTAssertTrue(q.supportsGEMV)
    }

    /// The default model's own weights: Q4_1 linears (4-bit) and the Q8_0 embedding (8-bit) with
    /// the float16 scales MLX's GGUF reader produces.
    func testDefaultModelWeights() throws {
        let path = repoRoot().appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("\(path) is missing: run `make setup`")
        }
        let tensors = try TensorIO.loadGGUF(path)
        for (name, bits) in [("blk.3.ffn_down", 4), ("blk.0.attn_k", 4), ("token_embd", 8)] {
            let q = QuantizedWeight(weight: tensors["\(name).weight"]!, scales: tensors["\(name).scales"]!,
                                    biases: tensors["\(name).biases"]!, groupSize: 32, bits: bits)
            let k = q.shape[1]
            let x = Random.normal([2, k], key: RandomKey(seed: 20))
            XCTAssertLessThan(try relativeError(quantizedGEMV(x, q), matmul(x, q.dequantized(dtype: .float32).T)), 1e-5, name)
        }
    }
}

private func zip3<A, B, C>(_ a: [A], _ b: [B], _ c: [C]) -> [(A, B, C)] {
    zip(a, zip(b, c)).map { ($0, $1.0, $1.1) }
}
