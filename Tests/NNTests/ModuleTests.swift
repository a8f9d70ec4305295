import Foundation
import NN
import Tensor
import XCTest

// A small transformer-shaped tree: nested modules, a @Child with a checkpoint name, an array of
// blocks, optional children and optional biases, a parameter with its own checkpoint key.
final class ToyAttention: Module, @unchecked Sendable {
    @Child var qProj: Linear
    @Child var oProj: Linear

    init(_ d: Int, key: RandomKey) {
        let k = key.split()
        _qProj = Child(wrappedValue: Linear(d, d, bias: true, key: k[0]), key: "q_proj")
        _oProj = Child(wrappedValue: Linear(d, d, bias: false, key: k[1]), key: "o_proj")
        super.init()
    }
}

final class ToyBlock: Module, @unchecked Sendable {
    @Child var attention: ToyAttention
    let norm: RMSNorm
    let dropout: Dropout

    init(_ d: Int, key: RandomKey) {
        _attention = Child(wrappedValue: ToyAttention(d, key: key), key: "self_attn")
        norm = RMSNorm(d)
        dropout = Dropout(0.5)
        super.init()
    }
}

final class ToyModel: Module, @unchecked Sendable {
    let embed: Embedding
    let layers: [ToyBlock]
    let head: Linear?
    let unusedHead: Linear?
    @Parameter(key: "logit_scale") var scale = Tensor([1.0] as [Float])

    init(vocab: Int = 10, d: Int = 4, layers n: Int = 2, head: Bool = true) {
        let keys = RandomKey(seed: 3).split(n + 2)
        embed = Embedding(vocab, d, key: keys[0])
        layers = (0..<n).map { ToyBlock(d, key: keys[$0 + 1]) }
        self.head = head ? Linear(d, vocab, bias: false, key: keys[n + 1]) : nil
        unusedHead = nil
        super.init()
    }
}

/// Holds its blocks in an array and lets adapters replace them, as `setArrayElement` asks.
final class BlockList: Module, @unchecked Sendable {
    var blocks: [Linear]

    init(_ count: Int) {
        blocks = (0..<count).map { Linear(2, 2, key: RandomKey(seed: UInt64($0))) }
        super.init()
    }

    override func setArrayElement(_ name: String, _ index: Int, _ module: Module) -> Bool {
        guard name == "blocks", blocks.indices.contains(index), let linear = module as? Linear else { return false }
        blocks[index] = linear
        return true
    }
}

final class ModuleTests: XCTestCase {
    let expectedPaths: Set<String> = [
        "embed.weight", "logit_scale", "head.weight",
        "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.bias", "layers.0.self_attn.o_proj.weight",
        "layers.0.norm.weight",
        "layers.1.self_attn.q_proj.weight", "layers.1.self_attn.q_proj.bias", "layers.1.self_attn.o_proj.weight",
        "layers.1.norm.weight",
    ]

    func testFlattenedPathsAndCounts() throws {
        let model = ToyModel()
        let params = model.parameters()
        XCTAssertEqual(Set(params.keys), expectedPaths)
        XCTAssertEqual(params["layers.1.self_attn.q_proj.weight"]?.shape, [4, 4])
        XCTAssertEqual(params["layers.0.self_attn.q_proj.bias"]?.shape, [4])
        XCTAssertEqual(params["head.weight"]?.shape, [10, 4])
        // 40 embed + 1 scale + 40 head + per block (16 + 4 + 16 + 4).
        XCTAssertEqual(model.parameterCount(), 40 + 1 + 40 + 2 * 40)
        XCTAssertEqual(model.trainableParameterCount(), model.parameterCount())

        // An absent optional child contributes nothing.
        let headless = ToyModel(head: false)
        XCTAssertEqual(Set(headless.parameters().keys), expectedPaths.subtracting(["head.weight"]))

        // Module paths: parents first, arrays by index.
        let modulePaths = model.modules().map(\.0)
        XCTAssertEqual(modulePaths.first, "")
        for p in ["embed", "layers.0", "layers.0.self_attn", "layers.0.self_attn.q_proj", "layers.1.dropout", "head"] {
            XCTAssertTrue(modulePaths.contains(p), p)
        }
        XCTAssertLessThan(modulePaths.firstIndex(of: "layers.0")!, modulePaths.firstIndex(of: "layers.0.self_attn.q_proj")!)

        // Sequential exposes its layers the same way.
        let seq = Sequential([(Linear(2, 3, key: RandomKey(seed: 1)), { $0 }), (Linear(3, 1, bias: false, key: RandomKey(seed: 2)), { $0 })])
        XCTAssertEqual(Set(seq.parameters().keys), ["layers.0.weight", "layers.0.bias", "layers.1.weight"])
    }

    func testUpdateReplacesValuesByPath() throws {
        let model = ToyModel()
        let newBias = Tensor([1, 2, 3, 4] as [Float])
        try model.update(parameters: ["layers.1.self_attn.q_proj.bias": newBias, "logit_scale": Tensor([2] as [Float])])
        try assertClose(model.layers[1].attention.qProj.bias!.value, [1, 2, 3, 4])
        try assertClose(model.scale, [2])
        try assertClose(model.parameters()["layers.1.self_attn.q_proj.bias"]!, [1, 2, 3, 4])
        // Other parameters are untouched.
        XCTAssertFalse(try arrayEqual(model.layers[0].attention.qProj.bias!.value, newBias))
    }

    func testUpdateRejectsUnknownKeysAndWrongShapes() throws {
        let model = ToyModel()
        XCTAssertThrowsError(try model.update(parameters: ["layers.2.norm.weight": Tensor.ones([4])])) { error in
            XCTAssertEqual(error as? ModuleError, .unknownParameter("layers.2.norm.weight"))
            XCTAssertTrue(String(describing: error).contains("layers.2.norm.weight"))
        }
        XCTAssertThrowsError(try model.update(parameters: ["embed.weight": Tensor.zeros([10, 5])])) { error in
            XCTAssertEqual(error as? ModuleError, .shapeMismatch("embed.weight", expected: [10, 4], got: [10, 5]))
            XCTAssertTrue(String(describing: error).contains("embed.weight"))
        }
        // Not strict: unknown keys are skipped, known ones applied.
        try model.update(parameters: ["nope": Tensor.ones([1]), "logit_scale": Tensor([3] as [Float])], strict: false)
        try assertClose(model.scale, [3])
    }

    func testRejectedUpdateLeavesTheModelUnchanged() throws {
        // A strict update that throws must not have applied part of the map: a half-loaded
        // checkpoint is worse than none. Every valid key is in the map beside one bad entry, so a
        // partial update shows unless the bad key happens to be visited first (1 in 12 per trial).
        var partial = 0
        for trial in 0..<8 {
            let model = ToyModel()
            let before = model.parameters()
            var map = before.mapValues { $0 + 1 }
            if trial % 2 == 0 { map["no.such.parameter"] = Tensor.ones([1]) } else { map["embed.weight"] = Tensor.zeros([3, 3]) }
            XCTAssertThrowsError(try model.update(parameters: map))
            let after = model.parameters()
            if try before.contains(where: { try !arrayEqual($0.value, after[$0.key]!) }) { partial += 1 }
        }
        XCTAssertEqual(partial, 0, "Module.update(parameters:strict:) assigned valid entries before throwing on a bad one in \(partial)/8 trials (NN/Module.swift: validate every key and shape before assigning any)")
    }

    func testReplaceModuleAtChildPaths() throws {
        let model = ToyModel()
        let replacement = Linear(weight: Tensor.ones([4, 4]))
        try model.replaceModule(at: "layers.1.self_attn.q_proj", with: replacement)
        XCTAssertTrue(model.layers[1].attention.qProj === replacement)
        // The new layer has no bias, so the tree loses that path and gains nothing else.
        XCTAssertEqual(Set(model.parameters().keys), expectedPaths.subtracting(["layers.1.self_attn.q_proj.bias"]))
        try assertClose(model.parameters()["layers.1.self_attn.q_proj.weight"]!, Array(repeating: 1, count: 16))

        XCTAssertThrowsError(try model.replaceModule(at: "layers.0.missing.q_proj", with: replacement)) { error in
            XCTAssertEqual(error as? ModuleError, .unknownModule("layers.0.missing.q_proj"))
        }
        // `let embed` is not a replaceable slot.
        XCTAssertThrowsError(try model.replaceModule(at: "embed", with: Embedding(10, 4))) { error in
            XCTAssertEqual(error as? ModuleError, .notReplaceable("embed"))
        }
    }

    func testReplaceModuleAtArrayElement() throws {
        // Module.replaceModule documents array elements as replaceable through setArrayElement.
        let list = BlockList(3)
        let replacement = Linear(weight: Tensor.full([2, 2], 7))
        XCTAssertNoThrow(try list.replaceModule(at: "blocks.1", with: replacement),
                         "NN/Module.swift replaceModule looks up a module at the array's own path (\"blocks\"), which never exists, and throws unknownModule before trying setArrayElement")
        XCTAssertTrue(list.blocks[1] === replacement)
    }

    func testFreezeAndUnfreezeByPattern() throws {
        let model = ToyModel()
        let total = model.parameterCount()

        // A plain name matches that path component anywhere.
        model.freeze(["embed"])
        XCTAssertEqual(model.trainableParameterCount(), total - 40)
        XCTAssertNil(model.trainableParameters()["embed.weight"])
        model.freeze(["bias"])
        XCTAssertEqual(Set(model.trainableParameters().keys),
                       expectedPaths.subtracting(["embed.weight", "layers.0.self_attn.q_proj.bias", "layers.1.self_attn.q_proj.bias"]))
        model.unfreeze()
        XCTAssertEqual(model.trainableParameterCount(), total)

        // `*` stays within one component: it selects both blocks' q_proj weights, not o_proj's.
        model.freeze(["layers.*.self_attn.q_proj.weight"])
        XCTAssertEqual(model.trainableParameterCount(), total - 2 * 16)
        XCTAssertNotNil(model.trainableParameters()["layers.0.self_attn.o_proj.weight"])
        model.unfreeze()
        model.freeze(["layers.*.weight"])  // matches nothing: the weights sit deeper
        XCTAssertEqual(model.trainableParameterCount(), total)

        // `**` crosses dots.
        model.freeze(["layers.**.weight"])
        XCTAssertEqual(Set(model.trainableParameters().keys),
                       ["embed.weight", "logit_scale", "head.weight", "layers.0.self_attn.q_proj.bias", "layers.1.self_attn.q_proj.bias"])

        // Everything frozen, then only biases (LoRA-style "train a subset") come back.
        model.freeze()
        XCTAssertEqual(model.trainableParameterCount(), 0)
        model.unfreeze(["**.bias"])
        XCTAssertEqual(Set(model.trainableParameters().keys), ["layers.0.self_attn.q_proj.bias", "layers.1.self_attn.q_proj.bias"])
        XCTAssertEqual(model.trainableParameterCount(), 8)
        // Freezing never hides parameters from the full tree (checkpoints need them all).
        XCTAssertEqual(Set(model.parameters().keys), expectedPaths)

        // Freezing a child from its own handle is seen from the root.
        let m2 = ToyModel()
        m2.layers[1].freeze()
        XCTAssertEqual(m2.trainableParameterCount(), total - 40)
    }

    func testPathPatterns() {
        XCTAssertTrue(PathPattern.matches("q_proj", "layers.3.self_attn.q_proj.weight"))
        XCTAssertTrue(PathPattern.matches("layers.3", "layers.3.self_attn.q_proj.weight"))
        XCTAssertFalse(PathPattern.matches("layers.3", "layers.30.mlp.weight"))
        XCTAssertFalse(PathPattern.matches("proj", "layers.3.self_attn.q_proj.weight"))
        XCTAssertTrue(PathPattern.matches("layers.*.mlp.*", "layers.12.mlp.up_proj"))
        XCTAssertFalse(PathPattern.matches("layers.*.weight", "layers.1.mlp.weight"))
        XCTAssertTrue(PathPattern.matches("**.weight", "layers.1.mlp.weight"))
        XCTAssertTrue(PathPattern.matches("layers.**", "layers.1.mlp.weight"))
        XCTAssertFalse(PathPattern.matches("layers.**", "embed.weight"))
        XCTAssertTrue(PathPattern.matches("*_proj.weight", "q_proj.weight"))
        XCTAssertTrue(PathPattern.matches("layers.?.mlp", "layers.7.mlp"))
        XCTAssertFalse(PathPattern.matches("layers.?.mlp", "layers.17.mlp"))
    }

    func testTrainEvalPropagatesAndControlsDropout() throws {
        let model = ToyModel()
        XCTAssertTrue(model.modules().allSatisfy { $0.1.training })
        model.eval()
        XCTAssertTrue(model.modules().allSatisfy { !$0.1.training })
        let x = Random.normal([64, 4], key: RandomKey(seed: 8))
        XCTAssertTrue(try arrayEqual(model.layers[0].dropout(x), x), "dropout is the identity in eval mode")
        model.train()
        XCTAssertTrue(model.modules().allSatisfy { $0.1.training })
        XCTAssertFalse(try arrayEqual(model.layers[0].dropout(x), x))
    }

    func testDropoutZeroesAboutPAndKeepsTheMean() throws {
        let n = 40_000
        for p in [0.1, 0.3, 0.5] {
            let dropout = Dropout(p, key: RandomKey(seed: 21))
            let y = try dropout(Tensor.ones([n])).floats()
            let zeros = Double(y.filter { $0 == 0 }.count) / Double(n)
            // Binomial standard deviation of the fraction is √(p(1−p)/n) ≤ 0.0025: allow 4σ.
            XCTAssertEqual(zeros, p, accuracy: 0.01, "fraction dropped at p = \(p)")
            // Survivors are scaled by 1/(1−p), so the expectation is unchanged.
            XCTAssertTrue(y.allSatisfy { $0 == 0 || Swift.abs(Double($0) - 1 / (1 - p)) < 1e-6 })
            let mean = y.reduce(0.0) { $0 + Double($1) } / Double(n)
            XCTAssertEqual(mean, 1, accuracy: 0.03, "mean after dropout at p = \(p)")
            // The key advances, so the next call draws a different mask.
            let again = try dropout(Tensor.ones([n])).floats()
            XCTAssertNotEqual(again, y)
        }
        // Seeded dropout repeats exactly.
        let a = try Dropout(0.5, key: RandomKey(seed: 4))(Tensor.ones([100])).floats()
        let b = try Dropout(0.5, key: RandomKey(seed: 4))(Tensor.ones([100])).floats()
        XCTAssertEqual(a, b)
        // p = 0 is the identity even in training.
        let x = Random.normal([10], key: RandomKey(seed: 1))
        XCTAssertTrue(try arrayEqual(Dropout(0)(x), x))
    }
}
