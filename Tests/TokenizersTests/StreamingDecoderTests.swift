import Foundation
import XCTest
@testable import Tokenizers

final class StreamingDecoderTests: XCTestCase {
    /// An emoji whose UTF-8 bytes span several byte-level tokens is released only when complete.
    func testEmojiSplitAcrossByteLevelTokens() throws {
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.smolLM).path)
        let ids = tokenizer.encode("🫠")
        XCTAssertGreaterThan(ids.count, 1, "the test needs an emoji spread over several tokens")
        var stream = tokenizer.streamingDecoder()
        var chunks: [String] = []
        for id in ids { chunks.append(stream.push(id)) }
        XCTAssertEqual(Array(chunks.dropLast()), Array(repeating: "", count: ids.count - 1))
        XCTAssertEqual(chunks.last, "🫠")
        XCTAssertEqual(stream.finish(), "")

        // Text before the emoji comes out as soon as it is complete.
        var s2 = tokenizer.streamingDecoder()
        let mixed = tokenizer.encode("Hi 👨‍👩‍👧‍👦!")
        let outputs = mixed.map { s2.push($0) }
        XCTAssertEqual(outputs.first, "Hi")
        XCTAssertTrue(outputs.contains(""), "some token ends inside a multi-byte character")
        XCTAssertFalse(outputs.joined().unicodeScalars.contains("\u{FFFD}"))
        XCTAssertEqual(outputs.joined() + s2.finish(), "Hi 👨‍👩‍👧‍👦!")
    }

    /// An incomplete character still held at the end becomes U+FFFD, as one-shot decoding gives.
    func testFinishFlushesIncompleteCharacter() throws {
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.smolLM).path)
        let ids = tokenizer.encode("😀")
        var stream = tokenizer.streamingDecoder()
        XCTAssertEqual(stream.push(ids[0]), "")
        let flushed = stream.finish()
        XCTAssertEqual(flushed, tokenizer.decode([ids[0]]))
        XCTAssertTrue(flushed.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
        XCTAssertEqual(stream.push(ids[0]), "", "finish resets the stream")
    }

    /// Streaming every corpus string token by token gives exactly the one-shot decoding, and no
    /// replacement character appears that the one-shot decoding does not have.
    func testStreamingEqualsOneShotDecodingOnTheCorpus() throws {
        for url in [TestEnvironment.smolLM, TestEnvironment.qwen] {
            let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(url).path)
            try checkStreaming(tokenizer, TestCorpus.strings(specialTokens: ["<|im_start|>", "<|im_end|>"]))
        }
        let (path, _) = try SentencePieceParityTests.llamaStyle.get()
        try checkStreaming(Tokenizer(ggufPath: path.path), TestCorpus.strings(specialTokens: ["<s>", "</s>"]))
    }

    /// SentencePiece decoding strips the prefix space of the first token only, and byte-fallback
    /// tokens are held until they form a character.
    func testSentencePieceStreaming() throws {
        let (path, _) = try SentencePieceParityTests.llamaStyle.get()
        let tokenizer = try Tokenizer(ggufPath: path.path)
        let text = "Hello world 𝄞 again"
        let ids = tokenizer.encode(text)
        var stream = tokenizer.streamingDecoder()
        let chunks = ids.map { stream.push($0) }
        XCTAssertEqual(chunks.joined() + stream.finish(), text)
        XCTAssertTrue(chunks.first?.hasPrefix("H") == true, "the leading space is stripped: \(chunks)")
        XCTAssertTrue(chunks.contains(""), "the byte-fallback character is held back: \(chunks)")
        XCTAssertFalse(chunks.joined().unicodeScalars.contains("\u{FFFD}"))
    }

    func testSkippingSpecialTokensWhileStreaming() throws {
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.smolLM).path)
        let ids = tokenizer.encode("<|im_start|>assistant\nSure! 😀<|im_end|>")
        var stream = tokenizer.streamingDecoder(skipSpecialTokens: true)
        let text = ids.map { stream.push($0) }.joined() + stream.finish()
        XCTAssertEqual(text, "assistant\nSure! 😀")
    }

    private func checkStreaming(_ tokenizer: Tokenizer, _ strings: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        var heldBack = 0
        for s in strings {
            let ids = tokenizer.encode(s)
            let expected = tokenizer.decode(ids)
            var stream = tokenizer.streamingDecoder()
            var streamed = ""
            for id in ids {
                let chunk = stream.push(id)
                if chunk.isEmpty { heldBack += 1 }
                streamed += chunk
            }
            streamed += stream.finish()
            XCTAssertTrue(identical(streamed, expected), "\(s.debugDescription): streamed \(streamed.debugDescription)", file: file, line: line)
        }
        XCTAssertGreaterThan(heldBack, 0, file: file, line: line)
    }
}
