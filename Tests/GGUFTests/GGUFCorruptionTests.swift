import Foundation
import XCTest
import GGUF

/// Truncated, corrupted and hostile files must produce a `GGUFError` that names the file and says
/// what is wrong, never a crash or a runaway allocation.
final class GGUFCorruptionTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try TestEnvironment.temporaryDirectory("gguf-corrupt")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ bytes: [UInt8], _ name: String) -> String {
        let url = directory.appendingPathComponent(name)
        XCTAssertNoThrow(try Data(bytes).write(to: url))
        return url.path
    }

    func testTruncatedCopiesOfARealFileThrow() throws {
        let source = try TestEnvironment.require(TestEnvironment.smolLM)
        let full = try GGUFFile(path: source)
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: source))
        defer { try? handle.close() }
        let prefix = [UInt8](try handle.read(upToCount: full.dataOffset + 70_000) ?? Data())
        // Cuts inside the magic, version, counts, keys, the token and merge arrays, the tensor
        // directory, the alignment padding and the first tensor's data.
        let tokensKey = try XCTUnwrap(firstOffset(of: Array("tokenizer.ggml.tokens".utf8), in: prefix))
        let cuts = [0, 1, 3, 4, 6, 8, 16, 23, 24, 31, 40, 100, 1000, tokensKey + 5, tokensKey + 40, tokensKey + 300_000,
                    full.dataOffset - 20_000, full.dataOffset - 1, full.dataOffset, full.dataOffset + 69_999]
        for cut in cuts {
            let path = write(Array(prefix[0..<cut]), "cut-\(cut).gguf")
            do {
                _ = try GGUFFile(path: path)
                XCTFail("a copy cut at \(cut) bytes was accepted")
            } catch let error as GGUFError {
                guard case .truncated = error else { XCTFail("cut at \(cut): \(error)"); continue }
                XCTAssertTrue(error.description.hasPrefix(path + ": truncated at offset "), error.description)
            }
        }
        // Once the header is complete, the metadata can still be read without the tensor data.
        let partial = try GGUFFile(path: write(Array(prefix[0..<full.dataOffset]), "header-only.gguf"), validateTensorData: false)
        XCTAssertEqual(partial.metadata, full.metadata)
        XCTAssertEqual(partial.tensors, full.tensors)
        assertError(try GGUFFile(path: write(Array(prefix[0..<full.dataOffset + 1000]), "data-cut.gguf")), nil,
                    contains: ["data-cut.gguf", "truncated at offset", "the data of tensor '\(full.tensors[0].name)'"])
    }

    func testBadMagicAndVersions() throws {
        var builder = GGUFBuilder.everyType()
        let good = builder.build()
        XCTAssertNoThrow(try GGUFFile(path: write(good, "good.gguf")))

        var bytes = good
        bytes[3] = UInt8(ascii: "G")
        let p1 = write(bytes, "magic.gguf")
        assertError(try GGUFFile(path: p1), .badMagic(file: p1, found: Array("GGUG".utf8)), contains: [p1, "bad magic"])

        for version: UInt32 in [0, 1, 4, 0x0300_0000] {
            bytes = good
            withUnsafeBytes(of: version.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
            let p = write(bytes, "version-\(version).gguf")
            assertError(try GGUFFile(path: p), .unsupportedVersion(file: p, version: version), contains: [p, "version \(version)"])
        }
        let p2 = write(Array("PK\u{3}\u{4}hello".utf8), "zip.gguf")
        assertError(try GGUFFile(path: p2), nil, contains: [p2, "not a GGUF file"])
        let p3 = write([], "empty.gguf")
        assertError(try GGUFFile(path: p3), nil, contains: [p3, "truncated at offset 0"])
    }

    func testUnreadablePaths() {
        let missing = directory.appendingPathComponent("missing.gguf").path
        assertError(try GGUFFile(path: missing), nil, contains: [missing, "cannot open"])
        assertError(try GGUFFile(path: directory.path), nil, contains: [directory.path, "not a regular file"])
    }

    func testCraftedCorruptions() throws {
        var builder = GGUFBuilder.everyType()
        let good = builder.build()
        let o = builder.offsets

        func patched(_ name: String, at offset: Int, _ value: some FixedWidthInteger) -> String {
            var bytes = good
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + $0.count), with: $0) }
            return write(bytes, name)
        }
        let cases: [(String, String, [String])] = [
            (patched("huge-string.gguf", at: o["value:t.string"]!, UInt64.max), "huge-string.gguf",
             ["truncated at offset", "'t.string'", "18446744073709551615 bytes"]),
            (patched("huge-key.gguf", at: o["key:t.u8"]!, UInt64(1) << 40), "huge-key.gguf", ["truncated", "key of metadata entry 2"]),
            (patched("huge-array.gguf", at: o["value:t.strings"]! + 4, UInt64(1) << 61), "huge-array.gguf",
             ["truncated", "length of array 't.strings'"]),
            (patched("value-type.gguf", at: o["type:t.i8"]!, UInt32(13)), "value-type.gguf",
             ["corrupt GGUF at offset \(o["type:t.i8"]!)", "unknown value type 13"]),
            (patched("element-type.gguf", at: o["value:t.ints"]!, UInt32(99)), "element-type.gguf", ["unknown element type 99"]),
            (patched("ggml-type.gguf", at: o["ttype:norm.weight"]!, UInt32(4)), "ggml-type.gguf",
             ["tensor 'norm.weight' has unknown ggml type 4"]),
            (patched("dims.gguf", at: o["tensor:norm.weight"]! + 8 + 11, UInt32(9)), "dims.gguf", ["'norm.weight' has 9 dimensions"]),
            (patched("misaligned.gguf", at: o["toffset:norm.weight"]!, UInt64(33)), "misaligned.gguf", ["not a multiple of the alignment 32"]),
            (patched("overlap.gguf", at: o["toffset:norm.weight"]!, UInt64(0)), "overlap.gguf", ["overlap"]),
            (patched("beyond.gguf", at: o["toffset:norm.weight"]!, UInt64(1) << 62), "beyond.gguf", ["truncated", "'norm.weight'"]),
            (patched("block.gguf", at: o["tensor:blk.0.w"]! + 8 + 7 + 4, UInt64(100)), "block.gguf", ["not a multiple of its block size 256"]),
            (patched("alignment.gguf", at: o["value:general.alignment"]!, UInt32(24)), "alignment.gguf", ["general.alignment"]),
            (patched("tensor-count.gguf", at: 8, UInt64.max), "tensor-count.gguf", ["truncated", "tensor count"]),
        ]
        for (path, name, fragments) in cases {
            assertError(try GGUFFile(path: path), nil, contains: [name] + fragments)
        }

        var duplicate = GGUFBuilder.everyType()
        duplicate.metadata.append(("t.u8", .uint8(1)))
        let dupPath = write(duplicate.build(), "duplicate.gguf")
        assertError(try GGUFFile(path: dupPath), nil, contains: [dupPath, "duplicate metadata key 't.u8'"])

        var deep = GGUFBuilder()
        var nested = GGUFArray.int32([1])
        for _ in 0..<20 { nested = .array([nested]) }
        deep.metadata = [("deep", .array(nested))]
        let deepPath = write(deep.build(), "deep.gguf")
        assertError(try GGUFFile(path: deepPath), nil, contains: [deepPath, "nests arrays more than"])
    }

    /// Thousands of random byte flips and cuts of a small file: each read must either succeed or
    /// throw a GGUFError that names the file; a crash would end the test run.
    func testRandomCorruptionNeverCrashes() throws {
        var builder = GGUFBuilder.everyType()
        let good = builder.build()
        let headerEnd = builder.offsets["headerEnd"]!
        var rng = SplitMix64(seed: 0x6767_7566)
        var failures = 0
        for trial in 0..<3000 {
            var bytes = good
            let flips = 1 + Int(rng.next() % 4)
            for _ in 0..<flips {
                let at = Int(rng.next() % UInt64(headerEnd))
                bytes[at] = rng.next() % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: rng.next())
            }
            if trial % 3 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            let name = "<fuzz \(trial)>"
            do {
                _ = try GGUFFile(data: Data(bytes), name: name)
            } catch let error as GGUFError {
                failures += 1
                XCTAssertTrue(error.description.hasPrefix(name + ": "), error.description)
            }
        }
        XCTAssertGreaterThan(failures, 1000, "most mutations should be detected")
    }

    private func firstOffset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// A tiny deterministic generator so that the fuzz cases are the same on every run.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
