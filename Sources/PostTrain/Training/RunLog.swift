import Foundation

/// Metrics as JSON lines (`metrics.jsonl`) and a progress line on the terminal.
public final class RunLog {
    public struct Entry: Codable, Sendable {
        public var step: Int
        public var values: [String: Double]
    }

    public private(set) var entries: [Entry] = []
    private let file: FileHandle?
    private let isTTY = isatty(2) == 1
    public var quiet = false

    /// Appends to `metrics.jsonl` in `output` (keeping what an earlier, resumed run wrote).
    public init(output: URL?, resumeFrom step: Int = 0) throws {
        guard let output else {
            file = nil
            return
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let url = output.appendingPathComponent("metrics.jsonl")
        // Lines after the resume point belong to the interrupted run's lost steps: drop them.
        var kept: [String] = []
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                guard let data = line.data(using: .utf8), let e = try? JSONDecoder().decode(Entry.self, from: data) else { continue }
                if e.step <= step {
                    kept.append(String(line))
                    entries.append(e)
                }
            }
        }
        try (kept.map { $0 + "\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        file = try FileHandle(forWritingTo: url)
        file?.seekToEndOfFile()
    }

    public func record(step: Int, _ values: [String: Double]) {
        let e = Entry(step: step, values: values)
        entries.append(e)
        guard let file else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(e) {
            file.write(data)
            file.write(Data("\n".utf8))
        }
    }

    /// One progress line: a bar on a terminal (rewritten in place), plain lines otherwise.
    public func progress(step: Int, total: Int, values: [String: Double], elapsed: Double) {
        guard !quiet else { return }
        let frac = Double(step) / Double(max(total, 1))
        let eta = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        var parts = ["step \(step)/\(total)"]
        if let l = values["loss"] { parts.append(String(format: "loss %.4f", l)) }
        if let lr = values["learning_rate"] { parts.append(String(format: "lr %.2e", lr)) }
        if let t = values["tokens_per_second"] { parts.append(String(format: "%.0f tok/s", t)) }
        parts.append("ETA \(Self.duration(eta))")
        if isTTY {
            let width = 24
            let filled = Int(frac * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(parts.joined(separator: "  "))".utf8))
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            FileHandle.standardError.write(Data((parts.joined(separator: "  ") + "\n").utf8))
        }
    }

    public func message(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data(((isTTY ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }

    deinit { try? file?.close() }
}
