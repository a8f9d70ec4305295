import Foundation
import NN
import PEFT
import Tensor
import XCTest

/// End to end on a toy model: gradients reach only the adapters, AdamW lowers the loss, and the
/// frozen base weights do not move.
final class TrainingTests: XCTestCase {
    func train(dora: Bool) throws {
        let model = ToyModel(dims: 16, layers: 2, vocab: 24, seed: 7)
        let x = Random.normal([32, 16], key: RandomKey(seed: 21))
        let targets = Random.randint(0, 24, [32], key: RandomKey(seed: 22))
        let frozen = model.parameters()
        try Adapters.attach(PEFTConfig(r: 4, loraAlpha: 8, targetModules: .allLinear, useDora: dora), to: model, key: RandomKey(seed: 3))
        let adapterKeys = Set(model.trainableParameters().keys)

        func loss(_ tree: [String: Tensor]) throws -> Tensor {
            try model.update(parameters: tree)
            return Losses.crossEntropy(logits: model(x), targets: targets).mean
        }
        // Differentiate with respect to everything the optimizer may see: only adapters may get
        // gradients, the rest is held constant.
        let all = model.parameters()
        let (_, grads) = try valueAndGrad(loss, at: all, trainable: adapterKeys)
        try model.update(parameters: all)
        XCTAssertEqual(Set(grads.keys), adapterKeys)
        let bGrad = try grads.filter { $0.key.hasSuffix("lora_B") }.values.map { try $0.abs.max().float() }.max()!
        XCTAssertGreaterThan(bGrad, 0, "B receives gradient at initialisation (A is random)")

        let opt = AdamW(learningRate: 2e-2, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<40 {
            let params = model.trainableParameters()
            let (value, g) = try valueAndGrad(loss, at: params)
            try model.update(parameters: opt.update(parameters: params, gradients: g))
            try eval([value] + Array(model.parameters().values) + opt.stateTensors())
            losses.append(try value.float())
        }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertLessThan(losses.last!, 0.7 * losses.first!, "loss \(losses.first!) → \(losses.last!)")
        for (path, value) in frozen {
            XCTAssertTrue(try arrayEqual(model.parameters()[path]!, value), "\(path) is frozen but changed")
        }
    }

    func testLoRATrainsOnlyAdaptersAndLowersTheLoss() throws { try train(dora: false) }

    func testDoRATrainsOnlyAdaptersAndLowersTheLoss() throws { try train(dora: true) }
}
