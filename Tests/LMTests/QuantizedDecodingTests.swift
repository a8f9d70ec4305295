import Foundation
import LM
import NN
import Tensor
import XCTest

/// The default model kept quantized (its Q4_1/Q8_0 weights as 4- and 8-bit MLX layers, decoded by
/// `quantizedGEMV`) against the same weights dequantized to float32: only arithmetic order differs.
final class QuantizedDecodingTests: XCTestCase {
    static let prompt = [504, 3575, 282, 4649, 314]  // "The capital of France is"

    func testQuantizedModelMatchesFloatModel() throws {
        try TestSupport.requireFile(TestSupport.smolGGUF)
        let quantized = try ModelLoader.load(TestSupport.smolGGUF, options: LoadOptions(keepQuantized: true)).model
        let float = try ModelLoader.load(TestSupport.smolGGUF).model
        XCTAssertTrue(quantized.modules().contains { $0.1 is QuantizedLinear }, "keepQuantized should keep quantized layers")
        XCTAssertFalse(float.modules().contains { $0.1 is QuantizedLinear })

        // Five prompt rows go through the GEMV kernel (fewer than `dequantizeAboveRows`).
        let ids = Tensor(Self.prompt, shape: [1, Self.prompt.count])
        let q = quantized(ids)[0, -1], f = float(ids)[0, -1]
        let err = try (q - f).abs.max().float() / f.abs.max().float()
        XCTAssertLessThan(err, 1e-3, "last-position logits differ by \(err) relative")

        // Greedy decoding (one row per step) continues with " Paris" and agrees with the float model.
        let generate = { (model: any LanguageModel) in
            try Generator(model: model, sampling: .greedy, maxTokens: 8).generate([Self.prompt]).tokens[0]
        }
        let tokens = try generate(quantized)
        XCTAssertEqual(tokens.first, 7042)
        XCTAssertEqual(tokens, try generate(float))
    }
}
