import Foundation
import XCTest

/// Paths and reference runners shared by the LM tests.
enum TestSupport {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let smolGGUF = root.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let qwenGGUF = root.appendingPathComponent(".deps/models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf").path
    static let pythonPath = root.appendingPathComponent(".deps/py").path

    static func requireFile(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("\(path) is missing: run `make setup`")
            throw XCTSkip("missing \(path)")
        }
    }

    /// Runs a Python reference script with the test-only packages from `make setup`.
    static func python(_ script: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + args
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = pythonPath
        p.environment = env
        let err = Pipe()
        p.standardError = err
        try p.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "python", code: Int(p.terminationStatus), userInfo: [
                NSLocalizedDescriptionKey: "\(script) failed (run `make setup`): \(String(decoding: errData, as: UTF8.self))"])
        }
    }

    /// Reference logits [prompt][position][vocab] from the float64 numpy forward pass.
    static func referenceLogits(gguf: String, prompts: [[Int]]) throws -> [[[Double]]] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pt-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ids = dir.appendingPathComponent("ids.json"), out = dir.appendingPathComponent("out.json")
        try JSONSerialization.data(withJSONObject: prompts).write(to: ids)
        let script = root.appendingPathComponent("Tests/LMTests/Reference/gguf_forward.py").path
        try python(script, [gguf, ids.path, out.path])
        return try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [[[Double]]]
    }
}
