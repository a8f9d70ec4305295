import Foundation
@testable import LM
import Tensor
import XCTest

/// Llama, Qwen2 (q/k/v biases, tied embeddings), Qwen3 (q/k RMSNorm) and Llama 3.1 rope scaling,
/// loaded from sharded Hugging Face safetensors, against an independent float64 numpy forward pass.
final class HFArchitectureTests: XCTestCase {
    let prompts: [[Int]] = [[1, 5, 77, 200, 3, 3, 150], Array(0..<90).map { ($0 * 37) % 300 }]

    func check(_ arch: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pt-hf-\(arch)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ids = dir.appendingPathComponent("ids.json"), out = dir.appendingPathComponent("logits.json")
        try JSONSerialization.data(withJSONObject: prompts).write(to: ids)
        let model = dir.appendingPathComponent("model")
        try TestSupport.python(TestSupport.root.appendingPathComponent("Tests/LMTests/Reference/hf_forward.py").path,
                               [arch, model.path, ids.path, out.path])
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [[[Double]]]
        let (lm, config) = try HFLoader.load(model, options: LoadOptions())
        XCTAssertEqual(config.modelType, arch == "llama3" ? "llama" : arch)
        for (prompt, ref) in zip(prompts, reference) {
            let logits = try lm(Tensor(prompt, shape: [1, prompt.count]))[0].floats()
            let vocab = ref[0].count
            var maxErr = 0.0, maxRef = 0.0
            for p in 0..<prompt.count {
                for v in 0..<vocab {
                    maxErr = max(maxErr, abs(Double(logits[p * vocab + v]) - ref[p][v]))
                    maxRef = max(maxRef, abs(ref[p][v]))
                }
            }
            XCTAssertLessThan(maxErr / maxRef, 1e-4, "\(arch): max error \(maxErr) of \(maxRef)")
        }
    }

    func testLlama() throws { try check("llama") }
    func testQwen2BiasesAndTiedEmbeddings() throws { try check("qwen2") }
    func testQwen3QKNorm() throws { try check("qwen3") }
    func testLlama3RopeScaling() throws { try check("llama3") }
}
