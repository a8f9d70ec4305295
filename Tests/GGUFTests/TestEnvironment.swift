import Foundation
import XCTest

/// Paths to the checkpoints and the Python reference that `make setup` installs into .deps.
/// Missing pieces fail the test with instructions; nothing is skipped silently.
enum TestEnvironment {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let deps = repoRoot.appendingPathComponent(".deps")
    static let smolLM = deps.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let qwen = deps.appendingPathComponent("models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf")
    static let pythonPath = deps.appendingPathComponent("py")

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// Returns the path of a file installed by setup, or throws a message telling how to get it.
    static func require(_ url: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Missing(description: "\(url.path) is missing: run `make setup` (scripts/setup.sh) first")
        }
        return url.path
    }

    /// Runs `python3 -c script args...` with the reference packages on PYTHONPATH and returns stdout.
    static func runPython(_ script: String, _ arguments: [String]) throws -> Data {
        _ = try require(pythonPath.appendingPathComponent("gguf"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = pythonPath.path
        environment["PYTHONIOENCODING"] = "utf-8"
        process.environment = environment
        // stderr goes to a file so that neither pipe can fill up and block the child.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("py-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: errorFile)
        do { try process.run() } catch {
            throw Missing(description: "cannot run python3 (\(error)): install Python 3 and run `make setup`")
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = (try? Data(contentsOf: errorFile)) ?? Data()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors, as: UTF8.self)
            throw Missing(description: "the Python reference failed (status \(process.terminationStatus)); run `make setup` if packages are missing:\n\(message)")
        }
        return output
    }

    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("posttrain-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
