import Foundation
import Tensor

/// Learning rate as a function of the step (0-based), with optional linear warmup.
public struct LRSchedule: Sendable, Codable, Equatable {
    public enum Decay: String, Sendable, Codable { case constant, linear, cosine }

    public var peak: Double
    public var warmupSteps: Int
    public var decay: Decay
    /// Steps over which the decay runs (after warmup ends the decay covers the remaining steps).
    public var totalSteps: Int
    /// Learning rate at the end of the decay, as a fraction of the peak.
    public var minRatio: Double
    /// Learning rate at step 0 of the warmup, as a fraction of the peak.
    public var warmupStartRatio: Double

    public init(peak: Double, decay: Decay = .constant, warmupSteps: Int = 0, totalSteps: Int = 0,
                minRatio: Double = 0, warmupStartRatio: Double = 0) {
        self.peak = peak
        self.decay = decay
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
        self.warmupStartRatio = warmupStartRatio
    }

    public static func constant(_ lr: Double) -> LRSchedule { LRSchedule(peak: lr) }

    public func callAsFunction(_ step: Int) -> Double {
        if step < warmupSteps {
            // Rises linearly from the start ratio at step 0 to the peak at step `warmupSteps`, as
            // transformers' get_*_schedule_with_warmup does.
            let frac = Double(step) / Double(warmupSteps)
            return peak * (warmupStartRatio + (1 - warmupStartRatio) * frac)
        }
        let span = Swift.max(1, totalSteps - warmupSteps)
        let progress = Swift.min(1, Double(step - warmupSteps) / Double(span))
        let minLR = peak * minRatio
        switch decay {
        case .constant: return peak
        case .linear: return minLR + (peak - minLR) * (1 - progress)
        case .cosine: return minLR + (peak - minLR) * 0.5 * (1 + Foundation.cos(Double.pi * progress))
        }
    }
}

/// Scales gradients so that their global L2 norm is at most `maxNorm`; returns the norm before
/// clipping (useful to log, and NaN when a gradient has NaNs).
public func clipGradNorm(_ gradients: [String: Tensor], maxNorm: Double) -> (gradients: [String: Tensor], norm: Tensor) {
    let norm = globalNorm(gradients)
    guard maxNorm > 0, maxNorm.isFinite else { return (gradients, norm) }
    let scale = minimum(Tensor(maxNorm) / (norm + 1e-6), Tensor(1.0))
    return (gradients.mapValues { ($0 * scale.asType($0.dtype)) }, norm)
}

public func globalNorm(_ tensors: [String: Tensor]) -> Tensor {
    var total = Tensor(0.0)
    for k in tensors.keys.sorted() { total = total + tensors[k]!.asType(.float32).square().sum() }
    return total.sqrt()
}
