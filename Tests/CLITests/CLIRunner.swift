import Foundation
import XCTest

/// Runs the built `posttrain` executable as a subprocess. The binary is $POSTTRAIN_BIN when set,
/// else `<package root>/.build/debug/posttrain`, the package root being found from this file
/// (`swift build` builds it before `swift test` runs).
enum CLI {
    /// The package that holds this test file (Tests/CLITests/CLIRunner.swift → three levels up).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The repository root with symlinks resolved (a scratch package that links Tests/ still finds
    /// the real .deps and fixtures).
    static var repoRoot: URL {
        let here = URL(fileURLWithPath: #filePath)
        guard let real = realpath(here.path, nil) else { return packageRoot }
        defer { free(real) }
        return URL(fileURLWithPath: String(cString: real))
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func binary() throws -> URL {
        if let env = ProcessInfo.processInfo.environment["POSTTRAIN_BIN"], !env.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: env) else {
                throw Failure(description: "POSTTRAIN_BIN=\(env) is not an executable file")
            }
            return URL(fileURLWithPath: env)
        }
        let url = packageRoot.appendingPathComponent(".build/debug/posttrain")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw Failure(description: "the posttrain executable is missing at \(url.path): run `swift build` first, or set POSTTRAIN_BIN")
        }
        return url
    }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: Data
        var out: String { String(decoding: stdout, as: UTF8.self) }
        var err: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `posttrain args...` with `stdin` as its standard input (empty when nil). Output goes to
    /// temporary files, so neither side can block on a full pipe.
    static func run(_ args: [String], stdin: String? = nil, timeout: TimeInterval = 120) throws -> Result {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("cli-test-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("stdin")
        let outURL = dir.appendingPathComponent("stdout")
        let errURL = dir.appendingPathComponent("stderr")
        try Data((stdin ?? "").utf8).write(to: inURL)
        _ = fm.createFile(atPath: outURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        let inHandle = try FileHandle(forReadingFrom: inURL)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? inHandle.close()
            try? outHandle.close()
            try? errHandle.close()
        }

        let process = Process()
        process.executableURL = try binary()
        process.arguments = args
        process.currentDirectoryURL = repoRoot
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"] ?? "SKYLAKEX"
        let models = repoRoot.appendingPathComponent(".deps/models").path
        if env["POSTTRAIN_MODELS"] == nil, fm.fileExists(atPath: models) { env["POSTTRAIN_MODELS"] = models }
        process.environment = env
        process.standardInput = inHandle
        process.standardOutput = outHandle
        process.standardError = errHandle
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
            throw Failure(description: "posttrain \(args.joined(separator: " ")) did not finish in \(Int(timeout)) s")
        }
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: outURL), stderr: try Data(contentsOf: errURL))
    }

    /// Runs and requires exit status 0, reporting stderr otherwise.
    static func succeed(_ args: [String], stdin: String? = nil) throws -> Result {
        let r = try run(args, stdin: stdin)
        guard r.status == 0 else {
            throw Failure(description: "posttrain \(args.joined(separator: " ")) exited with \(r.status):\n\(r.err)")
        }
        return r
    }

    /// Runs a Python script with the project's .deps/py on the path (jinja2, gguf); returns stdout.
    static func python(_ script: String, args: [String] = [], stdin: String = "") throws -> String {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("cli-py-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let scriptURL = dir.appendingPathComponent("script.py")
        let inURL = dir.appendingPathComponent("stdin")
        let outURL = dir.appendingPathComponent("stdout")
        let errURL = dir.appendingPathComponent("stderr")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        try Data(stdin.utf8).write(to: inURL)
        _ = fm.createFile(atPath: outURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptURL.path] + args
        var env = ProcessInfo.processInfo.environment
        let deps = repoRoot.appendingPathComponent(".deps/py").path
        env["PYTHONPATH"] = [deps, env["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        env["PYTHONIOENCODING"] = "utf-8"
        process.environment = env
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot start python3 (\(error)); `make setup` installs the Python reference packages")
        }
        process.waitUntilExit()
        let out = String(decoding: try Data(contentsOf: outURL), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let err = String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
            throw Failure(description: "python3 exited with \(process.terminationStatus) (needs .deps/py from `make setup`):\n\(err)")
        }
        return out
    }
}
