import Foundation
import XCTest

/// Paths to what `make setup` installs into .deps, and a runner for the Python reference.
/// Anything missing fails the test with instructions; nothing is skipped silently.
enum TestEnvironment {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let deps = repoRoot.appendingPathComponent(".deps")
    static let smolLM = deps.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let qwen = deps.appendingPathComponent("models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf")
    static let alpaca = deps.appendingPathComponent("data/alpaca_en_demo.json")
    static let pythonPath = deps.appendingPathComponent("py")

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func require(_ url: URL) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Missing(description: "\(url.path) is missing: run `make setup` (scripts/setup.sh) first")
        }
        return url
    }

    /// Runs the reference script on a job description (a JSON object written to a file).
    static func runReference(_ job: [String: Any]) throws {
        _ = try require(pythonPath.appendingPathComponent("tokenizers"))
        _ = try require(pythonPath.appendingPathComponent("gguf"))
        let dir = try scratchDirectory()
        let jobFile = dir.appendingPathComponent("job-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: job).write(to: jobFile)
        defer { try? FileManager.default.removeItem(at: jobFile) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", ReferenceScript.source, jobFile.path]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = pythonPath.path
        environment["PYTHONIOENCODING"] = "utf-8"
        environment["TOKENIZERS_PARALLELISM"] = "true"
        process.environment = environment
        let errorFile = dir.appendingPathComponent("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw Missing(description: "cannot run python3 (\(error)): install Python 3 and run `make setup`")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw Missing(description: "the Python reference failed (status \(process.terminationStatus)); run `make setup` if packages are missing:\n\(message)")
        }
    }

    /// A per-process scratch directory for reference inputs and outputs (tens of MB). Directories
    /// left by earlier test processes that have exited are removed when the first one is made.
    static func scratchDirectory() throws -> URL {
        try scratch.get()
    }

    private static let scratch: Result<URL, any Error> = Result {
        let temp = FileManager.default.temporaryDirectory
        let prefix = "posttrain-tokenizers-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temp.path)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: temp.appendingPathComponent(name))
            }
        }
        let url = temp.appendingPathComponent(prefix + String(ProcessInfo.processInfo.processIdentifier))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func readJSON(_ url: URL) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw Missing(description: "\(url.path): unexpected reference output")
        }
        return object
    }
}

/// A small deterministic generator, so that every run tests the same strings.
struct SplitMix64: RandomNumberGenerator {
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
