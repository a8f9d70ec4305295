import Foundation
import LM
import NN
import PEFT
@testable import PostTrain
import Tensor
import Tokenizers
import XCTest

/// An adapter folded into the base and written as a Hugging Face directory reloads with the
/// same logits as base + adapter, and its tokenizer files encode like the original.
final class MergeExportTests: XCTestCase {
    func testMergedExportReloadsWithAdapterLogits() throws {
        try Fixtures.require(Fixtures.smolGGUF)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pt-merge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }

        // An adapter with non-zero B, saved in PEFT format.
        let adapted = try ModelLoader.load(Fixtures.smolGGUF)
        let peft = PEFTConfig(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj", "down_proj"]))
        try Adapters.attach(peft, to: adapted.model, key: RandomKey(seed: 1))
        var updates: [String: Tensor] = [:]
        for (k, v) in adapted.model.trainableParameters() where k.hasSuffix("lora_B") {
            updates[k] = Random.normal(v.shape, std: 0.02, key: RandomKey(seed: UInt64(k.count)))
        }
        try adapted.model.update(parameters: updates)
        let adapterDir = dir.appendingPathComponent("adapter")
        try Adapters.save(adapterOf: adapted.model, config: peft, to: adapterDir.path)

        // What `posttrain merge` does.
        let base = try ModelLoader.load(Fixtures.smolGGUF)
        try Adapters.load(from: adapterDir.path, into: base.model, trainable: false)
        XCTAssertEqual(try Adapters.merge(base.model).count, 30 * 3)
        let exported = dir.appendingPathComponent("merged")
        try HFExport.save(base, to: exported)
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: exported.appendingPathComponent(f).path), f)
        }

        let reloaded = try ModelLoader.load(exported.path)
        XCTAssertEqual(reloaded.format, .huggingFace)
        let ids = Tensor([504, 3575, 282, 4649, 314, 7042, 30, 1], shape: [1, 8])
        let expected = adapted.model(ids)
        let got = reloaded.model(ids)
        let scale = try expected.abs.max().float()
        XCTAssertLessThan(try (got - expected).abs.max().float() / scale, 1e-5)
        // The adapter changed the model: the merged logits differ from the plain base.
        let plain = try ModelLoader.load(Fixtures.smolGGUF).model(ids)
        XCTAssertGreaterThan(try (plain - expected).abs.max().float(), 1e-3)

        // Tokenizer files: same ids as the GGUF tokenizer, and the chat template came along.
        let text = "Hello, world! <|im_start|>user\nDON'T count 12345 🙂 naïve 東京<|im_end|>"
        XCTAssertEqual(reloaded.tokenizer.encode(text), adapted.tokenizer.encode(text))
        XCTAssertEqual(reloaded.chatTemplate, adapted.chatTemplate)
        XCTAssertEqual(reloaded.stopTokenIds, adapted.stopTokenIds)
    }
}
