import ArgumentParser
import Foundation
import LM
import Tokenizers

/// `posttrain chat`: an interactive conversation with a model. Each user line is added to the
/// history, the whole conversation is rendered with the model's chat template, and the reply is
/// streamed token by token. Works with a terminal or with a pipe on stdin.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model: one user message per line on stdin.",
        discussion: """
        Commands: /reset forgets the conversation (the system message stays), /exit or /quit \
        (or end of input) ends the chat, /help lists them. Replies go to stdout; throughput \
        goes to stderr after each reply. When the conversation outgrows the model's context, \
        the oldest turns are dropped.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "A system message that starts the conversation.") var system: String?

    func validate() throws {
        if sampling.maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if sampling.stops.contains(where: \.isEmpty) { throw ValidationError("--stop strings must not be empty") }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let formatter = try loaded.chat()
        let interactive = StdIO.isTerminal(STDIN_FILENO)
        let contextLength = loaded.config.maxPositionEmbeddings
        if interactive {
            StdIO.note("Chatting with \(loaded.source.lastPathComponent). /reset clears the conversation, /exit or Ctrl-D quits.")
        }
        var transcript = ChatTranscript(system: system)
        var turn: UInt64 = 0
        while true {
            if interactive { StdIO.write("> ") }
            guard let line = readLine(strippingNewline: true) else {
                if interactive { StdIO.write("\n") }
                return
            }
            let input = line.hasSuffix("\r") ? String(line.dropLast()) : line
            switch input.trimmingCharacters(in: .whitespaces) {
            case "": continue
            case "/exit", "/quit": return
            case "/reset":
                transcript.reset()
                StdIO.note("(conversation cleared)")
                continue
            case "/help":
                StdIO.note("/reset  forget the conversation (the system message stays)\n/exit   end the chat (also /quit or end of input)")
                continue
            default: break
            }

            let message = ChatMessage(role: "user", content: input)
            var prompt = try formatter.encodePrompt(transcript.messages + [message])
            if prompt.count + sampling.maxTokens > contextLength {
                // Would it fit with no earlier turns at all? If not, keep the history and refuse it.
                let alone = try formatter.encodePrompt(ChatTranscript(system: system).messages + [message]).count
                if alone + sampling.maxTokens > contextLength {
                    StdIO.note("error: this message is too long: \(alone) prompt tokens plus --max-tokens \(sampling.maxTokens) exceed the model's context of \(contextLength) tokens")
                    continue
                }
            }
            transcript.messages.append(message)
            var dropped = 0
            while prompt.count + sampling.maxTokens > contextLength, transcript.dropOldestTurn() {
                dropped += 1
                prompt = try formatter.encodePrompt(transcript.messages)
            }
            if dropped > 0 {
                StdIO.note("(dropped the \(dropped) oldest turn\(dropped == 1 ? "" : "s") to fit the model's context of \(contextLength) tokens)")
            }

            let reply = try respond(to: prompt, loaded: loaded, seed: sampling.seed.map { $0 &+ turn })
            turn += 1
            transcript.messages.append(ChatMessage(role: "assistant", content: reply))
        }
    }

    /// Generates and streams one reply; returns its text (cut before any stop string).
    private func respond(to prompt: [Int], loaded: LoadedModel, seed: UInt64?) throws -> String {
        var decoder = loaded.tokenizer.streamingDecoder(skipSpecialTokens: true)
        var filter = StopStringFilter(stops: sampling.stops)
        let generator = Generator(model: loaded.model, sampling: sampling.parameters, maxTokens: sampling.maxTokens,
                                  stopTokenIds: loaded.stopTokenIds, seed: seed)
        let out = try generator.generate([prompt]) { _, token in
            StdIO.write(filter.push(decoder.push(token)))
            return !filter.stopped
        }
        if !filter.stopped { StdIO.write(filter.push(decoder.finish())) }
        StdIO.write(filter.finish())
        StdIO.write("\n")
        StdIO.note(String(format: "prompt: %d tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s | peak memory %.2f GB",
                          out.promptTokenCount, out.promptTokensPerSecond, out.generatedTokenCount,
                          out.generationTokensPerSecond, Double(out.peakMemoryBytes) / 1e9))
        return filter.text
    }
}

/// The conversation so far.
struct ChatTranscript {
    let system: String?
    var messages: [ChatMessage]

    init(system: String?) {
        self.system = system
        messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    }

    mutating func reset() { self = ChatTranscript(system: system) }

    /// Drops the oldest user message and the replies after it, keeping the system message and the
    /// newest user message. Returns false when there is nothing left to drop.
    mutating func dropOldestTurn() -> Bool {
        let first = system == nil ? 0 : 1
        guard messages.count - first > 1 else { return false }
        var end = first + 1
        while end < messages.count - 1, messages[end].role != "user" { end += 1 }
        messages.removeSubrange(first..<end)
        return true
    }
}

/// Streams text while watching for stop strings: text that could be the start of a stop string
/// is held back until it is known not to be, so nothing after a stop string is ever printed.
struct StopStringFilter {
    let stops: [[UInt8]]
    private var bytes: [UInt8] = []
    private var emitted = 0
    private(set) var stopped = false

    init(stops: [String]) { self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty } }

    /// Everything kept so far (up to the stop string, once one appeared).
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Adds decoded text; returns what can be shown now.
    mutating func push(_ piece: String) -> String {
        guard !stopped, !piece.isEmpty else { return "" }
        bytes.append(contentsOf: piece.utf8)
        guard !stops.isEmpty else { return release(upTo: bytes.count) }
        let longest = stops.map(\.count).max()!
        // A stop string that ends in the new text starts at most `longest - 1` bytes before it.
        let searchFrom = max(0, bytes.count - piece.utf8.count - (longest - 1))
        var cut: Int? = nil
        for stop in stops {
            if let at = Self.find(stop, in: bytes, from: searchFrom), at < (cut ?? .max) { cut = at }
        }
        if let cut {
            stopped = true
            let shown = release(upTo: max(cut, emitted))
            bytes.removeSubrange(cut...)
            return shown
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        var hold = 0
        for stop in stops {
            for k in stride(from: min(stop.count - 1, bytes.count), to: hold, by: -1)
            where bytes[(bytes.count - k)...].elementsEqual(stop[..<k]) {
                hold = k
                break
            }
        }
        return release(upTo: bytes.count - hold)
    }

    /// The held-back text, once generation has ended without a stop string.
    mutating func finish() -> String {
        guard !stopped else { return "" }
        return release(upTo: bytes.count)
    }

    private mutating func release(upTo end: Int) -> String {
        guard end > emitted else { return "" }
        let s = String(decoding: bytes[emitted..<end], as: UTF8.self)
        emitted = end
        return s
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
