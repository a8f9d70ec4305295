import Foundation
import Tensor
import XCTest

// Checks GGML dequantization against gguf-py (the reference implementation maintained with
// llama.cpp; `gguf==0.19.0` in .deps/py), against MLX's own GGUF loader for the formats MLX
// understands, and against hand-built blocks. ggml dequantizes in float32 and in every format the
// scale × quant product is exact, so the comparison with gguf-py is bit-for-bit, not approximate.
final class GGMLDequantizeTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("posttrain-ggml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    // MARK: Hand-built blocks

    func testHandBuiltQ4_0Blocks() throws {
        // Block 0: d = 0.5; byte j holds element j (low nibble j) and element 16 + j (high nibble 15 - j).
        // Block 1: d = -2; every byte 0x8F: elements 0..15 are (15 - 8)·-2, 16..31 are (8 - 8)·-2.
        var bytes: [UInt8] = halfBytes(0.5) + (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        bytes += halfBytes(-2) + [UInt8](repeating: 0x8F, count: 16)
        let t = try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q4_0, shape: [2, 32]) }
        XCTAssertEqual(t.shape, [2, 32])
        XCTAssertEqual(t.dtype, .float32)
        let want: [Float] = (0..<16).map { Float($0 - 8) * 0.5 } + (0..<16).map { Float(15 - $0 - 8) * 0.5 }
            + [Float](repeating: -14, count: 16) + [Float](repeating: 0, count: 16)
        XCTAssertEqual(try t.toArray(Float.self), want)
    }

    func testHandBuiltQ8_0Blocks() throws {
        // d = 0.25 then d = 3; quants -128, -120, ..., 120 (step 8) then 127, -127, 0, 1, ... pattern.
        let q0: [Int8] = (0..<32).map { Int8($0 * 8 - 128) }
        let q1: [Int8] = (0..<32).map { [127, -127, 0, 1][$0 % 4] }
        let bytes = halfBytes(0.25) + q0.map { UInt8(bitPattern: $0) } + halfBytes(3) + q1.map { UInt8(bitPattern: $0) }
        let t = try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q8_0, shape: [64]) }
        XCTAssertEqual(try t.toArray(Float.self), q0.map { Float($0) * 0.25 } + q1.map { Float($0) * 3 })
    }

    func testHandBuiltQ8_KBlock() throws {
        // Q8_K: float32 d, 256 int8 quants, 16 int16 block sums (ignored when dequantizing).
        let d: Float = 0.125
        let q: [Int8] = (0..<256).map { Int8(truncatingIfNeeded: $0 * 37) }
        var bytes = withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) }
        bytes += q.map { UInt8(bitPattern: $0) } + [UInt8](repeating: 0xAB, count: 32)
        let t = try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q8_K, shape: [1, 256]) }
        XCTAssertEqual(try t.toArray(Float.self), q.map { Float($0) * d })
    }

    // MARK: Errors and metadata

    func testWrongByteCountThrowsWithExpectedAndActualSizes() throws {
        let bytes = [UInt8](repeating: 0, count: 18 * 2 + 1)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q4_0, shape: [64]) }) { error in
            let text = String(describing: error)
            XCTAssertTrue(error is MLXError, text)
            XCTAssertTrue(text.contains("Q4_0"), text)
            XCTAssertTrue(text.contains("needs 36 bytes, got 37"), text)
        }
        let short = [UInt8](repeating: 0, count: 143)
        XCTAssertThrowsError(try short.withUnsafeBytes { try GGML.dequantize($0, type: Q4_K, shape: [256]) }) { error in
            XCTAssertTrue(String(describing: error).contains("Q4_K"), "\(error)")
            XCTAssertTrue(String(describing: error).contains("needs 144 bytes, got 143"), "\(error)")
        }
    }

    func testRowsThatSplitABlockThrow() throws {
        // 96 elements are three whole Q4_0 blocks, but rows of 48 would cut a block in two.
        let bytes = [UInt8](repeating: 0, count: 18 * 3)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q4_0, shape: [2, 48]) }) { error in
            XCTAssertTrue(String(describing: error).contains("block size 32"), "\(error)")
        }
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q4_0, shape: []) }) { error in
            XCTAssertTrue(String(describing: error).contains("block size 32"), "\(error)")
        }
    }

    func testUnsupportedTypesAndDTypesThrow() throws {
        let bytes = [UInt8](repeating: 0, count: 64)
        for type: UInt32 in [99, 4, 16, 9] {  // unknown id, removed Q4_2, IQ2_XXS, Q8_1
            XCTAssertFalse(GGML.isSupported(type: type))
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try GGML.dequantize($0, type: type, shape: [32]) }) { error in
                XCTAssertTrue(String(describing: error).contains("not supported"), "\(error)")
                XCTAssertTrue(String(describing: error).contains(GGML.typeName(type)), "\(error)")
            }
        }
        XCTAssertEqual(GGML.typeName(99), "GGML type 99")
        XCTAssertEqual(GGML.typeName(16), "IQ2_XXS")
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try GGML.dequantize($0, type: Q8_0, shape: [32], dtype: .int32) })
    }

    func testByteCountsAndSupport() {
        let cases: [(UInt32, Int, Int?)] = [
            (F32, 3, 12), (F16, 5, 10), (BF16, 5, 10),
            (Q4_0, 64, 36), (Q4_1, 32, 20), (Q5_0, 32, 22), (Q5_1, 96, 72), (Q8_0, 32, 34),
            (Q2_K, 256, 84), (Q3_K, 512, 220), (Q4_K, 256, 144), (Q5_K, 256, 176), (Q6_K, 512, 420),
            (Q8_K, 256, 292), (Q4_0, 33, nil), (Q4_K, 128, nil), (99, 32, nil), (Q8_0, -32, nil),
        ]
        for (type, n, bytes) in cases {
            XCTAssertEqual(GGML.byteCount(type: type, elements: n), bytes, "\(GGML.typeName(type)) × \(n)")
        }
        for type in [F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K] {
            XCTAssertTrue(GGML.isSupported(type: type), GGML.typeName(type))
        }
    }

    // MARK: Float formats and 16-bit outputs

    func testEveryHalfBitPatternConvertsExactly() throws {
        let halves = (0...UInt16.max).map { $0 }
        let t = try halves.withUnsafeBytes { try GGML.dequantize($0, type: F16, shape: [halves.count]) }
        let got = try t.toArray(Float.self)
        for (h, g) in zip(halves, got) {
            let want = Float(Float16(bitPattern: h))
            if want.isNaN {
                XCTAssertTrue(g.isNaN, "half \(h)")
            } else if g.bitPattern != want.bitPattern {
                return XCTFail("half 0x\(String(h, radix: 16)): got \(g), want \(want)")
            }
        }
    }

    func testFloat16AndBFloat16OutputsRoundToNearestEven() throws {
        // Hard cases for float -> half: ties at the subnormal and normal ulp, overflow, signed zero.
        var values: [Float] = [0, -0.0, 1, -1, 65504, 65519.99, 65520, -65520, 1e9, .infinity, -.infinity,
                               0x1p-24, 0x1.8p-24, 0x1p-25, 0x1.000002p-25, 0x1.8p-14, 0x1.ffcp-15, 1e-10, -1e-8,
                               1 + 0x1p-11, 1 + 0x1.8p-10, 2049, 2051, 0x1.ff8p15]
        var rng = SplitMix64(seed: 42)
        for _ in 0..<4000 {
            let e = Float(Int(rng.next() % 60) - 36)  // exponents 2^-36 ... 2^23
            values.append(Float(rng.unit() * 2 - 1) * Float.pow2(e))
        }
        let t32 = try values.withUnsafeBytes { try GGML.dequantize($0, type: F32, shape: [values.count]) }
        XCTAssertEqual(try t32.toArray(Float.self).map(\.bitPattern), values.map(\.bitPattern))

        let t16 = try values.withUnsafeBytes { try GGML.dequantize($0, type: F32, shape: [values.count], dtype: .float16) }
        XCTAssertEqual(t16.dtype, .float16)
        let got16 = try t16.toArray(Float16.self)
        for (v, g) in zip(values, got16) {
            XCTAssertEqual(g.bitPattern, Float16(v).bitPattern, "float16(\(v))")
        }

        let tb = try values.withUnsafeBytes { try GGML.dequantize($0, type: F32, shape: [values.count], dtype: .bfloat16) }
        XCTAssertEqual(tb.dtype, .bfloat16)
        // bfloat16 -> float32 is exact, so comparing as float32 compares the bfloat16 bits.
        let gotB = try tb.toArray(Float.self), wantB = try t32.asType(.bfloat16).toArray(Float.self)
        XCTAssertEqual(gotB.map(\.bitPattern), wantB.map(\.bitPattern))

        // A block format through the 16-bit paths equals its float32 result rounded.
        let q = randomBlocks(type: Q4_K, count: 40, rng: &rng)
        let f = try q.withUnsafeBytes { try GGML.dequantize($0, type: Q4_K, shape: [40, 256]) }
        let h = try q.withUnsafeBytes { try GGML.dequantize($0, type: Q4_K, shape: [40, 256], dtype: .float16) }
        let b = try q.withUnsafeBytes { try GGML.dequantize($0, type: Q4_K, shape: [40, 256], dtype: .bfloat16) }
        XCTAssertEqual(try h.toArray(Float16.self).map(\.bitPattern), try f.toArray(Float.self).map { Float16($0).bitPattern })
        XCTAssertEqual(try b.toArray(Float.self).map(\.bitPattern), try f.asType(.bfloat16).toArray(Float.self).map(\.bitPattern))
    }

    // MARK: gguf-py reference

    func testRandomBlocksOfEveryFormatMatchGGUFPy() throws {
        try runReference(["random", dir.path])
        let manifest = try loadManifest()
        let types = Set(manifest.map(\.type))
        XCTAssertEqual(types, [F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K])
        for e in manifest {
            let raw = try Data(contentsOf: dir.appendingPathComponent(e.raw!))
            let t = try raw.withUnsafeBytes { try GGML.dequantize($0, type: e.type, shape: e.shape) }
            let diff = try compareBits(t, reference: e.ref, label: "random \(GGML.typeName(e.type))")
            XCTAssertEqual(diff, 0, GGML.typeName(e.type))
        }
    }

    func testQwenTensorsMatchGGUFPy() throws {
        let path = try modelPath("Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf")
        try runReference(["file", path, dir.path])
        let manifest = try loadManifest()
        XCTAssertEqual(Set(manifest.map(\.type)), [F32, Q5_0, Q8_0, Q4_K, Q6_K])
        let file = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        try checkAgainstReference(file: file, manifest, reportThroughput: true)
    }

    func testSmolLMTensorsMatchGGUFPy() throws {
        let path = try modelPath("SmolLM2-135M-Instruct.Q4_1.gguf")
        try runReference(["file", path, dir.path])
        let manifest = try loadManifest()
        XCTAssertEqual(Set(manifest.map(\.type)), [F32, Q4_1, Q8_0])
        let file = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        try checkAgainstReference(file: file, manifest, reportThroughput: false)
    }

    // MARK: MLX's own loader

    func testMatchesMLXLoaderOnSmolLM() throws {
        let path = try modelPath("SmolLM2-135M-Instruct.Q4_1.gguf")
        try runReference(["directory", path, dir.path])
        let directory = Dictionary(uniqueKeysWithValues: try loadManifest().map { ($0.name!, $0) })
        let mlx = try TensorIO.loadGGUF(path)
        let file = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let names = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.17.ffn_gate.weight", "blk.29.ffn_down.weight",
                     "token_embd.weight"]
        for name in names {
            let e = try XCTUnwrap(directory[name], name)
            let bits = e.type == Q8_0 ? 8 : 4
            XCTAssertTrue(e.type == Q4_1 || e.type == Q8_0, name)
            let ours = try file.withUnsafeBytes { raw in
                try GGML.dequantize(UnsafeRawBufferPointer(rebasing: raw[e.offset!..<(e.offset! + e.nbytes!)]),
                                    type: e.type, shape: e.shape)
            }
            let stem = String(name.dropLast(".weight".count))
            let theirs = QuantizedWeight(weight: try XCTUnwrap(mlx["\(stem).weight"]), scales: try XCTUnwrap(mlx["\(stem).scales"]),
                                         biases: try XCTUnwrap(mlx["\(stem).biases"]), groupSize: 32, bits: bits)
                .dequantized(dtype: .float32)
            XCTAssertEqual(theirs.shape, ours.shape, name)
            XCTAssertTrue(try arrayEqual(ours, theirs), "\(name): max |diff| \((try? (ours - theirs).abs.max().float()) ?? .nan)")
        }
    }

    func testMatchesMLXLoaderOnSyntheticQ4_0Q4_1Q8_0File() throws {
        // No shipped model uses Q4_0, so write a small GGUF holding one tensor of each MLX-native format.
        var rng = SplitMix64(seed: 7)
        let specs: [(String, UInt32, [Int])] = [("a.weight", Q4_0, [24, 96]), ("b.weight", Q4_1, [8, 64]), ("c.weight", Q8_0, [16, 128])]
        let tensors = specs.map { (name, type, shape) in
            (name, type, shape, randomBlocks(type: type, count: shape.reduce(1, *) / 32, rng: &rng))
        }
        let path = dir.appendingPathComponent("synthetic.gguf").path
        try writeGGUF(path, tensors.map { ($0.0, $0.1, $0.2, $0.3) })
        let mlx = try TensorIO.loadGGUF(path)
        for (name, type, shape, bytes) in tensors {
            let ours = try bytes.withUnsafeBytes { try GGML.dequantize($0, type: type, shape: shape) }
            let stem = String(name.dropLast(".weight".count))
            let theirs = QuantizedWeight(weight: try XCTUnwrap(mlx["\(stem).weight"], name), scales: try XCTUnwrap(mlx["\(stem).scales"]),
                                         biases: try XCTUnwrap(mlx["\(stem).biases"]), groupSize: 32, bits: type == Q8_0 ? 8 : 4)
                .dequantized(dtype: .float32)
            XCTAssertEqual(theirs.shape, shape, name)
            XCTAssertTrue(try arrayEqual(ours, theirs), "\(GGML.typeName(type)): max |diff| \((try? (ours - theirs).abs.max().float()) ?? .nan)")
        }
    }

    // MARK: Helpers

    /// Dequantizes every manifest entry from the file's bytes and compares with gguf-py's values.
    private func checkAgainstReference(file: Data, _ manifest: [RefEntry], reportThroughput: Bool) throws {
        var dequantized: [String: Tensor] = [:]
        for e in manifest {
            let name = e.name!
            let tensor: Tensor
            if let t = dequantized[name] {
                tensor = t
            } else {
                let start = Date()
                tensor = try file.withUnsafeBytes { raw in
                    try GGML.dequantize(UnsafeRawBufferPointer(rebasing: raw[e.offset!..<(e.offset! + e.nbytes!)]),
                                        type: e.type, shape: e.shape)
                }
                let seconds = Date().timeIntervalSince(start)
                dequantized[name] = tensor
                if reportThroughput && e.rowCount! < e.rows! {
                    let mb = Double(e.nbytes!) / 1e6, outMB = Double(tensor.nbytes) / 1e6
                    print(String(format: "GGML dequantize %@ (%@, %d elements): %.3f s, %.0f MB/s in, %.0f MB/s out",
                                 name, GGML.typeName(e.type), tensor.size, seconds, mb / seconds, outMB / seconds))
                }
            }
            XCTAssertEqual(tensor.shape, e.shape, name)
            let rowLength = e.shape.last ?? 1
            let part = e.rowCount! == e.rows! ? tensor
                : tensor.reshaped([e.rows!, rowLength])[e.rowStart!..<(e.rowStart! + e.rowCount!)]
            let label = "\(name) (\(GGML.typeName(e.type))) rows \(e.rowStart!)..<\(e.rowStart! + e.rowCount!)"
            XCTAssertEqual(try compareBits(part, reference: e.ref, label: label), 0, label)
        }
    }

    /// Max |got - want| after asserting bit equality (NaN matches NaN).
    private func compareBits(_ tensor: Tensor, reference: String, label: String) throws -> Float {
        let got = try tensor.toArray(Float.self)
        let want = try readFloats(dir.appendingPathComponent(reference))
        XCTAssertEqual(got.count, want.count, label)
        let identical = got.count == want.count && got.withUnsafeBytes { g in
            want.withUnsafeBytes { w in memcmp(g.baseAddress!, w.baseAddress!, g.count) == 0 }
        }
        if identical { return 0 }  // fast path; the loop below explains any difference
        var mismatches = 0, first: Int?
        var maxDiff: Float = 0
        for i in 0..<min(got.count, want.count) where got[i].bitPattern != want[i].bitPattern {
            if got[i].isNaN && want[i].isNaN { continue }
            mismatches += 1
            if first == nil { first = i }
            maxDiff = max(maxDiff, abs(got[i] - want[i]))
        }
        if let first {
            XCTFail("\(label): \(mismatches) of \(want.count) values differ; first at \(first): got \(got[first]), want \(want[first])")
        }
        return maxDiff
    }

    private func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return [Float](unsafeUninitializedCapacity: data.count / 4) { buffer, count in
            _ = data.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            count = data.count / 4
        }
    }

    private func loadManifest() throws -> [RefEntry] {
        try JSONDecoder().decode([RefEntry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
    }

    /// Runs the gguf-py reference script with `args`; it writes manifest.json and data files.
    private func runReference(_ args: [String]) throws {
        let py = packageRoot().appendingPathComponent(".deps/py")
        guard FileManager.default.fileExists(atPath: py.appendingPathComponent("gguf").path) else {
            throw SetupMissing(description: "gguf-py is missing from \(py.path): run `make setup`")
        }
        let script = dir.appendingPathComponent("ggml_reference.py")
        try referenceScript.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + args
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = py.path
        process.environment = env
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SetupMissing(description: "gguf-py reference failed (status \(process.terminationStatus)); run `make setup`:\n\(message)")
        }
    }
}

// MARK: - Fixtures

private let F32: UInt32 = 0, F16: UInt32 = 1, Q4_0: UInt32 = 2, Q4_1: UInt32 = 3, Q5_0: UInt32 = 6, Q5_1: UInt32 = 7
private let Q8_0: UInt32 = 8, Q2_K: UInt32 = 10, Q3_K: UInt32 = 11, Q4_K: UInt32 = 12, Q5_K: UInt32 = 13
private let Q6_K: UInt32 = 14, Q8_K: UInt32 = 15, BF16: UInt32 = 30

private struct SetupMissing: Error, CustomStringConvertible { let description: String }

/// One tensor (or row range of one) the reference script dequantized into `ref`.
private struct RefEntry: Decodable {
    var type: UInt32
    var shape: [Int]          // MLX order
    var ref: String           // float32 values, little-endian
    var raw: String?          // random mode: the block bytes
    var name: String?         // file modes
    var offset: Int?          // absolute file offset of the tensor's data
    var nbytes: Int?
    var rows: Int?            // product of all but the last dimension
    var rowStart: Int?
    var rowCount: Int?
}

private func packageRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

private func modelPath(_ file: String) throws -> String {
    let path = packageRoot().appendingPathComponent(".deps/models/\(file)").path
    guard FileManager.default.fileExists(atPath: path) else {
        throw SetupMissing(description: "\(path) is missing: run `make setup`")
    }
    return path
}

private func halfBytes(_ v: Float) -> [UInt8] {
    let bits = Float16(v).bitPattern
    return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
}

/// Deterministic generator so failures reproduce.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

private extension Float {
    static func pow2(_ e: Float) -> Float { Float(sign: .plus, exponent: Int(e), significand: 1) }
}

/// `count` blocks of random quants whose f16 scale fields hold finite values of mixed magnitude.
private func randomBlocks(type: UInt32, count: Int, rng: inout SplitMix64) -> [UInt8] {
    let size = GGML.blockSize(type: type)!.bytes
    let scaleOffsets: [UInt32: [Int]] = [Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], Q2_K: [80, 82],
                                         Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208]]
    var bytes = (0..<(size * count)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    for b in 0..<count {
        for o in scaleOffsets[type]! {
            let v = Float16(Float(rng.unit() * 2 - 1) * Float.pow2(Float(Int(rng.next() % 12) - 10)))
            bytes[b * size + o] = UInt8(v.bitPattern & 0xFF)
            bytes[b * size + o + 1] = UInt8(v.bitPattern >> 8)
        }
    }
    return bytes
}

/// Writes a minimal GGUF v3 file (one string of metadata, 32-byte alignment) holding `tensors`,
/// each given in MLX (row-major) shape with its raw GGML bytes.
private func writeGGUF(_ path: String, _ tensors: [(String, UInt32, [Int], [UInt8])]) throws {
    var out = Data()
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
    func pad() { while out.count % 32 != 0 { out.append(0) } }
    out.append(contentsOf: Array("GGUF".utf8))
    u32(3)
    u64(UInt64(tensors.count))
    u64(1)
    str("general.architecture"); u32(8); str("llama")
    var offset: UInt64 = 0
    for (name, type, shape, bytes) in tensors {
        str(name)
        u32(UInt32(shape.count))
        for d in shape.reversed() { u64(UInt64(d)) }  // GGUF lists ne0 (the row length) first
        u32(type)
        u64(offset)
        offset += UInt64((bytes.count + 31) / 32 * 32)
    }
    pad()
    for (_, _, _, bytes) in tensors {
        out.append(contentsOf: bytes)
        pad()
    }
    try out.write(to: URL(fileURLWithPath: path))
}

/// The gguf-py side. Modes:
///   random OUT          random blocks of every format gguf-py can dequantize (finite scales)
///   file GGUF OUT       per type the first and last tensor of at most 8M elements, whole, plus rows
///                       from the start, middle and end of the file's largest tensor
///   directory GGUF OUT  the tensor directory only (names, types, offsets), no values
private let referenceScript = #"""
import json, os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

mode, out = sys.argv[1], sys.argv[-1]
entries = []

def save(values, stem):
    np.ascontiguousarray(values, dtype="<f4").tofile(os.path.join(out, stem + ".f32"))
    return stem + ".f32"

def describe(t):
    ne = [int(x) for x in t.shape]
    rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
    return {"name": t.name, "type": int(t.tensor_type), "shape": ne[::-1], "offset": int(t.data_offset),
            "nbytes": int(t.n_bytes), "rows": rows}

def rows_of(t, start, count):
    d = describe(t)
    raw = np.asarray(t.data).view(np.uint8).reshape(d["rows"], -1)[start:start + count]
    vals = dequantize(raw, t.tensor_type)
    d.update({"rowStart": start, "rowCount": count, "ref": save(vals, "%s.%d" % (t.name, start))})
    return d

if mode == "random":
    rng = np.random.default_rng(1234)
    # byte offsets of the f16 scale fields (ggml-common.h); set to finite values of mixed magnitude
    scale_fields = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
                    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
    def mixed(n):  # includes f16 subnormals
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-7, 2, n)
    for qt, fields in scale_fields.items():
        block, size = GGML_QUANT_SIZES[qt]
        nrows, per_row = 3, 4
        raw = rng.integers(0, 256, size=(nrows * per_row, size), dtype=np.uint8)
        for o in fields:
            raw[:, o:o + 2] = mixed(nrows * per_row).astype("<f2").view(np.uint8).reshape(-1, 2)
        raw = raw.reshape(nrows, per_row * size)
        raw.tofile(os.path.join(out, qt.name + ".bin"))
        entries.append({"type": int(qt), "shape": [nrows, per_row * block], "raw": qt.name + ".bin",
                        "ref": save(dequantize(raw, qt), qt.name)})
    plain = {T.F32: mixed(1000).astype("<f4"), T.F16: mixed(1000).astype("<f2"),
             T.BF16: (mixed(1000).astype("<f4").view("<u4") >> 16).astype("<u2")}
    for qt, vals in plain.items():
        raw = vals.view(np.uint8).reshape(10, -1)
        raw.tofile(os.path.join(out, qt.name + ".bin"))
        entries.append({"type": int(qt), "shape": [10, 100], "raw": qt.name + ".bin",
                        "ref": save(dequantize(raw, qt), qt.name)})
else:
    reader = gguf.GGUFReader(sys.argv[2])
    if mode == "directory":
        for t in reader.tensors:
            d = describe(t)
            d["ref"] = ""
            entries.append(d)
    else:
        by_type = {}
        for t in reader.tensors:
            by_type.setdefault(int(t.tensor_type), []).append(t)
        for qt, ts in sorted(by_type.items()):
            small = [t for t in ts if t.n_elements <= 8 * 1024 * 1024]
            for i in sorted({0, len(small) - 1}) if small else []:
                t = small[i]
                entries.append(rows_of(t, 0, describe(t)["rows"]))
        big = max(reader.tensors, key=lambda t: t.n_bytes)
        n = describe(big)["rows"]
        for start in sorted({0, n // 2 - 32, n - 64}):
            entries.append(rows_of(big, max(start, 0), min(64, n)))

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(entries, f)
"""#
