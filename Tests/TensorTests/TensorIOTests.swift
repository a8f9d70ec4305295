import Foundation
import Tensor
import XCTest

final class TensorIOTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("posttrain-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSafetensorsRoundTripIsExact() throws {
        let key = RandomKey(seed: 9)
        let tree: [String: Tensor] = [
            "model.layers.0.weight": Random.normal([7, 5], key: key),
            "model.layers.0.bias": Random.normal([5], key: key.split()[1]).asType(.bfloat16),
            "model.embed.weight": Random.normal([11, 3], key: key.split()[0]).asType(.float16),
            "step": Tensor([42], dtype: .int64),
            "mask": Tensor([true, false, true]),
        ]
        let path = dir.appendingPathComponent("tree.safetensors").path
        try TensorIO.saveSafetensors(tree, to: path, metadata: ["format": "pt", "note": "round trip"])
        let (loaded, meta) = try TensorIO.loadSafetensors(path)
        XCTAssertEqual(meta["note"], "round trip")
        XCTAssertEqual(Set(loaded.keys), Set(tree.keys))
        for (k, t) in tree {
            let l = loaded[k]!
            XCTAssertEqual(l.shape, t.shape, k)
            XCTAssertEqual(l.dtype, t.dtype, k)
            XCTAssertTrue(try arrayEqual(l, t), k)
        }
        // No temporary files are left behind by the atomic write.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["tree.safetensors"])
    }

    func testMissingAndCorruptFilesAreSwiftErrors() throws {
        let missing = dir.appendingPathComponent("nope.safetensors").path
        XCTAssertThrowsError(try TensorIO.loadSafetensors(missing)) { error in
            XCTAssertTrue(String(describing: error).contains("nope.safetensors"))
            XCTAssertTrue(String(describing: error).contains("no such file"))
        }
        XCTAssertThrowsError(try TensorIO.loadGGUF(dir.appendingPathComponent("nope.gguf").path))
        let corrupt = dir.appendingPathComponent("bad.safetensors")
        try Data("this is not a safetensors file at all".utf8).write(to: corrupt)
        XCTAssertThrowsError(try TensorIO.loadSafetensors(corrupt.path)) { error in
            XCTAssertTrue(String(describing: error).contains("bad.safetensors"), "\(error)")
        }
        let badGGUF = dir.appendingPathComponent("bad.gguf")
        try Data(repeating: 7, count: 64).write(to: badGGUF)
        XCTAssertThrowsError(try TensorIO.loadGGUF(badGGUF.path))
    }

    func testDefaultGGUFModelLoadsWithExpectedShapes() throws {
        let path = repoRoot().appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("\(path) is missing: run `make setup`")
        }
        let tensors = try TensorIO.loadGGUF(path)
        // 30 layers × (2 norms + 7 quantized linears × 3 parts) + embedding (Q8_0: 3 parts) + final norm.
        XCTAssertEqual(tensors.count, 30 * (2 + 7 * 3) + 3 + 1)
        let embed = tensors["token_embd.weight"]!
        XCTAssertEqual(embed.dtype, .uint32)
        XCTAssertEqual(embed.shape, [49152, 576 * 8 / 32])  // 8-bit values packed in uint32
        XCTAssertEqual(tensors["token_embd.scales"]!.shape, [49152, 576 / 32])
        let q = tensors["blk.0.attn_q.weight"]!
        XCTAssertEqual(q.shape, [576, 576 * 4 / 32])  // Q4_1: 4-bit
        XCTAssertEqual(tensors["blk.0.attn_k.scales"]!.shape, [192, 576 / 32])
        XCTAssertEqual(tensors["blk.0.ffn_down.biases"]!.shape, [576, 1536 / 32])
        XCTAssertEqual(tensors["blk.0.attn_norm.weight"]!.dtype, .float32)
        XCTAssertEqual(tensors["blk.29.ffn_norm.weight"]!.shape, [576])
        XCTAssertEqual(tensors["output_norm.weight"]!.shape, [576])
        // Dequantised weights have sane magnitudes.
        let w = QuantizedWeight(weight: q, scales: tensors["blk.0.attn_q.scales"]!, biases: tensors["blk.0.attn_q.biases"]!,
                                groupSize: 32, bits: 4).dequantized(dtype: .float32)
        XCTAssertEqual(w.shape, [576, 576])
        let rms = try w.square().mean().sqrt().float()
        XCTAssertGreaterThan(rms, 0.005)
        XCTAssertLessThan(rms, 1)
    }
}

func repoRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
