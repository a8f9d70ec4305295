import Foundation
import Jinja
import LM

/// One training example, independent of the file format it came from.
public enum Example: Sendable, Equatable {
    /// Plain text: loss on every token.
    case text(String)
    /// A prompt and its completion as plain text (no chat template): loss on the completion.
    case completion(prompt: String, completion: String)
    /// A conversation rendered with the chat template: loss on assistant turns.
    case chat([ChatMessage], tools: [Value]?)
}

/// The data formats users already have, and the field names to read them by.
public enum DataFormat: String, Codable, Sendable, CaseIterable {
    case auto, text, completion, messages, alpaca, sharegpt
}

/// Field names per format; every one can be renamed in the config (LLaMA-Factory's
/// dataset_info "columns" and "tags").
public struct FieldMap: Codable, Sendable, Equatable {
    public var text = "text"
    public var prompt = "prompt"
    public var completion = "completion"
    public var messages = "messages"
    public var tools = "tools"
    public var system = "system"
    public var instruction = "instruction"
    public var input = "input"
    public var output = "output"
    public var history = "history"
    public var conversations = "conversations"
    public var roleKey = "role"
    public var contentKey = "content"
    public var fromKey = "from"
    public var valueKey = "value"
    /// ShareGPT speaker names → chat roles.
    public var sharegptRoles: [String: String] = [
        "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
        "system": "system", "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool",
    ]

    public init() {}

    /// Which format a row is in, judged by its fields.
    func detect(_ row: Value) -> DataFormat? {
        if row[messages] != nil { return .messages }
        if row[conversations] != nil { return .sharegpt }
        if row[instruction] != nil && row[output] != nil { return .alpaca }
        if row[prompt] != nil && row[completion] != nil { return .completion }
        if row[text] != nil { return .text }
        return nil
    }
}

extension FieldMap {
    /// Converts one row; errors name the file, line and field.
    public func example(_ r: DataRow, format: DataFormat) throws -> Example {
        let row = r.value
        let fmt = format == .auto ? detect(row) : format
        func err(_ field: String?, _ msg: String) -> DataError { DataError(file: r.file, line: r.line, field: field, msg) }
        func string(_ key: String, optional: Bool = false) throws -> String? {
            guard let v = row[key], v != .none else {
                if optional { return nil }
                throw err(key, "missing field")
            }
            guard let s = v.stringValue, case .string = v else { throw err(key, "expected a string") }
            return s
        }
        func tools() throws -> [Value]? {
            guard let v = row[self.tools], v != .none else { return nil }
            switch v {
            case .array(let a): return a
            case .string(let s):  // LLaMA-Factory stores tools as a JSON string
                guard case .array(let a) = try Value(jsonString: s) else { throw err(self.tools, "expected a JSON array of tools") }
                return a
            default: throw err(self.tools, "expected an array of tools")
            }
        }
        switch fmt {
        case nil:
            throw err(nil, "no known fields: expected one of \"\(text)\", \"\(prompt)\"+\"\(completion)\", \"\(messages)\", \"\(instruction)\"+\"\(output)\", \"\(conversations)\" (keys present: \(keys(row)))")
        case .auto: fatalError("unreachable")
        case .text:
            return .text(try string(text)!)
        case .completion:
            // Conversational prompt/completion (lists of messages) go through the chat template.
            if case .array(let p)? = row[prompt], case .array(let c)? = row[completion] {
                let msgs = try (p + c).enumerated().map { try message($0.element, r, field: "\(prompt)[\($0.offset)]") }
                return .chat(msgs, tools: try tools())
            }
            return .completion(prompt: try string(prompt)!, completion: try string(completion)!)
        case .messages:
            guard case .array(let list)? = row[messages] else { throw err(messages, "expected an array of messages") }
            let msgs = try list.enumerated().map { try message($0.element, r, field: "\(messages)[\($0.offset)]") }
            try requireAssistant(msgs, err(messages, "has no assistant message to learn from"))
            return .chat(msgs, tools: try tools())
        case .alpaca:
            var msgs: [ChatMessage] = []
            if let s = try string(system, optional: true), !s.isEmpty { msgs.append(ChatMessage(role: "system", content: s)) }
            if case .array(let turns)? = row[history] {
                for (i, t) in turns.enumerated() {
                    guard case .array(let pair) = t, pair.count == 2, let q = pair[0].stringValue, let a = pair[1].stringValue else {
                        throw err("\(history)[\(i)]", "expected [instruction, response]")
                    }
                    msgs += [ChatMessage(role: "user", content: q), ChatMessage(role: "assistant", content: a)]
                }
            }
            var user = try string(instruction)!
            if let inp = try string(input, optional: true), !inp.isEmpty { user += "\n" + inp }
            msgs += [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: try string(output)!)]
            return .chat(msgs, tools: nil)
        case .sharegpt:
            guard case .array(let list)? = row[conversations] else { throw err(conversations, "expected an array of turns") }
            var msgs: [ChatMessage] = []
            if let s = try string(system, optional: true), !s.isEmpty { msgs.append(ChatMessage(role: "system", content: s)) }
            for (i, turn) in list.enumerated() {
                let field = "\(conversations)[\(i)]"
                guard let from = turn[fromKey]?.stringValue else { throw err(field, "missing \"\(fromKey)\"") }
                guard let value = turn[valueKey]?.stringValue else { throw err(field, "missing \"\(valueKey)\"") }
                guard let role = sharegptRoles[from] else {
                    throw err(field, "unknown speaker \"\(from)\" (known: \(sharegptRoles.keys.sorted().joined(separator: ", ")))")
                }
                msgs.append(ChatMessage(role: role, content: value))
            }
            try requireAssistant(msgs, err(conversations, "has no assistant turn to learn from"))
            return .chat(msgs, tools: try tools())
        }
    }

    func message(_ v: Value, _ r: DataRow, field: String) throws -> ChatMessage {
        guard case .object(let o) = v else { throw DataError(file: r.file, line: r.line, field: field, "expected a message object") }
        guard let role = v[roleKey]?.stringValue else { throw DataError(file: r.file, line: r.line, field: "\(field).\(roleKey)", "missing field") }
        let content: String
        switch v[contentKey] {
        case .string(let s)?: content = s
        case .none?, nil: content = ""
        case .array(let parts)?:  // OpenAI-style content parts: keep the text ones
            content = parts.compactMap { $0["text"]?.stringValue }.joined()
        default: throw DataError(file: r.file, line: r.line, field: "\(field).\(contentKey)", "expected a string")
        }
        let extra = o.keys.enumerated().compactMap { i, k -> (key: String, value: Value)? in
            k == roleKey || k == contentKey ? nil : (key: k, value: o.values[i])
        }
        return ChatMessage(role: role, content: content, extra: extra)
    }

    func requireAssistant(_ msgs: [ChatMessage], _ error: DataError) throws {
        if !msgs.contains(where: { $0.role == "assistant" }) { throw error }
    }

    func keys(_ v: Value) -> String {
        if case .object(let o) = v { return o.keys.joined(separator: ", ") }
        return "none"
    }
}

extension FieldMap {
    enum CodingKeys: String, CodingKey {
        case text, prompt, completion, messages, tools, system, instruction, input, output, history, conversations
        case roleKey = "role", contentKey = "content", fromKey = "from", valueKey = "value", sharegptRoles
    }

    /// Any subset of the names may be given; the rest keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read(_ k: CodingKeys, _ v: inout String) throws { v = try c.decodeIfPresent(String.self, forKey: k) ?? v }
        try read(.text, &text); try read(.prompt, &prompt); try read(.completion, &completion)
        try read(.messages, &messages); try read(.tools, &tools); try read(.system, &system)
        try read(.instruction, &instruction); try read(.input, &input); try read(.output, &output)
        try read(.history, &history); try read(.conversations, &conversations)
        try read(.roleKey, &roleKey); try read(.contentKey, &contentKey); try read(.fromKey, &fromKey); try read(.valueKey, &valueKey)
        if let roles = try c.decodeIfPresent([String: String].self, forKey: .sharegptRoles) {
            sharegptRoles.merge(roles) { _, new in new }
        }
    }
}
