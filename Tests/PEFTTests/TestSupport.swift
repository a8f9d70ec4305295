import Foundation
import LM
import NN
import PEFT
import Tensor
import XCTest

enum PEFTTestSupport {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let smolGGUF = root.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    /// The default model; a missing file is a failure (the setup step installs it), not a skip.
    static func loadSmolLM2(_ options: LoadOptions = LoadOptions()) throws -> any LanguageModel {
        guard FileManager.default.fileExists(atPath: smolGGUF) else {
            XCTFail("\(smolGGUF) is missing: run `make setup`")
            throw XCTSkip("missing \(smolGGUF)")
        }
        let model = try ModelLoader.load(smolGGUF, options: options).model
        model.eval()
        return model
    }
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posttrain-peft-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Float {
    XCTAssertEqual(a.shape, b.shape)
    return try (a.asType(.float32) - b.asType(.float32)).abs.max().float()
}

/// Compares engine results with values computed independently in Double.
func assertClose(_ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
    let values = try actual.asType(.float32).floats()
    guard values.count == expected.count else {
        return XCTFail("\(message()): \(values.count) values, expected \(expected.count)", file: file, line: line)
    }
    for (i, (a, e)) in zip(values, expected).enumerated() {
        let tol = atol + rtol * Swift.abs(e)
        if !(Swift.abs(Double(a) - e) <= tol) {
            return XCTFail("\(message()) [\(i)]: got \(a), expected \(e) (tolerance \(tol))", file: file, line: line)
        }
    }
}

/// Row-major [rows, cols] matrix of Doubles read back from a tensor.
func matrix(_ t: Tensor) throws -> [[Double]] {
    let cols = t.dim(-1)
    let flat = try t.asType(.float32).floats().map(Double.init)
    return stride(from: 0, to: flat.count, by: cols).map { Array(flat[$0..<($0 + cols)]) }
}

/// x Mᵀ for x [n, in], M [out, in].
func timesTransposed(_ x: [[Double]], _ m: [[Double]]) -> [[Double]] {
    x.map { row in m.map { w in zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } } }
}

/// M N for M [a, b], N [b, c].
func product(_ m: [[Double]], _ n: [[Double]]) -> [[Double]] {
    m.map { row in (0..<n[0].count).map { j in row.indices.reduce(0) { $0 + row[$1] * n[$1][j] } } }
}

/// A transformer-shaped toy with Hugging Face module names:
/// model.layers.{i}.self_attn.{q,v}_proj, model.layers.{i}.mlp.down_proj, lm_head.
final class ToyAttention: Module, @unchecked Sendable {
    @Child var qProj: any LinearLayer
    @Child var vProj: any LinearLayer

    init(_ d: Int, key: RandomKey) {
        let k = key.split()
        _qProj = Child(wrappedValue: Linear(d, d, bias: true, key: k[0]), key: "q_proj")
        _vProj = Child(wrappedValue: Linear(d, d, bias: false, key: k[1]), key: "v_proj")
        super.init()
    }
}

final class ToyMLP: Module, @unchecked Sendable {
    @Child var downProj: any LinearLayer

    init(_ d: Int, hidden: Int, key: RandomKey) {
        _downProj = Child(wrappedValue: Linear(hidden, d, bias: true, key: key), key: "down_proj")
        super.init()
    }
}

final class ToyBlock: Module, @unchecked Sendable {
    @Child var attention: ToyAttention
    @Child var mlp: ToyMLP

    init(_ d: Int, key: RandomKey) {
        let k = key.split()
        _attention = Child(wrappedValue: ToyAttention(d, key: k[0]), key: "self_attn")
        _mlp = Child(wrappedValue: ToyMLP(d, hidden: d, key: k[1]), key: "mlp")
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + silu(attention.qProj(x)) * attention.vProj(x)
        return h + mlp.downProj(silu(h))
    }
}

final class ToyStack: Module, @unchecked Sendable {
    let layers: [ToyBlock]

    init(_ d: Int, layers n: Int, key: RandomKey) {
        layers = key.split(n).map { ToyBlock(d, key: $0) }
        super.init()
    }
}

final class ToyModel: Module, @unchecked Sendable {
    @Child var model: ToyStack
    @Child var lmHead: any LinearLayer
    let dims: Int, vocab: Int

    init(dims: Int = 16, layers: Int = 3, vocab: Int = 24, seed: UInt64 = 1) {
        let k = RandomKey(seed: seed).split()
        self.dims = dims
        self.vocab = vocab
        _model = Child(wrappedValue: ToyStack(dims, layers: layers, key: k[0]), key: "model")
        _lmHead = Child(wrappedValue: Linear(dims, vocab, bias: false, key: k[1]), key: "lm_head")
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        lmHead(model.layers.reduce(x) { $1($0) })
    }

    /// Every linear layer's path, in model order.
    var linearPaths: [String] {
        modules().filter { $0.1 is any LinearLayer }.map(\.0)
    }
}

/// Sets every adapter's B (and DoRA's magnitude) to random values, so that adapters change the
/// output and merging/saving has something to preserve.
func randomizeAdapters(_ model: Module, seed: UInt64, std: Double = 0.05) throws {
    var key = RandomKey(seed: seed)
    var updates: [String: Tensor] = [:]
    for (path, p) in model.trainableParameters().sorted(by: { $0.key < $1.key }) where path.contains(".adapter.") {
        let k = key.split()
        key = k[0]
        if path.hasSuffix("lora_magnitude_vector") {
            updates[path] = p * (Random.normal(p.shape, std: 0.1, key: k[1]) + 1)
        } else if path.hasSuffix("lora_B") {
            updates[path] = Random.normal(p.shape, std: std, key: k[1])
        }
    }
    try model.update(parameters: updates)
    try eval(Array(updates.values))
}
