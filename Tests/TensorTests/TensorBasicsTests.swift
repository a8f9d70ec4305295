import Foundation
import Tensor
import XCTest

final class TensorBasicsTests: XCTestCase {
    func testCreationAndReadback() throws {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(try a.floats(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try Tensor([7, 8, 9]).ints(), [7, 8, 9])
        XCTAssertEqual(Tensor([1, 2], dtype: .int64).dtype, .int64)
        XCTAssertEqual(try Tensor.zeros([2, 2]).sum().float(), 0)
        XCTAssertEqual(try Tensor.ones([3, 4], dtype: .bfloat16).sum().float(), 12)
        XCTAssertEqual(try Tensor.arange(5).ints(), [0, 1, 2, 3, 4])
        XCTAssertEqual(try Tensor.eye(3).sum().float(), 3)
        XCTAssertEqual(try Tensor([Float](), shape: [0, 4]).shape, [0, 4])
        XCTAssertEqual(try Tensor(2.5).item(Float.self), 2.5)
    }

    func testDTypesRoundTrip() throws {
        let values: [Float] = [0.5, -1.25, 3.0, 100]
        for dt in [DType.float32, .float16, .bfloat16, .float64] {
            XCTAssertEqual(try Tensor(values).asType(dt).floats(), values, "\(dt)")
        }
        XCTAssertEqual(try Tensor([1, -2, 3]).asType(.int64).toArray(Int64.self), [1, -2, 3])
        XCTAssertEqual(try Tensor([1, 2, 3]).asType(.uint32).toArray(UInt32.self), [1, 2, 3])
        XCTAssertEqual(try (Tensor([1, 2, 3]) .> Tensor(2, dtype: .int32)).toArray(Bool.self), [false, false, true])
        // Weak scalars keep the tensor's dtype.
        XCTAssertEqual((Tensor([1, 2] as [Float]).asType(.bfloat16) * 0.5).dtype, .bfloat16)
    }

    func testArithmeticBroadcastingAndMatmul() throws {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let row = Tensor([10, 20, 30] as [Float])
        XCTAssertEqual(try (a + row).floats(), [11, 22, 33, 14, 25, 36])
        XCTAssertEqual(try (a * 2 - 1).floats(), [1, 3, 5, 7, 9, 11])
        XCTAssertEqual(try (1 / Tensor([2, 4] as [Float])).floats(), [0.5, 0.25])
        let b = Tensor([1, 0, 0, 1, 1, 1] as [Float], shape: [3, 2])
        XCTAssertEqual(try matmul(a, b).floats(), [4, 5, 10, 11])
        XCTAssertEqual(try a.T.shape, [3, 2])
        XCTAssertEqual(try maximum(Tensor([1, 5] as [Float]), Tensor([3, 2] as [Float])).floats(), [3, 5])
        XCTAssertEqual(try select(Tensor([true, false]), Tensor([1, 2] as [Float]), Tensor([9, 9] as [Float])).floats(), [1, 9])
        XCTAssertEqual(try Tensor([-1, 0.5, 3] as [Float]).clipped(min: 0, max: 1).floats(), [0, 0.5, 1])
    }

    func testReductionsAndSoftmax() throws {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        XCTAssertEqual(try a.sum().float(), 21)
        XCTAssertEqual(try a.sum(axis: 0).floats(), [5, 7, 9])
        XCTAssertEqual(try a.mean(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(try a.max(axis: 1).floats(), [3, 6])
        XCTAssertEqual(try a.argMax(axis: 1).ints(), [2, 2])
        let lse = try a.logSumExp(axis: 1).floats()
        let ref = [Foundation.log(exp(1.0) + exp(2.0) + exp(3.0)), Foundation.log(exp(4.0) + exp(5.0) + exp(6.0))]
        for (x, y) in zip(lse, ref) { XCTAssertEqual(Double(x), y, accuracy: 1e-5) }
        let sm = try a.softmax(axis: -1).sum(axis: -1).floats()
        for s in sm { XCTAssertEqual(s, 1, accuracy: 1e-6) }
        XCTAssertEqual(try Tensor([3, 1, 2] as [Float]).sorted().floats(), [1, 2, 3])
        XCTAssertEqual(try Tensor([1, 2, 3] as [Float]).cumsum(axis: 0).floats(), [1, 3, 6])
    }

    func testShapesIndexingAndSlicing() throws {
        let a = Tensor.arange(24, dtype: .float32).reshaped(2, 3, 4)
        XCTAssertEqual(a[1].shape, [3, 4])
        XCTAssertEqual(try a[1, 2, 3].float(), 23)
        XCTAssertEqual(try a[0, 1..<3, 0].floats(), [4, 8])
        XCTAssertEqual(try a[0, 0, .stride(by: -1)].floats(), [3, 2, 1, 0])
        XCTAssertEqual(a[.ellipsis, 0].shape, [2, 3])
        XCTAssertEqual(a[.newAxis, 0].shape, [1, 3, 4])
        XCTAssertEqual(a[-1, -1, 2...].shape, [2])
        XCTAssertEqual(a.transposed(2, 0, 1).shape, [4, 2, 3])
        XCTAssertEqual(a.expandedDims(0).squeezed().shape, [2, 3, 4])
        XCTAssertEqual(concatenated([a, a], axis: 1).shape, [2, 6, 4])
        XCTAssertEqual(stacked([a, a]).shape, [2, 2, 3, 4])
        let parts = a.split(parts: 2, axis: 2)
        XCTAssertEqual(parts.map(\.shape), [[2, 3, 2], [2, 3, 2]])
        var b = Tensor.zeros([3, 3])
        b[1, 0...] = Tensor([1, 2, 3] as [Float])
        XCTAssertEqual(try b.floats(), [0, 0, 0, 1, 2, 3, 0, 0, 0])
        let idx = Tensor([2, 0])
        XCTAssertEqual(try Tensor([10, 11, 12] as [Float]).take(idx, axis: 0).floats(), [12, 10])
        let m = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
        XCTAssertEqual(try m.takeAlong(Tensor([1, 0], shape: [2, 1]), axis: 1).floats(), [2, 3])
        XCTAssertEqual(try Tensor.ones([3, 3]).triangle(upper: false).sum().float(), 6)
        XCTAssertEqual(try Tensor([1, 2] as [Float]).padded(low: [1], high: [2], value: 7).floats(), [7, 1, 2, 7, 7])
    }

    func testShapeMismatchIsASwiftError() {
        let a = Tensor.ones([2, 3])
        let b = Tensor.ones([4, 5])
        let c = (a + b) * 2  // the failure passes through later operations
        XCTAssertTrue(c.isFailure)
        XCTAssertThrowsError(try c.eval()) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("add"), message)
            XCTAssertTrue(message.contains("(2,3)") || message.contains("broadcast"), message)
        }
        XCTAssertThrowsError(try matmul(a, a).floats())
        XCTAssertThrowsError(try a.reshaped(7).eval())
        XCTAssertThrowsError(try Tensor.ones([2]).item(Float.self))
    }

    func testRandomIsRepeatableWithKeys() throws {
        let k = RandomKey(seed: 42)
        let x = try Random.normal([1000], key: k).floats()
        let y = try Random.normal([1000], key: k).floats()
        XCTAssertEqual(x, y)
        let mean = x.reduce(0, +) / 1000
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 1000
        XCTAssertEqual(mean, 0, accuracy: 0.1)
        XCTAssertEqual(variance, 1, accuracy: 0.15)
        let (k1, k2) = { let s = k.split(); return (s[0], s[1]) }()
        XCTAssertNotEqual(try Random.uniform([8], key: k1).floats(), try Random.uniform([8], key: k2).floats())
        let u = try Random.uniform([1000], key: k1).floats()
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let draws = try Random.categorical(Tensor([0, 0, 100] as [Float]).broadcast(to: [50, 3]), key: k2).ints()
        XCTAssertTrue(draws.allSatisfy { $0 == 2 })
        let ints = try Random.randint(3, 7, [200], key: k).ints()
        XCTAssertEqual(Set(ints), [3, 4, 5, 6])
    }

    func testFastKernelsMatchPlainMath() throws {
        let key = RandomKey(seed: 1)
        let x = Random.normal([2, 5, 16], key: key)
        let w = Random.uniform([16], key: key.split()[0]) + 0.5
        let ref = x * (x.square().mean(axis: -1, keepDims: true) + 1e-5).rsqrt() * w
        let fast = Fast.rmsNorm(x, weight: w, eps: 1e-5)
        XCTAssertLessThan(try (fast - ref).abs.max().float(), 1e-5)

        // Attention against softmax(q kᵀ) v with a causal mask.
        let q = Random.normal([1, 2, 4, 8], key: key.split(3)[0])
        let k = Random.normal([1, 2, 4, 8], key: key.split(3)[1])
        let v = Random.normal([1, 2, 4, 8], key: key.split(3)[2])
        let scale: Float = 1 / 8.0.squareRoot().floatValue
        var scores = matmul(q, k.swappedAxes(-1, -2)) * Double(scale)
        let causal = Tensor.ones([4, 4]).triangle(upper: false) .== 1.0
        scores = select(causal, scores, -1e9)
        let plain = matmul(scores.softmax(axis: -1), v)
        let fused = Fast.scaledDotProductAttention(queries: q, keys: k, values: v, scale: scale, mask: .causal)
        XCTAssertLessThan(try (plain - fused).abs.max().float(), 1e-4)

        // RoPE at offset 0 leaves position 0 unchanged and preserves norms.
        let r = Fast.rope(q, dims: 8, traditional: false, base: 10000)
        XCTAssertLessThan(try (r[0, 0, 0] - q[0, 0, 0]).abs.max().float(), 1e-6)
        XCTAssertLessThan(try (r.square().sum(axis: -1) - q.square().sum(axis: -1)).abs.max().float(), 1e-4)

        // Cross-entropy equals logsumexp - logit[target].
        let logits = Random.normal([3, 10], key: key)
        let targets = Tensor([1, 5, 9])
        let ce = Fast.crossEntropy(logits: logits, targets: targets)
        let plainCE = logits.logSumExp(axis: -1) - logits.takeAlong(targets.reshaped(3, 1), axis: -1).squeezed(-1)
        XCTAssertLessThan(try (ce - plainCE).abs.max().float(), 1e-5)
    }

    func testQuantizeDequantizeAndMatmul() throws {
        let w = Random.normal([64, 128], key: RandomKey(seed: 3))
        let q = QuantizedWeight(w, groupSize: 32, bits: 4)
        XCTAssertEqual(q.weight.dtype, .uint32)
        XCTAssertEqual(q.shape, [64, 128])
        let deq = q.dequantized()
        XCTAssertEqual(deq.shape, [64, 128])
        // 4-bit affine over groups of 32 normals: error well under the value scale.
        XCTAssertLessThan(try (deq - w).abs.mean().float(), 0.15)
        let x = Random.normal([5, 128], key: RandomKey(seed: 4))
        let viaQ = quantizedMatmul(x, q)
        let viaDeq = matmul(x, deq.T)
        XCTAssertLessThan(try (viaQ - viaDeq).abs.max().float(), 1e-3)
        let q8 = QuantizedWeight(w, groupSize: 64, bits: 8)
        XCTAssertLessThan(try (q8.dequantized() - w).abs.max().float(), 0.05)
    }
}

extension Double { var floatValue: Float { Float(self) } }
