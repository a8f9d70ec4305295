import Foundation

/// Standard input and output for the text-processing subcommands (tokenize, template, chat).
/// Everything goes through the file descriptors directly: mixing Swift's `print` (buffered by
/// stdio) with `FileHandle` writes would reorder output when stdout is a pipe.
enum StdIO {
    /// True when the descriptor is a terminal (a person typing or reading).
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// All of standard input.
    static func readAll() throws -> Data {
        do {
            return try FileHandle.standardInput.readToEnd() ?? Data()
        } catch {
            throw CommandInputError("cannot read standard input: \(error.localizedDescription)")
        }
    }

    /// All of standard input as UTF-8 text; invalid UTF-8 is an error rather than U+FFFD.
    static func readAllText() throws -> String {
        let data = try readAll()
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandInputError("standard input is not valid UTF-8")
        }
        return text
    }

    /// Writes to standard output now (no buffering).
    static func write(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes a line to standard error.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Bad input or a failed step, reported as `Error: <message>` with a non-zero exit status.
struct CommandInputError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// The same error with its line number in front.
    static func line(_ n: Int, _ message: String) -> CommandInputError {
        CommandInputError("line \(n): \(message)")
    }
}

/// Collects output and writes it in large chunks (tokenizing a big JSONL file prints one short
/// line per input line; a write system call each would dominate).
final class BufferedOutput {
    private var buffer: [UInt8] = []
    private let handle: FileHandle
    private let limit: Int

    init(_ handle: FileHandle = .standardOutput, limit: Int = 1 << 16) {
        self.handle = handle
        self.limit = limit
        buffer.reserveCapacity(limit + 1024)
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= limit { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Reads standard input line by line without holding all of it, splitting on "\n" (a "\r" before
/// it is dropped too). The last line need not end with a newline.
struct StdinLineReader: Sequence, IteratorProtocol {
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var start = 0
    /// Where to look for the next newline (bytes before it hold none).
    private var scan = 0
    private var atEnd = false
    /// 1-based number of the line last returned.
    private(set) var lineNumber = 0

    init(_ handle: FileHandle = .standardInput) { self.handle = handle }

    mutating func next() -> [UInt8]? {
        while true {
            if let nl = pending[scan...].firstIndex(of: 0x0A) {
                var end = nl
                if end > start, pending[end - 1] == 0x0D { end -= 1 }
                let line = Array(pending[start..<end])
                start = nl + 1
                scan = start
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < pending.count else { return nil }
                var line = Array(pending[start...])
                if line.last == 0x0D { line.removeLast() }
                start = pending.count
                scan = start
                lineNumber += 1
                return line
            }
            // Drop what was consumed, then read more.
            if start > 0 {
                pending.removeFirst(start)
                start = 0
            }
            scan = pending.count
            let chunk = handle.availableData
            if chunk.isEmpty { atEnd = true } else { pending.append(contentsOf: chunk) }
        }
    }
}
