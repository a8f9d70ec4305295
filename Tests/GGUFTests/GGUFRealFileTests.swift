import Foundation
import XCTest
import GGUF

/// Reads the real checkpoints installed by setup and checks known values and full parity with the
/// Python `gguf` reader.
final class GGUFRealFileTests: XCTestCase {
    func testSmolLMKnownValues() throws {
        let path = try TestEnvironment.require(TestEnvironment.smolLM)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(try file.string("general.architecture"), "llama")
        XCTAssertEqual(try file.int("llama.block_count"), 30)
        XCTAssertEqual(try file.int("llama.embedding_length"), 576)
        XCTAssertEqual(try file.int("llama.attention.head_count"), 9)
        XCTAssertEqual(try file.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(try file.int("llama.feed_forward_length"), 1536)
        XCTAssertEqual(try file.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(try file.float("llama.attention.layer_norm_rms_epsilon"), Double(Float(1e-5)))
        XCTAssertEqual(try file.string("tokenizer.ggml.model"), "gpt2")
        XCTAssertEqual(try file.string("tokenizer.ggml.pre"), "smollm")
        XCTAssertFalse(try file.bool("tokenizer.ggml.add_bos_token"))
        let tokens = try file.stringArray("tokenizer.ggml.tokens")
        XCTAssertEqual(tokens.count, 49152)
        XCTAssertEqual(Array(tokens.prefix(3)), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        let merges = try file.stringArray("tokenizer.ggml.merges")
        XCTAssertEqual(merges.count, 48900)
        XCTAssertEqual(merges.first, "Ġ t")
        let types = try file.intArray("tokenizer.ggml.token_type")
        XCTAssertEqual(types.count, 49152)
        XCTAssertEqual(types.filter { $0 == 3 }.count, 17)
        XCTAssertEqual(try file.int("tokenizer.ggml.bos_token_id"), 1)
        XCTAssertEqual(try file.int("tokenizer.ggml.eos_token_id"), 2)
        XCTAssertTrue(try file.string("tokenizer.chat_template").contains("<|im_start|>"))

        XCTAssertEqual(file.tensors.count, 272)
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q8_0)
        XCTAssertEqual(embedding.type.name, "Q8_0")
        XCTAssertEqual(embedding.dimensions, [576, 49152])
        XCTAssertEqual(embedding.shape, [49152, 576])
        XCTAssertEqual(embedding.byteCount, 576 * 49152 / 32 * 34)
        XCTAssertEqual(embedding.absoluteOffset, file.dataOffset + embedding.offset)
        XCTAssertEqual(file.dataOffset % file.alignment, 0)
        let norm = try XCTUnwrap(file.tensor(named: "blk.0.attn_norm.weight"))
        XCTAssertEqual(norm.type, .f32)
        XCTAssertEqual(norm.shape, [576])
        XCTAssertEqual(norm.byteCount, 576 * 4)
        XCTAssertNil(file.tensor(named: "output.weight"), "SmolLM2 ties its output to the embedding")
        // Every tensor lies inside the file and the last one ends at (or just before padding to) its end.
        let end = file.tensors.map { $0.absoluteOffset + $0.byteCount }.max()!
        XCTAssertLessThanOrEqual(end, file.fileSize)
        XCTAssertGreaterThan(end, file.fileSize - file.alignment)
    }

    func testQwenKnownValues() throws {
        let path = try TestEnvironment.require(TestEnvironment.qwen)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(try file.string("general.architecture"), "qwen2")
        XCTAssertEqual(try file.int("qwen2.block_count"), 24)
        XCTAssertEqual(try file.int("qwen2.embedding_length"), 896)
        XCTAssertEqual(try file.int("qwen2.attention.head_count"), 14)
        XCTAssertEqual(try file.int("qwen2.attention.head_count_kv"), 2)
        XCTAssertEqual(try file.float("qwen2.rope.freq_base"), 1_000_000)
        XCTAssertEqual(try file.string("tokenizer.ggml.pre"), "qwen2")
        XCTAssertEqual(try file.stringArray("tokenizer.ggml.tokens").count, 151_936)
        XCTAssertEqual(try file.stringArray("tokenizer.ggml.merges").count, 151_387)
        XCTAssertEqual(try file.int("tokenizer.ggml.eos_token_id"), 151_645)
        XCTAssertEqual(file.tensors.count, 291)
        let output = try XCTUnwrap(file.tensor(named: "output.weight"))
        XCTAssertEqual(output.type, .q8_0)
        XCTAssertEqual(output.shape, [151_936, 896])
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q5_0)
        XCTAssertEqual(embedding.byteCount, 896 * 151_936 / 32 * 22)
        XCTAssertEqual(Set(file.tensors.map(\.type)).map(\.name).sorted(), ["F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"])
    }

    /// Every key, type and value (all 151,936 tokens and 151,387 merges included) and every tensor
    /// entry must equal what the Python `gguf` package reads.
    func testMatchesPythonReaderOnRealFiles() throws {
        for url in [TestEnvironment.smolLM, TestEnvironment.qwen] {
            try assertMatchesPython(try TestEnvironment.require(url))
        }
    }

    func testMatchesPythonReaderOnEveryValueType() throws {
        let dir = try TestEnvironment.temporaryDirectory("gguf-types")
        defer { try? FileManager.default.removeItem(at: dir) }
        var builder = GGUFBuilder.everyType()
        let path = dir.appendingPathComponent("types.gguf").path
        try Data(builder.build()).write(to: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file[ "t.u64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(file["t.nested"], builder.metadata.first { $0.0 == "t.nested" }?.1)
        XCTAssertEqual(file.keys, builder.metadata.map(\.0))
        for (key, value) in builder.metadata { XCTAssertEqual(file[key], value, key) }
        XCTAssertEqual(file.tensor(named: "scalar")?.elementCount, 1)
        XCTAssertEqual(file.tensor(named: "blk.0.h")?.shape, [3, 2, 32])
        try assertMatchesPython(path)
    }

    func testTypedAccessorsNameFileAndKeyInErrors() throws {
        let dir = try TestEnvironment.temporaryDirectory("gguf-accessors")
        defer { try? FileManager.default.removeItem(at: dir) }
        var builder = GGUFBuilder.everyType()
        let path = dir.appendingPathComponent("accessors.gguf").path
        try Data(builder.build()).write(to: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)

        XCTAssertEqual(try file.int("t.i8"), -7)
        XCTAssertEqual(try file.int("t.u32"), 4_000_000_000)
        XCTAssertEqual(try file.float("t.f32"), 3.25)
        XCTAssertEqual(try file.float("t.u16"), 65000, "integers read as floats")
        XCTAssertEqual(try file.intArray("t.u8s"), [0, 1, 255])
        XCTAssertEqual(try file.floatArray("t.floats"), [0.5, -1.25, 1e10])
        XCTAssertEqual(try file.stringArray("t.strings")[5], "👩‍👩‍👧")
        XCTAssertNil(try file.stringIfPresent("no.such.key"))

        assertError(try file.string("no.such.key"), .missingKey(file: path, key: "no.such.key"), contains: [path, "no.such.key"])
        assertError(try file.int("t.string"), .typeMismatch(file: path, key: "t.string", expected: "an integer", found: "STRING"),
                    contains: [path, "t.string", "STRING"])
        assertError(try file.int("t.u64"), nil, contains: [path, "t.u64"])
        assertError(try file.bool("t.u8"), nil, contains: [path, "t.u8", "BOOL", "UINT8"])
        assertError(try file.stringArray("t.ints"), nil, contains: [path, "t.ints", "ARRAY[INT32]"])
        assertError(try file.intArray("t.strings"), nil, contains: [path, "t.strings"])
        assertError(try file.float("t.string"), nil, contains: [path, "t.string"])
    }

    func testHeaderReadingIsFast() throws {
        let path = try TestEnvironment.require(TestEnvironment.qwen)
        _ = try GGUFFile(path: path)  // warm the page cache
        let start = Date()
        let runs = 3
        for _ in 0..<runs { _ = try GGUFFile(path: path) }
        let seconds = Date().timeIntervalSince(start) / Double(runs)
        print("GGUF header of Qwen2.5 (151,936 tokens + 151,387 merges, 291 tensors): \(String(format: "%.1f", seconds * 1000)) ms per read")
        XCTAssertLessThan(seconds, 2.0)
    }

    // MARK: - Helpers

    private func assertMatchesPython(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = try GGUFFile(path: path)
        let reference = try PythonGGUFReference.read(path)
        XCTAssertEqual(Int(ours.version), reference.version, file: file, line: line)
        XCTAssertEqual(ours.keys, reference.kv.compactMap { $0["key"] as? String }, "\(path): key order", file: file, line: line)
        var mismatches = 0
        for item in reference.kv {
            let key = item["key"] as! String
            guard let value = ours[key] else { XCTFail("\(path): missing \(key)", file: file, line: line); continue }
            if let reason = PythonGGUFReference.mismatch(value, item) {
                mismatches += 1
                XCTFail("\(path): \(key): \(reason)", file: file, line: line)
            }
        }
        XCTAssertEqual(ours.tensors.count, reference.tensors.count, file: file, line: line)
        for (t, r) in zip(ours.tensors, reference.tensors) {
            XCTAssertEqual(t.name, r["name"] as? String, file: file, line: line)
            XCTAssertEqual(t.dimensions, (r["shape"] as? [Int]) ?? [-1], t.name, file: file, line: line)
            XCTAssertEqual(Int(t.type.rawValue), r["type"] as? Int, t.name, file: file, line: line)
            XCTAssertEqual(t.type.name, r["type_name"] as? String, t.name, file: file, line: line)
            XCTAssertEqual(t.absoluteOffset, r["offset"] as? Int, t.name, file: file, line: line)
            XCTAssertEqual(t.byteCount, r["bytes"] as? Int, t.name, file: file, line: line)
        }
        print("\(URL(fileURLWithPath: path).lastPathComponent): \(reference.kv.count) keys and \(reference.tensors.count) tensors match the Python gguf reader (\(mismatches) mismatches)")
    }
}

/// Asserts that `expression` throws a `GGUFError` (equal to `expected` when given) whose message
/// contains every string in `contains`.
func assertError<T>(_ expression: @autoclosure () throws -> T, _ expected: GGUFError?, contains: [String],
                    file: StaticString = #filePath, line: UInt = #line) {
    do {
        let value = try expression()
        XCTFail("expected an error, got \(value)", file: file, line: line)
    } catch let error as GGUFError {
        if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        for s in contains {
            XCTAssertTrue(error.description.contains(s), "'\(error.description)' lacks '\(s)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a GGUFError, got \(error)", file: file, line: line)
    }
}
