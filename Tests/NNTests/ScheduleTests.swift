import Foundation
import NN
import Tensor
import XCTest

/// Learning-rate schedules against transformers' `get_*_schedule_with_warmup` formulas, and
/// gradient clipping against torch.nn.utils.clip_grad_norm_.
final class ScheduleTests: XCTestCase {
    func testConstantSchedule() {
        let s = LRSchedule.constant(3e-4)
        for step in [0, 1, 10, 1_000_000] { XCTAssertEqual(s(step), 3e-4, accuracy: 1e-18, "step \(step)") }
        let warm = LRSchedule(peak: 1e-3, decay: .constant, warmupSteps: 4, totalSteps: 100)
        for step in [4, 5, 50, 100, 500] { XCTAssertEqual(warm(step), 1e-3, accuracy: 1e-18, "step \(step)") }
    }

    func testLinearDecayAfterWarmup() {
        // Warmup 10, total 110: the decay runs over steps 10…110, lr = peak·(110 − step)/100.
        let s = LRSchedule(peak: 1e-3, decay: .linear, warmupSteps: 10, totalSteps: 110)
        let hand: [(Int, Double)] = [(10, 1e-3), (35, 0.75e-3), (60, 0.5e-3), (100, 0.1e-3), (110, 0), (500, 0)]
        for (step, lr) in hand { XCTAssertEqual(s(step), lr, accuracy: 1e-15, "linear, step \(step)") }
        // With a floor: min + (peak − min)·(1 − progress).
        let floored = LRSchedule(peak: 2e-4, decay: .linear, warmupSteps: 0, totalSteps: 40, minRatio: 0.25)
        XCTAssertEqual(floored(0), 2e-4, accuracy: 1e-18)
        XCTAssertEqual(floored(10), 0.5e-4 + 1.5e-4 * 0.75, accuracy: 1e-18)
        XCTAssertEqual(floored(40), 0.5e-4, accuracy: 1e-18)
        XCTAssertEqual(floored(41), 0.5e-4, accuracy: 1e-18)
    }

    func testCosineDecayAfterWarmup() {
        // progress p = (step − 10)/100; lr = min + (peak − min)·(1 + cos πp)/2 with min = 0.1·peak.
        let s = LRSchedule(peak: 1e-3, decay: .cosine, warmupSteps: 10, totalSteps: 110, minRatio: 0.1)
        let hand: [(Int, Double)] = [
            (10, 1e-3),
            (35, 1e-4 + 9e-4 * (1 + 0.5.squareRoot()) / 2),  // p = 1/4: cos = √½
            (60, 1e-4 + 9e-4 * 0.5),                           // p = 1/2
            (85, 1e-4 + 9e-4 * (1 - 0.5.squareRoot()) / 2),  // p = 3/4
            (110, 1e-4), (1000, 1e-4),
        ]
        for (step, lr) in hand { XCTAssertEqual(s(step), lr, accuracy: 1e-15, "cosine, step \(step)") }
        // Without a floor it reaches zero, as get_cosine_schedule_with_warmup does.
        let zero = LRSchedule(peak: 5e-5, decay: .cosine, totalSteps: 8)
        XCTAssertEqual(zero(0), 5e-5, accuracy: 1e-18)
        XCTAssertEqual(zero(2), 5e-5 * (1 + 0.5.squareRoot()) / 2, accuracy: 1e-18)
        XCTAssertEqual(zero(8), 0, accuracy: 1e-18)
    }

    func testWarmupFollowsTransformersAndTheDocumentedStartRatio() {
        // transformers: lr(step) = peak·step/warmup for step < warmup, so step 0 gets 0 and the
        // peak arrives at step == warmup. LRSchedule.warmupStartRatio is documented as "learning
        // rate at step 0 of the warmup, as a fraction of the peak": r + (1 − r)·step/warmup.
        // NN/Schedule.swift (callAsFunction) uses (step + 1)/warmup instead: one step ahead of both.
        for decay in [LRSchedule.Decay.constant, .linear, .cosine] {
            let s = LRSchedule(peak: 1e-3, decay: decay, warmupSteps: 10, totalSteps: 110)
            XCTAssertEqual(s(0), 0, accuracy: 1e-15, "\(decay): warmup step 0 (transformers gives 0)")
            XCTAssertEqual(s(5), 0.5e-3, accuracy: 1e-15, "\(decay): warmup step 5")
            XCTAssertEqual(s(9), 0.9e-3, accuracy: 1e-15, "\(decay): warmup step 9")
            XCTAssertEqual(s(10), 1e-3, accuracy: 1e-15, "\(decay): first step after warmup")
        }
        let ratio = LRSchedule(peak: 1e-3, decay: .cosine, warmupSteps: 4, totalSteps: 20, warmupStartRatio: 0.1)
        XCTAssertEqual(ratio(0), 1e-4, accuracy: 1e-15, "warmupStartRatio is the rate at step 0")
        XCTAssertEqual(ratio(2), 1e-4 + 9e-4 * 0.5, accuracy: 1e-15)
        XCTAssertEqual(ratio(4), 1e-3, accuracy: 1e-15)
    }

    func testScheduleIsCodable() throws {
        let s = LRSchedule(peak: 2e-5, decay: .cosine, warmupSteps: 7, totalSteps: 300, minRatio: 0.05, warmupStartRatio: 0.01)
        let back = try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
    }

    func testClipGradNormScalesToMaxNormAndReportsThePreClipNorm() throws {
        // ‖(3, 4, 12)‖ = 13 across two tensors.
        let grads = ["a": Tensor([3, 4] as [Float]), "b": Tensor([12] as [Float], shape: [1, 1])]
        let (clipped, norm) = clipGradNorm(grads, maxNorm: 6.5)
        try assertClose(norm, 13)
        let scale = 6.5 / (13 + 1e-6)  // torch's clip_coef
        try assertClose(clipped["a"]!, [3 * scale, 4 * scale])
        try assertClose(clipped["b"]!, [12 * scale])
        XCTAssertEqual(clipped["b"]!.shape, [1, 1])
        try assertClose(globalNorm(clipped), 6.5, rtol: 1e-6)

        // Below the threshold nothing changes.
        let (same, n2) = clipGradNorm(grads, maxNorm: 20)
        try assertClose(n2, 13)
        try assertClose(same["a"]!, [3, 4])
        try assertClose(same["b"]!, [12])

        // Half-precision gradients stay half precision; the norm is accumulated in float32.
        let half = ["h": Tensor([30, 40] as [Float]).asType(.bfloat16)]
        let (h, hn) = clipGradNorm(half, maxNorm: 1)
        XCTAssertEqual(h["h"]!.dtype, .bfloat16)
        XCTAssertEqual(hn.dtype, .float32)
        try assertClose(hn, 50)
        try assertClose(h["h"]!, [0.6, 0.8], rtol: 4e-3)

        // A non-finite max norm disables clipping but still reports the norm.
        let (untouched, n3) = clipGradNorm(grads, maxNorm: .infinity)
        try assertClose(n3, 13)
        try assertClose(untouched["b"]!, [12])
    }
}
