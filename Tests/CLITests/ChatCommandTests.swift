import Foundation
import XCTest

/// `posttrain generate` and `posttrain chat` on the default model (greedy decoding).
final class ChatCommandTests: XCTestCase {
    static let question = "What is the capital of France?"

    func testGenerateAndChat() throws {
        let generated = try CLI.succeed(["generate", "--prompt", Self.question, "--max-tokens", "20"])
        XCTAssertTrue(generated.out.contains("Paris"), generated.out)
        XCTAssertTrue(generated.err.contains("generation:"), generated.err)
        XCTAssertTrue(generated.out.hasSuffix("\n"))
        let first = String(generated.out.dropLast())

        let input = "\(Self.question)\nAnd of Germany?\n/reset\n\n\(Self.question)\n/exit\nnever read\n"
        let r = try CLI.succeed(["chat", "--max-tokens", "20"], stdin: input)

        // One throughput line per reply, on stderr.
        let stats = r.err.split(separator: "\n").filter { $0.hasPrefix("prompt: ") }
        XCTAssertEqual(stats.count, 3, r.err)
        guard stats.count == 3 else { return }
        let promptTokens = stats.map { Self.number(after: "prompt: ", in: $0) }
        let generatedTokens = stats.map { Self.number(after: "generation: ", in: $0) }
        // The second turn's prompt holds the first exchange; after /reset the conversation starts over.
        XCTAssertGreaterThan(promptTokens[1], promptTokens[0] + generatedTokens[0], r.err)
        XCTAssertEqual(promptTokens[2], promptTokens[0], r.err)
        XCTAssertTrue(r.err.contains("conversation cleared"), r.err)

        // Greedy decoding: the first reply is what `generate` says to the same question (so it
        // mentions Paris), and after /reset the same question gets the same reply again.
        XCTAssertTrue(r.out.hasPrefix(first + "\n"), "chat:\n\(r.out)\ngenerate:\n\(first)")
        XCTAssertTrue(r.out.hasSuffix("\n" + first + "\n"), r.out)
        let second = r.out.dropFirst(first.count + 1).dropLast(first.count + 1)
        XCTAssertTrue(second.hasSuffix("\n") && second.count > 1, "a second reply: \(r.out)")
        XCTAssertTrue(second.contains("Berlin") || second.contains("Germany"), String(second))
        XCTAssertFalse(r.out.contains("> "), "no prompt when stdin is not a terminal")
    }

    func testChatStopStringsCutTheReply() throws {
        let r = try CLI.succeed(["chat", "--max-tokens", "20", "--stop", "Paris"], stdin: Self.question + "\n")
        XCTAssertFalse(r.out.contains("Paris"), r.out)
        XCTAssertTrue(r.out.contains("France"), r.out)
    }

    static func number(after label: String, in line: Substring) -> Int {
        guard let range = line.range(of: label) else { return -1 }
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? -1
    }
}
