import ArgumentParser
import Foundation
import Jinja
import LM
import Tokenizers

/// `posttrain template`: renders a conversation with a chat template exactly as transformers'
/// `apply_chat_template(..., tokenize=False)` does, to see what a model is trained on or prompted
/// with. Reads only the tokenizer and its template (GGUF metadata, tokenizer_config.json or
/// chat_template.jinja), never the weights.
struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Render a conversation on stdin with a chat template.",
        discussion: """
        Stdin is a JSON object: {"messages": [...], "add_generation_prompt": true, "tools": [...], \
        "documents": [...], ...}; a bare JSON array is taken as the messages. Other keys become \
        template variables (enable_thinking, date_string, ...) and override the special tokens. \
        bos_token, eos_token, pad_token and unk_token come from the model's tokenizer. The \
        rendered text is printed exactly, with no newline added.
        """)

    @Option(name: .long, help: "A GGUF file, a tokenizer.json, a Hugging Face directory, or a model alias (default: \(ModelLoader.defaultModel)). With --template it only supplies the special tokens and may be left out.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("A Jinja chat template file to use instead of the model's.", valueName: "file.jinja"))
    var template: String?

    func run() throws {
        let tokenizer: Tokenizer?
        if template == nil || model != nil {
            tokenizer = try ModelLoader.loadTokenizer(model ?? ModelLoader.defaultModel)
        } else {
            tokenizer = nil
        }
        let source: String
        if let template {
            do {
                source = try String(contentsOfFile: template, encoding: .utf8)
            } catch {
                throw CommandInputError("cannot read the template \(template): \(error.localizedDescription)")
            }
        } else if let own = tokenizer?.chatTemplate {
            source = own
        } else {
            StdIO.note("note: \(model ?? ModelLoader.defaultModel) has no chat template; using ChatML (as generate and chat do)")
            source = ChatFormatter.chatML
        }
        let compiled: Template
        do {
            compiled = try Template(source)
        } catch let e as TemplateError {
            throw CommandInputError("the chat template \(template ?? "of \(model ?? ModelLoader.defaultModel)") does not parse: \(e)")
        }

        let request = try TemplateInput.parse(try StdIO.readAll())
        var variables = tokenizer.map(Self.specialTokens) ?? [:]
        for (k, v) in request.extra { variables[k] = v }
        let text: String
        do {
            text = try compiled.renderChat(messages: request.messages, tools: request.tools, documents: request.documents,
                                           addGenerationPrompt: request.addGenerationPrompt, extra: variables)
        } catch let e as TemplateError {
            switch e.kind {
            case .raised: throw CommandInputError("the template refused the conversation: \(e.message)")
            default: throw CommandInputError("rendering the template failed at \(e)")
            }
        }
        StdIO.write(text)
    }

    /// The special tokens transformers passes to every chat template (its special_tokens_map).
    static func specialTokens(_ tokenizer: Tokenizer) -> [String: Value] {
        var out: [String: Value] = [:]
        let named: [(String, Int?)] = [("bos_token", tokenizer.bosTokenId), ("eos_token", tokenizer.eosTokenId),
                                       ("pad_token", tokenizer.padTokenId), ("unk_token", tokenizer.unknownTokenId)]
        for (name, id) in named {
            if let id, let token = tokenizer.idToToken(id) { out[name] = .string(token) }
        }
        return out
    }
}

/// What `template` reads: a conversation plus template variables, in JSON.
struct TemplateInput {
    var messages: [Value]
    var tools: [Value]?
    var documents: [Value]?
    var addGenerationPrompt: Bool
    /// Every other top-level key, passed to the template as a variable.
    var extra: [(key: String, value: Value)]

    static func parse(_ data: Data) throws -> TemplateInput {
        guard String(data: data, encoding: .utf8) != nil else { throw CommandInputError("standard input is not valid UTF-8") }
        let root: Value
        do {
            root = try Value(jsonData: data)
        } catch let e as TemplateError {
            throw CommandInputError("standard input is not JSON: \(JSONPosition.describe(e.message, in: data))")
        }
        if case .array(let messages) = root {
            return TemplateInput(messages: try checkedMessages(messages), tools: nil, documents: nil, addGenerationPrompt: false, extra: [])
        }
        guard case .object(let fields) = root else {
            throw CommandInputError("standard input must be a JSON object with \"messages\" (or an array of messages), not \(TokenizeCommand.kind(of: root))")
        }
        guard let messagesValue = fields["messages"] else {
            throw CommandInputError("the JSON object on standard input has no \"messages\" (keys: \(fields.keys.joined(separator: ", ")))")
        }
        guard case .array(let messages) = messagesValue else {
            throw CommandInputError("\"messages\" must be an array, not \(TokenizeCommand.kind(of: messagesValue))")
        }
        func list(_ key: String) throws -> [Value]? {
            switch fields[key] {
            case nil, .none?: return nil
            case .array(let a)?: return a
            case let v?: throw CommandInputError("\"\(key)\" must be an array or null, not \(TokenizeCommand.kind(of: v))")
            }
        }
        var addGenerationPrompt = false
        switch fields["add_generation_prompt"] {
        case nil, .none?: break
        case .bool(let b)?: addGenerationPrompt = b
        case let v?: throw CommandInputError("\"add_generation_prompt\" must be true or false, not \(TokenizeCommand.kind(of: v))")
        }
        let reserved: Set<String> = ["messages", "tools", "documents", "add_generation_prompt"]
        return TemplateInput(messages: try checkedMessages(messages), tools: try list("tools"), documents: try list("documents"),
                           addGenerationPrompt: addGenerationPrompt,
                           extra: fields.pairs.filter { !reserved.contains($0.key) })
    }

    private static func checkedMessages(_ messages: [Value]) throws -> [Value] {
        for (i, m) in messages.enumerated() {
            guard case .object(let o) = m else {
                throw CommandInputError("messages[\(i)] must be an object with \"role\" and \"content\", not \(TokenizeCommand.kind(of: m))")
            }
            guard o["role"]?.stringValue != nil else {
                throw CommandInputError("messages[\(i)] has no \"role\" string")
            }
        }
        return messages
    }
}

/// Turns the JSON reader's "invalid JSON at byte N: ..." into a line and column.
enum JSONPosition {
    static func describe(_ message: String, in data: Data) -> String {
        let prefix = "invalid JSON at byte "
        guard message.hasPrefix(prefix) else { return message }
        let rest = message.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":"), let offset = Int(rest[..<colon]) else { return message }
        let reason = rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        var line = 1
        var lineStart = 0
        let bytes = Array(data.prefix(offset))
        for (i, b) in bytes.enumerated() where b == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: bytes[lineStart...], as: UTF8.self).count + 1
        return "line \(line), column \(column): \(reason)"
    }
}
