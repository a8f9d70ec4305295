import Foundation
import XCTest

/// `posttrain sft` as a user runs it: Ctrl-C mid-run saves a checkpoint and exits; `--resume`
/// continues from it to the end; the run folder has the adapter, metrics and report.
final class SFTCommandTests: XCTestCase {
    func testCtrlCSavesACheckpointAndResumeFinishes() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("cli-sft-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let rows = (0..<24).map { i in #"{"messages": [{"role": "user", "content": "Count to \#(i % 5 + 2)."}, {"role": "assistant", "content": "\#((1...(i % 5 + 2)).map(String.init).joined(separator: ", "))."}]}"# }
        let train = dir.appendingPathComponent("train.jsonl")
        try rows.joined(separator: "\n").write(to: train, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run")
        let args = ["sft", "--train", train.path, "--output", out.path, "--max-steps", "40", "--batch-size", "2",
                    "--max-length", "64", "--rank", "4", "--eval-every", "0", "--save-every", "1000", "--num-layers", "4"]

        // Start the run, wait for the first logged steps, then send SIGINT as Ctrl-C would.
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = args
        process.currentDirectoryURL = CLI.repoRoot
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"] ?? "SKYLAKEX"
        process.environment = env
        let errFile = dir.appendingPathComponent("stderr")
        fm.createFile(atPath: errFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let metrics = out.appendingPathComponent("metrics.jsonl")
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            if let text = try? String(contentsOf: metrics, encoding: .utf8), text.split(separator: "\n").count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stderr = try String(contentsOf: errFile, encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        XCTAssertTrue(stderr.contains("saving a checkpoint"), stderr)
        let checkpoints = try fm.contentsOfDirectory(atPath: out.appendingPathComponent("checkpoints").path).filter { $0.hasPrefix("step-") }
        XCTAssertEqual(checkpoints.count, 1, "\(checkpoints)")
        let stoppedAt = Int(checkpoints[0].dropFirst(5))!
        XCTAssertLessThan(stoppedAt, 40)

        // Resume: finishes the remaining steps and logs each step once.
        let resumed = try CLI.run(args + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("resuming at step \(stoppedAt)"), resumed.err)
        XCTAssertTrue(resumed.out.contains("final validation loss"), resumed.out)
        let steps = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"loss\"") }.compactMap { line -> Int? in
                guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
                return o["step"] as? Int
            }
        XCTAssertEqual(steps, Array(1...40))
        for f in ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "report.html", "config.yaml"] {
            XCTAssertTrue(fm.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
    }
}
