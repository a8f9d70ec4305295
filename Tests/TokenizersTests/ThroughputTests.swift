import Foundation
import XCTest
@testable import Tokenizers

/// Encoding speed on real English text (wiki_demo.txt, ~1 MB), printed in the test log.
final class ThroughputTests: XCTestCase {
    func testEncodingThroughput() throws {
        let text = try String(contentsOf: TestEnvironment.require(TestEnvironment.deps.appendingPathComponent("data/wiki_demo.txt")),
                              encoding: .utf8)
        let megabytes = Double(text.utf8.count) / 1_000_000
        for url in [TestEnvironment.smolLM, TestEnvironment.qwen] {
            let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(url).path)
            var start = Date()
            let ids = tokenizer.encodeToInt32(text)
            let cold = Date().timeIntervalSince(start)
            start = Date()
            let again = tokenizer.encodeToInt32(text)
            let warm = Date().timeIntervalSince(start)
            XCTAssertEqual(ids, again)
            XCTAssertTrue(identical(tokenizer.decode(ids), text))
            #if DEBUG
            let build = "debug build"
            #else
            let build = "release build"
            #endif
            print(String(format: "encode throughput, %@ (%@): %.2f MB -> %d tokens; %.2f MB/s cold cache, %.2f MB/s warm",
                         url.lastPathComponent, build, megabytes, ids.count, megabytes / cold, megabytes / warm))
            // A floor that catches pathological slowdowns even in an unoptimised build.
            XCTAssertGreaterThan(megabytes / warm, 0.2)
        }
    }

    /// One tokenizer shared by many threads (its word cache is shared and locked) gives the same ids
    /// as sequential encoding.
    func testConcurrentEncodingMatchesSequential() throws {
        let tokenizer = try Tokenizer(ggufPath: TestEnvironment.require(TestEnvironment.qwen).path)
        let strings = TestCorpus.strings(specialTokens: ["<|im_start|>", "<|im_end|>"])
        let expected = strings.map { tokenizer.encode($0) }
        let fresh = try Tokenizer(ggufPath: TestEnvironment.qwen.path)
        let results = ResultBox(count: strings.count)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in stride(from: worker, to: strings.count, by: 8) { results.set(i, fresh.encode(strings[i])) }
        }
        XCTAssertEqual(results.values, expected)
    }
}

/// Collects results written from several threads.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [[Int]]
    init(count: Int) { storage = Array(repeating: [], count: count) }
    func set(_ i: Int, _ value: [Int]) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [[Int]] { lock.lock(); defer { lock.unlock() }; return storage }
}
