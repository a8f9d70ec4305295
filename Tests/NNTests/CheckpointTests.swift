import Foundation
import NN
import Tensor
import XCTest

/// Parameter trees and optimizer state through safetensors files: what checkpoint/resume relies on.
final class CheckpointTests: XCTestCase {
    func testModuleParametersRoundTripBitwiseInSeveralDtypes() throws {
        let dir = try temporaryDirectory(self)
        let model = ToyModel()
        // Mixed precisions, as a real checkpoint has them; include values that expose rounding
        // (subnormal-adjacent, negative zero, large magnitudes).
        try model.update(parameters: [
            "embed.weight": model.embed.weight.asType(.bfloat16),
            "layers.0.norm.weight": Tensor([-0.0, 1e-7, 65504, -3.140625] as [Float]).asType(.float16),
            "layers.1.norm.weight": Tensor([1.0000001, -2.5e-38, 3.4e38, 0.1] as [Float]),
            "head.weight": model.head!.weight.asType(.float16),
        ])
        let saved = model.parameters()
        let path = dir.appendingPathComponent("model.safetensors").path
        try TensorIO.saveSafetensors(saved, to: path, metadata: ["format": "pt"])

        let (loaded, meta) = try TensorIO.loadSafetensors(path)
        XCTAssertEqual(meta["format"], "pt")
        XCTAssertEqual(Set(loaded.keys), Set(saved.keys))

        let fresh = ToyModel()
        // Dtypes differ from the fresh model's float32, shapes do not: update accepts them.
        try fresh.update(parameters: loaded)
        let restored = fresh.parameters()
        for (k, v) in saved { try assertBitwiseEqual(restored[k]!, v, k) }
        XCTAssertEqual(restored["embed.weight"]?.dtype, .bfloat16)
        XCTAssertEqual(restored["layers.0.norm.weight"]?.dtype, .float16)
        XCTAssertEqual(try restored["layers.0.norm.weight"]!.asType(.float32).floats().first?.sign, .minus)

        // The restored model computes exactly what the saved one did.
        let ids = Tensor([1, 7, 3], shape: [1, 3])
        let h1 = model.head!(model.embed(ids).asType(.float16)), h2 = fresh.head!(fresh.embed(ids).asType(.float16))
        try assertBitwiseEqual(h1, h2, "head output")
    }

    /// Takes `warm` steps, saves the state, loads it into `fresh`, then checks the next update is
    /// bit-for-bit the same for both.
    func checkResume(_ make: () -> Optimizer, name: String, warm: Int = 3) throws {
        let dir = try temporaryDirectory(self)
        let model = TinyMLP(inputs: 3, hidden: 5, outputs: 2, seed: 9)
        let gradKeys = Array(model.trainableParameters().keys).sorted()
        func grads(_ step: Int) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (i, k) in gradKeys.enumerated() {
                let shape = model.parameters()[k]!.shape
                out[k] = Random.normal(shape, key: RandomKey(seed: UInt64(100 * step + i)))
            }
            return out
        }
        let opt = make()
        var params = model.trainableParameters()
        for s in 0..<warm {
            params = opt.update(parameters: params, gradients: grads(s))
            try eval(Array(params.values) + opt.stateTensors())
        }
        let path = dir.appendingPathComponent("optimizer.safetensors").path
        try TensorIO.saveSafetensors(opt.state(), to: path)
        let resumed = make()
        try resumed.loadState(TensorIO.loadSafetensors(path).tensors)
        XCTAssertEqual(resumed.step, warm, name)
        XCTAssertEqual(Set(resumed.state().keys), Set(opt.state().keys), name)

        let g = grads(warm)
        let a = opt.update(parameters: params, gradients: g)
        let b = resumed.update(parameters: params, gradients: g)
        XCTAssertEqual(Set(a.keys), Set(gradKeys), name)
        for k in gradKeys {
            try assertBitwiseEqual(a[k]!, b[k]!, "\(name) \(k)")
            XCTAssertFalse(try arrayEqual(a[k]!, params[k]!), "\(name) \(k): the step changed nothing")
        }
        // A fresh optimizer without the state would have taken a different step.
        let cold = make()
        let c = cold.update(parameters: params, gradients: g)
        XCTAssertFalse(try gradKeys.allSatisfy { try arrayEqual(c[$0]!, a[$0]!) }, "\(name): state had no effect")
    }

    func testOptimizerStateRoundTripGivesIdenticalNextUpdate() throws {
        try checkResume({ AdamW(learningRate: 0.01, weightDecay: 0.1) }, name: "AdamW")
        try checkResume({ Adam(learningRate: 0.01, weightDecay: 0.05) }, name: "Adam")
        try checkResume({ SGD(learningRate: 0.01, momentum: 0.9, nesterov: true) }, name: "SGD")
        try checkResume({ Adafactor() }, name: "Adafactor (relative step)")
        try checkResume({ Adafactor(learningRate: 0.01, beta1: 0.9, scaleParameter: false) }, name: "Adafactor (β₁)")
    }

    func testLoadStateRejectsMalformedState() {
        XCTAssertThrowsError(try AdamW().loadState(["m.w": Tensor.zeros([2])]))  // no step
        XCTAssertThrowsError(try AdamW().loadState(["step": Tensor([1], dtype: .int64), "nodot": Tensor.zeros([2])]))
    }
}
