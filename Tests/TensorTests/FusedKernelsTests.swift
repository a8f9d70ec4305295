import Foundation
import Tensor
import XCTest

/// The fused CPU kernels against MLX's own ops: values and gradients on random inputs, for the
/// shapes and masks training uses and the edge cases around them.
final class FusedKernelsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(FusedKernels.isAvailable, "the fused kernels run on the CPU device only")
    }

    /// max |a − b| / max(max |b|, floor): relative to the largest entry, so that entries near 0
    /// do not blow it up; `floor` makes it absolute for results that are 0 in exact arithmetic
    /// (one key: the scores cannot change the softmax, so dQ = dK = 0 up to rounding).
    func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 1e-6) throws -> Float {
        let a32 = a.asType(.float32), b32 = b.asType(.float32)
        let diff = try (a32 - b32).abs.max().float()
        let scale = try b32.abs.max().float()
        return diff / Swift.max(scale, floor)
    }

    func assertClose(_ a: Tensor, _ b: Tensor, _ tolerance: Float, _ what: String, floor: Float = 1e-6,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        XCTAssertFalse(try a.isNaN().any().item(Bool.self), "\(what): NaN", file: file, line: line)
        let e = try relativeError(a, b, floor: floor)
        XCTAssertLessThanOrEqual(e, tolerance, "\(what): relative error \(e)", file: file, line: line)
    }

    // MARK: Attention

    /// Plain softmax attention in float32 from MLX ops. `allowed` (boolean, broadcastable to
    /// [B, Hq, L, S]) already includes causality; rows that allow nothing give 0.
    func referenceAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float, allowed: Tensor?,
                            additive: Tensor? = nil) -> Tensor {
        let groups = q.dim(1) / k.dim(1)
        let k32 = k.asType(.float32).repeated(groups, axis: 1)
        let v32 = v.asType(.float32).repeated(groups, axis: 1)
        var s = matmul(q.asType(.float32), k32.swappedAxes(-1, -2)) * Double(scale)
        if let additive { s = s + additive.asType(.float32) }
        guard let allowed else { return matmul(s.softmax(axis: -1), v32) }
        let full = allowed.broadcast(to: s.shape)
        // Rows with no key take an unmasked softmax that is multiplied by 0: finite gradients.
        let seen = full.any(axes: [-1], keepDims: true)
        let p = select(full .|| .!seen, s, -Double.infinity).softmax(axis: -1)
        return matmul(p, v32) * seen.asType(.float32)
    }

    func causalMask(_ L: Int, _ S: Int) -> Tensor {
        let rows = Tensor.arange(L).reshaped([L, 1]) + Tensor(S - L)
        return Tensor.arange(S).reshaped([1, S]) .<= rows
    }

    struct AttentionCase {
        var B = 2, Hq = 9, Hkv = 3, L = 7, S = 7, D = 64
        var causal = true
        var mask: Tensor? = nil        // boolean or additive, as given to the kernel
        var dtype = DType.float32
        var tolerance: Float = 2e-5
    }

    /// Output and dQ, dK, dV of the kernel against the reference for one configuration.
    func checkAttention(_ c: AttentionCase, seed: UInt64, file: StaticString = #filePath,
                        line: UInt = #line) throws {
        let keys = RandomKey(seed: seed).split(4)
        let q = Random.normal([c.B, c.Hq, c.L, c.D], key: keys[0]).asType(c.dtype)
        let k = Random.normal([c.B, c.Hkv, c.S, c.D], key: keys[1]).asType(c.dtype)
        let v = Random.normal([c.B, c.Hkv, c.S, c.D], key: keys[2]).asType(c.dtype)
        let cot = Random.normal([c.B, c.Hq, c.L, c.D], key: keys[3]).asType(c.dtype)
        let scale = 1 / Float(c.D).squareRoot()

        var allowed: Tensor? = c.causal ? causalMask(c.L, c.S) : nil
        var additive: Tensor? = nil
        if let m = c.mask {
            if m.dtype == .bool { allowed = allowed.map { $0 .&& m } ?? m } else { additive = m }
        }
        let (out, grads) = try vjp({ x in
            [FusedKernels.attention(queries: x[0], keys: x[1], values: x[2], scale: scale,
                                    causal: c.causal, mask: c.mask)]
        }, primals: [q, k, v], cotangents: [cot])
        // The reference sees the same (possibly rounded) inputs, in float32.
        let (refOut, refGrads) = try vjp({ x in
            [self.referenceAttention(x[0], x[1], x[2], scale: scale, allowed: allowed, additive: additive)]
        }, primals: [q, k, v].map { $0.asType(.float32) }, cotangents: [cot.asType(.float32)])

        let what = "B\(c.B) H\(c.Hq)/\(c.Hkv) L\(c.L) S\(c.S) D\(c.D) causal \(c.causal) \(c.dtype)"
        XCTAssertEqual(out[0].dtype, c.dtype, what, file: file, line: line)
        try assertClose(out[0], refOut[0], c.tolerance, "\(what) out", file: file, line: line)
        for (name, (g, r)) in zip(["dQ", "dK", "dV"], zip(grads, refGrads)) {
            XCTAssertEqual(g.dtype, c.dtype, what, file: file, line: line)
            try assertClose(g, r, c.tolerance * 2, "\(what) \(name)", floor: c.S == 1 ? 1 : 1e-6,
                            file: file, line: line)
        }
    }

    func testAttentionMatchesReferenceAcrossShapes() throws {
        var seed: UInt64 = 1
        for (L, S, D) in [(7, 7, 64), (130, 130, 64), (130, 130, 48), (1, 1, 64), (1, 37, 64),
                          (7, 300, 48), (65, 65, 80)] {
            for causal in [true, false] {
                try checkAttention(AttentionCase(L: L, S: S, D: D, causal: causal), seed: seed)
                seed += 1
            }
        }
        // One kv head per query head, and one kv head for all.
        try checkAttention(AttentionCase(B: 1, Hq: 4, Hkv: 4, L: 33, S: 33, D: 16), seed: 50)
        try checkAttention(AttentionCase(B: 3, Hq: 6, Hkv: 1, L: 20, S: 45, D: 32), seed: 51)
    }

    func testAttentionMatchesMLXFusedAttention() throws {
        let keys = RandomKey(seed: 7).split(4)
        let q = Random.normal([2, 9, 130, 64], key: keys[0])
        let k = Random.normal([2, 3, 130, 64], key: keys[1])
        let v = Random.normal([2, 3, 130, 64], key: keys[2])
        let cot = Random.normal([2, 9, 130, 64], key: keys[3])
        let (o1, g1) = try vjp({ x in
            [FusedKernels.attention(queries: x[0], keys: x[1], values: x[2], scale: 0.125, causal: true)]
        }, primals: [q, k, v], cotangents: [cot])
        let (o2, g2) = try vjp({ x in
            [Fast.scaledDotProductAttention(queries: x[0], keys: x[1], values: x[2], scale: 0.125, mask: .causal)]
        }, primals: [q, k, v], cotangents: [cot])
        try assertClose(o1[0], o2[0], 2e-5, "out")
        for (i, name) in ["dQ", "dK", "dV"].enumerated() { try assertClose(g1[i], g2[i], 4e-5, name) }
    }

    func testAttentionWithRandomBooleanMaskAndEmptyRows() throws {
        let (B, L, S) = (2, 130, 130)
        // 70% of the keys visible, and rows 0, 3 and 100 of batch 0 see nothing at all.
        var mask = Random.bernoulli(0.7, [B, 1, L, S], key: RandomKey(seed: 11))
        let row = Tensor.arange(L).reshaped([1, 1, L, 1])
        let batch = Tensor.arange(B).reshaped([B, 1, 1, 1])
        let dead = (batch .== 0) .&& ((row .== 0) .|| (row .== 3) .|| (row .== 100))
        mask = mask .&& .!dead
        for causal in [true, false] {
            try checkAttention(AttentionCase(B: B, L: L, S: S, causal: causal, mask: mask), seed: 12)
        }
        // Empty rows are exactly 0 and get exactly 0 gradient.
        let q = Random.normal([B, 9, L, 64], key: RandomKey(seed: 13))
        let k = Random.normal([B, 3, S, 64], key: RandomKey(seed: 14))
        let out = FusedKernels.attention(queries: q, keys: k, values: k, scale: 0.125, causal: true, mask: mask)
        let deadRows = out[0, 0..., 0...3, 0...]  // batch 0, rows 0..3: rows 0 and 3 are empty
        XCTAssertEqual(try deadRows[0..., 0, 0...].abs.max().float(), 0)
        XCTAssertEqual(try deadRows[0..., 3, 0...].abs.max().float(), 0)
        XCTAssertGreaterThan(try deadRows[0..., 1, 0...].abs.max().float(), 0)
        let dq = try grad({ q in
            FusedKernels.attention(queries: q, keys: k, values: k, scale: 0.125, causal: true, mask: mask).sum()
        }, at: q)
        XCTAssertEqual(try dq[0, 0..., 100, 0...].abs.max().float(), 0)
        XCTAssertFalse(try dq.isNaN().any().item(Bool.self))
    }

    func testAttentionWithPackedAndLeftPaddedMasks() throws {
        // Packed rows: two documents of 40 and 24 tokens share a row; causal within each.
        let segments = Tensor([Int](repeating: 0, count: 40) + [Int](repeating: 1, count: 24)).reshaped([1, 1, 64, 1])
        let sameDoc = segments .== segments.reshaped([1, 1, 1, 64])
        try checkAttention(AttentionCase(B: 1, L: 64, S: 64, causal: true, mask: sameDoc), seed: 21)
        // Left padding: batch row b starts with 5·b pad keys, masked as [B, 1, 1, S].
        let (B, S) = (3, 48)
        let start = Tensor([0, 5, 10]).reshaped([B, 1, 1, 1])
        let keyOK = Tensor.arange(S).reshaped([1, 1, 1, S]) .>= start
        try checkAttention(AttentionCase(B: B, L: S, S: S, causal: true, mask: keyOK), seed: 22)
        // The same with a 2-D mask broadcast over batch and heads, and with an additive mask.
        try checkAttention(AttentionCase(B: 2, L: 33, S: 50, causal: true, mask: causalMask(33, 50)), seed: 23)
        let additive = Random.normal([2, 9, 33, 50], key: RandomKey(seed: 24)) * 0.5
        try checkAttention(AttentionCase(B: 2, L: 33, S: 50, causal: true, mask: additive), seed: 25)
    }

    func testAttentionInHalfPrecision() throws {
        // Inputs rounded to 16 bits, computed in float32, rounded back: one rounding of the result.
        try checkAttention(AttentionCase(L: 130, S: 130, dtype: .bfloat16, tolerance: 1e-2), seed: 31)
        try checkAttention(AttentionCase(L: 40, S: 70, dtype: .float16, tolerance: 2e-3), seed: 32)
    }

    func testAttentionOnStridedInputs() throws {
        // Q, K, V as transposed views of [B, L, H, D] projections, as a model produces them.
        let x = Random.normal([2, 50, 15, 32], key: RandomKey(seed: 41))
        let q = x[0..., 0..., 0..<9, 0...].transposed(0, 2, 1, 3)
        let k = x[0..., 0..., 9..<12, 0...].transposed(0, 2, 1, 3)
        let v = x[0..., 0..., 12..<15, 0...].transposed(0, 2, 1, 3)
        let ours = FusedKernels.attention(queries: q, keys: k, values: v, scale: 0.2, causal: true)
        let ref = referenceAttention(q, k, v, scale: 0.2, allowed: causalMask(50, 50))
        try assertClose(ours, ref, 2e-5, "strided")
    }

    func testAttentionRejectsBadShapes() throws {
        let q = Tensor.zeros([1, 4, 8, 16]), k = Tensor.zeros([1, 3, 8, 16])
        let bad = FusedKernels.attention(queries: q, keys: k, values: k, scale: 1, causal: true)
        XCTAssertThrowsError(try bad.check()) { error in
            XCTAssertTrue("\(error)".contains("multiple"), "\(error)")
        }
        let flat = FusedKernels.attention(queries: Tensor.zeros([4, 8, 16]), keys: k, values: k, scale: 1, causal: false)
        XCTAssertThrowsError(try flat.check())
    }

    // MARK: Cross-entropy

    /// logsumexp − gathered logit over the full logits, with ignored targets masked to 0.
    func referenceCrossEntropy(_ h: Tensor, _ w: Tensor, _ t: Tensor) -> Tensor {
        let logits = matmul(h.asType(.float32), w.asType(.float32).transposed())
        let valid = (t .>= 0) .&& (t .< Tensor(w.dim(0)))
        let safe = select(valid, t, Tensor.zeros(like: t))
        let picked = logits.takeAlong(safe.expandedDims(-1), axis: -1).squeezed(-1)
        return select(valid, logits.logSumExp(axis: -1) - picked, 0)
    }

    func checkCrossEntropy(N: Int, D: Int, V: Int, ignore: Bool = false, dtype: DType = .float32,
                           tolerance: Float = 2e-5, seed: UInt64, file: StaticString = #filePath,
                           line: UInt = #line) throws {
        let keys = RandomKey(seed: seed).split(4)
        let h = Random.normal([N, D], key: keys[0]).asType(dtype)
        let w = (Random.normal([V, D], key: keys[1]) * 0.1).asType(dtype)
        var t = Random.randint(0, V, [N], key: keys[2])
        if ignore { t = select(Tensor.arange(N) % Tensor(5) .== 2, Tensor.full([N], -100, dtype: .int32), t) }
        let cot = Random.uniform([N], key: keys[3])
        let what = "N\(N) D\(D) V\(V) \(dtype)"

        // Both gradients (full fine-tuning) through vjp.
        let (loss, grads) = try vjp({ x in [FusedKernels.linearCrossEntropy(hidden: x[0], weight: x[1], targets: t)] },
                                    primals: [h, w], cotangents: [cot])
        let (refLoss, refGrads) = try vjp({ x in [self.referenceCrossEntropy(x[0], x[1], t)] },
                                          primals: [h.asType(.float32), w.asType(.float32)], cotangents: [cot])
        XCTAssertEqual(loss[0].dtype, .float32, what, file: file, line: line)
        try assertClose(loss[0], refLoss[0], tolerance, "\(what) loss", file: file, line: line)
        try assertClose(grads[0], refGrads[0], tolerance * 2, "\(what) dHidden", file: file, line: line)
        try assertClose(grads[1], refGrads[1], tolerance * 2, "\(what) dWeight", file: file, line: line)
        XCTAssertEqual(grads[0].dtype, dtype, what, file: file, line: line)
        XCTAssertEqual(grads[1].dtype, dtype, what, file: file, line: line)

        // Hidden only (LoRA: the weight is frozen), through valueAndGrad: the path that keeps the
        // softmax-weighted rows of W from the forward pass instead of a second vocabulary pass.
        let (value, dh) = try valueAndGrad({ x in
            [(FusedKernels.linearCrossEntropy(hidden: x[0], weight: w, targets: t) * cot).sum()]
        }, at: [h])
        try assertClose(value[0], (refLoss[0] * cot).sum(), tolerance, "\(what) value", file: file, line: line)
        try assertClose(dh[0], refGrads[0], tolerance * 2, "\(what) dHidden only", file: file, line: line)

        // Outside a transform (evaluation): the plain forward.
        try assertClose(FusedKernels.linearCrossEntropy(hidden: h, weight: w, targets: t), refLoss[0], tolerance,
                        "\(what) eval loss", file: file, line: line)
        if ignore {
            let ignored = try loss[0].toArray(Float.self).enumerated().filter { $0.offset % 5 == 2 }.map(\.element)
            XCTAssertEqual(ignored, [Float](repeating: 0, count: ignored.count), what, file: file, line: line)
        }
    }

    func testCrossEntropyMatchesFullLogits() throws {
        var seed: UInt64 = 100
        for N in [1, 33, 257] {
            for V in [1000, 50000] {
                try checkCrossEntropy(N: N, D: 64, V: V, ignore: N > 1, seed: seed)
                seed += 1
            }
        }
        // Vocabulary sizes around the 4096-column chunk, and a feature size off the vector width.
        for V in [4095, 4096, 4097, 8193] { try checkCrossEntropy(N: 9, D: 40, V: V, seed: seed + UInt64(V)) }
    }

    func testCrossEntropyInHalfPrecisionAndBatchedShapes() throws {
        try checkCrossEntropy(N: 33, D: 64, V: 3000, dtype: .bfloat16, tolerance: 1e-2, seed: 200)
        // [B, T, D] hidden states with [B, T] targets.
        let h = Random.normal([2, 5, 32], key: RandomKey(seed: 201))
        let w = Random.normal([300, 32], key: RandomKey(seed: 202)) * 0.2
        let t = Random.randint(0, 300, [2, 5], key: RandomKey(seed: 203))
        let loss = FusedKernels.linearCrossEntropy(hidden: h, weight: w, targets: t)
        XCTAssertEqual(loss.shape, [2, 5])
        try assertClose(loss, referenceCrossEntropy(h, w, t), 2e-5, "batched")
        // int64 targets.
        try assertClose(FusedKernels.linearCrossEntropy(hidden: h, weight: w, targets: t.asType(.int64)),
                        referenceCrossEntropy(h, w, t), 2e-5, "int64 targets")
    }

    func testCrossEntropyRejectsBadShapes() throws {
        let h = Tensor.zeros([4, 8]), w = Tensor.zeros([10, 7])
        let bad = FusedKernels.linearCrossEntropy(hidden: h, weight: w, targets: Tensor([0, 1, 2, 3]))
        XCTAssertThrowsError(try bad.check()) { error in
            XCTAssertTrue("\(error)".contains("features"), "\(error)")
        }
        let badTargets = FusedKernels.linearCrossEntropy(hidden: h, weight: Tensor.zeros([10, 8]), targets: Tensor([0, 1]))
        XCTAssertThrowsError(try badTargets.check())
    }
}
