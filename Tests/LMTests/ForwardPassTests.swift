import Foundation
import LM
import NN
import Tensor
import XCTest

/// The default model's logits against an independent float64 reference, and the equivalences
/// generation relies on: incremental decoding with a KV cache and left-padded batches.
final class ForwardPassTests: XCTestCase {
    static let prompts: [[Int]] = [
        [504, 3575, 282, 4649, 314],  // "The capital of France is"
        [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 30, 2, 198],
        [4093, 1842, 42, 2223, 253, 1378, 28, 17, 905, 1090, 41, 997, 281, 18, 18, 18, 2135],
    ]

    nonisolated(unsafe) static var model: (any LanguageModel)?

    func loadModel() throws -> any LanguageModel {
        if let m = Self.model { return m }
        try TestSupport.requireFile(TestSupport.smolGGUF)
        let m = try ModelLoader.load(TestSupport.smolGGUF).model
        Self.model = m
        return m
    }

    func testLogitsMatchFloat64Reference() throws {
        let model = try loadModel()
        let reference = try TestSupport.referenceLogits(gguf: TestSupport.smolGGUF, prompts: Self.prompts)
        for (prompt, ref) in zip(Self.prompts, reference) {
            let logits = try model(Tensor(prompt, shape: [1, prompt.count]))[0].floats()
            let vocab = ref[0].count
            var maxErr = 0.0, maxRef = 0.0
            for p in 0..<prompt.count {
                for v in 0..<vocab {
                    maxErr = max(maxErr, abs(Double(logits[p * vocab + v]) - ref[p][v]))
                    maxRef = max(maxRef, abs(ref[p][v]))
                }
            }
            XCTAssertLessThan(maxErr / maxRef, 1e-3, "prompt \(prompt): max error \(maxErr) against max |logit| \(maxRef)")
        }
        // The continuation of "The capital of France is" is " Paris" (token 7042).
        let last = try model(Tensor(Self.prompts[0], shape: [1, 5]))[0, -1].argMax(axis: -1).item(Int32.self)
        XCTAssertEqual(last, 7042)
    }

    func testIncrementalDecodingEqualsFullForward() throws {
        let model = try loadModel()
        let prompt = Self.prompts[2]
        let full = model(Tensor(prompt, shape: [1, prompt.count]))
        let cache = model.makeCache()
        let first = model(Tensor(Array(prompt.prefix(10)), shape: [1, 10]), options: ForwardOptions(cache: cache))
        var steps = [first]
        for t in prompt.dropFirst(10) {
            steps.append(model(Tensor([t], shape: [1, 1]), options: ForwardOptions(cache: cache)))
        }
        let incremental = concatenated(steps, axis: 1)
        XCTAssertLessThan(try (incremental - full).abs.max().float(), 1e-3)
    }

    func testExplicitPositionsAndBlockMaskReproduceSeparateSequences() throws {
        // Two prompts packed in one row, positions restarting at 0 and a block-diagonal causal
        // mask, give the same logits as the prompts run separately (what packing relies on).
        let model = try loadModel()
        let a = Self.prompts[0], b = Self.prompts[1]
        let row = a + b
        let segment = Array(repeating: 0, count: a.count) + Array(repeating: 1, count: b.count)
        let positions = Array(0..<a.count) + Array(0..<b.count)
        let n = row.count
        let seg = Tensor(segment)
        let idx = Tensor.arange(n)
        let mask = (seg.reshaped(n, 1) .== seg.reshaped(1, n)) .&& (idx.reshaped(1, n) .<= idx.reshaped(n, 1))
        let packed = model(Tensor(row, shape: [1, n]), options: ForwardOptions(
            mask: .array(mask.reshaped(1, 1, n, n)), positions: Tensor(positions, shape: [1, n])))
        let separate = concatenated([model(Tensor(a, shape: [1, a.count])), model(Tensor(b, shape: [1, b.count]))], axis: 1)
        XCTAssertLessThan(try (packed - separate).abs.max().float(), 1e-3)
    }

    func testLeftPaddedBatchGeneratesLikeSinglePrompts() throws {
        let model = try loadModel()
        let generator = Generator(model: model, sampling: .greedy, maxTokens: 12)
        let batched = try generator.generate(Self.prompts)
        for (i, prompt) in Self.prompts.enumerated() {
            let single = try generator.generate([prompt])
            XCTAssertEqual(batched.tokens[i], single.tokens[0], "prompt \(i)")
        }
        XCTAssertEqual(batched.tokens[0].first, 7042)  // " Paris"
        XCTAssertGreaterThan(batched.generationTokensPerSecond, 0)
    }

    func testSamplingRespectsTopKAndSeed() throws {
        let logits = Tensor([0, 1, 2, 3, 4, 5] as [Float]).broadcast(to: [200, 6])
        let topK = Sampler(SamplingParameters(temperature: 1, topK: 2))(logits, key: RandomKey(seed: 1))
        XCTAssertEqual(Set(try topK.ints()), [4, 5])
        let topP = Sampler(SamplingParameters(temperature: 1, topP: 0.5))(logits, key: RandomKey(seed: 1))
        // softmax([0..5]): p5 ≈ 0.636 ≥ 0.5, so top-p 0.5 keeps only token 5.
        XCTAssertEqual(Set(try topP.ints()), [5])
        let minP = Sampler(SamplingParameters(temperature: 1, minP: 0.3))(logits, key: RandomKey(seed: 2))
        // e^4/e^5 ≈ 0.37 ≥ 0.3 > e^3/e^5: tokens 4 and 5 survive.
        XCTAssertEqual(Set(try minP.ints()), [4, 5])
        let a = try Sampler(SamplingParameters(temperature: 1))(logits, key: RandomKey(seed: 7)).ints()
        let b = try Sampler(SamplingParameters(temperature: 1))(logits, key: RandomKey(seed: 7)).ints()
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(Set(a).count, 3)
        let penalised = Sampler(SamplingParameters(repetitionPenalty: 100))(
            Tensor([0, 1, 2, 3, 4, 5] as [Float], shape: [1, 6]), history: Tensor([5, 4], shape: [1, 2]), key: nil)
        XCTAssertEqual(try penalised.ints(), [3])
    }

    func testUnknownArchitectureAndMissingTensorAreNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pt-hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var config: [String: Any] = ["model_type": "mamba9", "hidden_size": 8, "intermediate_size": 16,
                                     "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 10]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try TensorIO.saveSafetensors(["x": Tensor.zeros([1])], to: dir.appendingPathComponent("model.safetensors").path)
        XCTAssertThrowsError(try ModelLoader.load(dir.path)) { XCTAssertTrue("\($0)".contains("mamba9"), "\($0)") }
        config["model_type"] = "llama"
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try ModelLoader.load(dir.path)) {
            XCTAssertTrue("\($0)".contains("missing tensor model.embed_tokens.weight"), "\($0)")
        }
    }
}
