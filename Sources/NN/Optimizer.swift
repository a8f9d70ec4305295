import Foundation
import Tensor

/// Updates a flat map of parameters from their gradients. State (moments, step) is kept per
/// parameter path, so an optimizer serves any model, any subset of trainable parameters
/// (adapters), and round-trips through `state()` / `loadState(_:)` for checkpoints.
public protocol Optimizer: AnyObject {
    /// The learning rate for the next step (a schedule sets it before each step).
    var learningRate: Double { get set }
    /// Steps taken so far.
    var step: Int { get }
    /// New values for the parameters that have gradients.
    func update(parameters: [String: Tensor], gradients: [String: Tensor]) -> [String: Tensor]
    /// Everything needed to resume: tensors keyed "<slot>.<parameter path>" plus "step".
    func state() -> [String: Tensor]
    func loadState(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// One step on a module's trainable parameters.
    public func apply(gradients: [String: Tensor], to model: Module) throws {
        let params = model.trainableParameters()
        let updated = update(parameters: params.filter { gradients[$0.key] != nil }, gradients: gradients)
        try model.update(parameters: updated)
    }

    /// The tensors that must be evaluated after an update (parameters and state).
    public func stateTensors() -> [Tensor] { Array(state().values) }
}

public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
}

/// Per-parameter slots ("m", "v", ...) and the step counter shared by the optimizers below.
public class SlottedState {
    public internal(set) var step = 0
    var slots: [String: [String: Tensor]] = [:]

    func slot(_ name: String, _ key: String) -> Tensor? { slots[name]?[key] }
    func setSlot(_ name: String, _ key: String, _ value: Tensor) { slots[name, default: [:]][key] = value }

    public func state() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor([step], dtype: .int64)]
        for (slot, values) in slots {
            for (k, v) in values { out["\(slot).\(k)"] = v }
        }
        return out
    }

    public func loadState(_ state: [String: Tensor]) throws {
        guard let s = state["step"] else { throw OptimizerStateError(description: "optimizer state has no step") }
        step = try s.toArray(Int64.self).first.map(Int.init) ?? 0
        slots = [:]
        for (key, value) in state where key != "step" {
            guard let dot = key.firstIndex(of: ".") else {
                throw OptimizerStateError(description: "optimizer state key \(key) has no slot prefix")
            }
            setSlot(String(key[..<dot]), String(key[key.index(after: dot)...]), value)
        }
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
/// p ← p − lr·wd·p − lr·m̂ / (√v̂ + ε).
public final class AdamW: SlottedState, Optimizer {
    public var learningRate: Double
    public var betas: (Double, Double)
    public var eps: Double
    public var weightDecay: Double
    public var biasCorrection: Bool

    public init(learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0.01, biasCorrection: Bool = true) {
        self.learningRate = learningRate
        self.betas = betas
        self.eps = eps
        self.weightDecay = weightDecay
        self.biasCorrection = biasCorrection
    }

    public func update(parameters: [String: Tensor], gradients: [String: Tensor]) -> [String: Tensor] {
        step += 1
        let (b1, b2) = betas
        let c1 = biasCorrection ? 1 - Foundation.pow(b1, Double(step)) : 1
        let c2 = biasCorrection ? 1 - Foundation.pow(b2, Double(step)) : 1
        var out: [String: Tensor] = [:]
        for (k, p) in parameters {
            guard let g0 = gradients[k] else { continue }
            let g = g0.asType(.float32)
            let m = (slot("m", k) ?? Tensor.zeros(like: g)) * b1 + g * (1 - b1)
            let v = (slot("v", k) ?? Tensor.zeros(like: g)) * b2 + g.square() * (1 - b2)
            setSlot("m", k, m)
            setSlot("v", k, v)
            let update = (m / c1) / ((v / c2).sqrt() + eps)
            var p32 = p.asType(.float32)
            if weightDecay != 0 { p32 = p32 * (1 - learningRate * weightDecay) }
            out[k] = (p32 - update * learningRate).asType(p.dtype)
        }
        return out
    }
}

/// Adam; `weightDecay` here is the classic L2 term added to the gradient (torch.optim.Adam).
public final class Adam: Optimizer {
    public var learningRate: Double { get { inner.learningRate } set { inner.learningRate = newValue } }
    public var weightDecay: Double
    private let inner: AdamW

    public init(learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0) {
        inner = AdamW(learningRate: learningRate, betas: betas, eps: eps, weightDecay: 0)
        self.weightDecay = weightDecay
    }

    public var step: Int { inner.step }

    public func update(parameters: [String: Tensor], gradients: [String: Tensor]) -> [String: Tensor] {
        guard weightDecay != 0 else { return inner.update(parameters: parameters, gradients: gradients) }
        var g = gradients
        for (k, p) in parameters { if let gk = g[k] { g[k] = gk + p * weightDecay } }
        return inner.update(parameters: parameters, gradients: g)
    }

    public func state() -> [String: Tensor] { inner.state() }
    public func loadState(_ state: [String: Tensor]) throws { try inner.loadState(state) }
}

/// Stochastic gradient descent with momentum (and Nesterov), as torch.optim.SGD with dampening 0.
public final class SGD: SlottedState, Optimizer {
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    public var nesterov: Bool

    public init(learningRate: Double, momentum: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func update(parameters: [String: Tensor], gradients: [String: Tensor]) -> [String: Tensor] {
        step += 1
        var out: [String: Tensor] = [:]
        for (k, p) in parameters {
            guard var g = gradients[k] else { continue }
            g = g.asType(.float32)
            let p32 = p.asType(.float32)
            if weightDecay != 0 { g = g + p32 * weightDecay }
            if momentum != 0 {
                let buf = slot("momentum", k).map { $0 * momentum + g } ?? g
                setSlot("momentum", k, buf)
                g = nesterov ? g + buf * momentum : buf
            }
            out[k] = (p32 - g * learningRate).asType(p.dtype)
        }
        return out
    }
}

/// Adafactor (Shazeer & Stern, 2018) as in Hugging Face transformers: second moments factored
/// into row and column statistics for matrices (memory O(n + m) instead of O(nm)), updates
/// clipped by their RMS, optional relative step size scaled by the parameter's RMS.
public final class Adafactor: SlottedState, Optimizer {
    /// Used when `relativeStep` is false.
    public var learningRate: Double
    public var eps: (Double, Double)
    public var clipThreshold: Double
    public var decayRate: Double
    public var beta1: Double?
    public var weightDecay: Double
    public var scaleParameter: Bool
    public var relativeStep: Bool
    public var warmupInit: Bool

    public init(learningRate: Double? = nil, eps: (Double, Double) = (1e-30, 1e-3), clipThreshold: Double = 1,
                decayRate: Double = -0.8, beta1: Double? = nil, weightDecay: Double = 0,
                scaleParameter: Bool = true, relativeStep: Bool? = nil, warmupInit: Bool = false) {
        self.learningRate = learningRate ?? 0
        self.eps = eps
        self.clipThreshold = clipThreshold
        self.decayRate = decayRate
        self.beta1 = beta1
        self.weightDecay = weightDecay
        self.scaleParameter = scaleParameter
        self.relativeStep = relativeStep ?? (learningRate == nil)
        self.warmupInit = warmupInit
    }

    static func rms(_ x: Tensor) -> Tensor { x.square().mean().sqrt() }

    public func update(parameters: [String: Tensor], gradients: [String: Tensor]) -> [String: Tensor] {
        step += 1
        let t = Double(step)
        let beta2t = 1 - Foundation.pow(t, decayRate)
        var rho = learningRate
        if relativeStep {
            rho = Swift.min(warmupInit ? 1e-6 * t : 1e-2, 1 / t.squareRoot())
        }
        var out: [String: Tensor] = [:]
        for (k, p0) in parameters {
            guard let g0 = gradients[k] else { continue }
            let p = p0.asType(.float32), g = g0.asType(.float32)
            var lr = Tensor(rho)
            if scaleParameter { lr = maximum(Adafactor.rms(p), eps.1) * rho }
            let g2 = g.square() + eps.0
            var u: Tensor
            if p.ndim >= 2 {
                let row = (slot("row", k) ?? Tensor.zeros(Array(g.shape.dropLast()))) * beta2t + g2.mean(axis: -1) * (1 - beta2t)
                var colShape = g.shape
                colShape.remove(at: colShape.count - 2)
                let col = (slot("col", k) ?? Tensor.zeros(colShape)) * beta2t + g2.mean(axis: -2) * (1 - beta2t)
                setSlot("row", k, row)
                setSlot("col", k, col)
                let rFactor = (row / row.mean(axis: -1, keepDims: true)).rsqrt().expandedDims(-1)
                let cFactor = col.rsqrt().expandedDims(-2)
                u = rFactor * cFactor * g
            } else {
                let v = (slot("v", k) ?? Tensor.zeros(like: g)) * beta2t + g2 * (1 - beta2t)
                setSlot("v", k, v)
                u = v.rsqrt() * g
            }
            u = u / maximum(Adafactor.rms(u) / clipThreshold, 1)
            u = u * lr
            if let b1 = beta1 {
                let m = (slot("m", k) ?? Tensor.zeros(like: u)) * b1 + u * (1 - b1)
                setSlot("m", k, m)
                u = m
            }
            var newP = p
            if weightDecay != 0 { newP = newP - p * lr * weightDecay }
            out[k] = (newP - u).asType(p0.dtype)
        }
        return out
    }
}
