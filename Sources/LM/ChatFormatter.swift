import Foundation
import Jinja
import Tokenizers

/// One chat message as templates see it.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    /// Other fields templates may read (tool_calls, name, tool_call_id, ...), in their order.
    public var extra: [(key: String, value: Value)]

    public init(role: String, content: String, extra: [(key: String, value: Value)] = []) {
        self.role = role
        self.content = content
        self.extra = extra
    }

    public static func == (a: ChatMessage, b: ChatMessage) -> Bool {
        a.role == b.role && a.content == b.content && a.extra.map(\.key) == b.extra.map(\.key)
            && a.extra.map(\.value) == b.extra.map(\.value)
    }

    var templateValue: Value {
        .object([("role", .string(role)), ("content", .string(content))] + extra.map { ($0.key, $0.value) })
    }
}

/// Renders conversations with a model's chat template, as transformers' apply_chat_template does
/// (bos_token / eos_token and the other special tokens are passed to the template).
public struct ChatFormatter: Sendable {
    public let template: Template
    public let tokenizer: Tokenizer

    /// ChatML, used when a model has no template of its own.
    public static let chatML = """
    {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """

    public init(template source: String?, tokenizer: Tokenizer) throws {
        template = try Template(source ?? Self.chatML)
        self.tokenizer = tokenizer
    }

    var specialTokens: [String: Value] {
        var out: [String: Value] = [:]
        if let b = tokenizer.bosTokenId, let t = tokenizer.idToToken(b) { out["bos_token"] = .string(t) }
        if let e = tokenizer.eosTokenId, let t = tokenizer.idToToken(e) { out["eos_token"] = .string(t) }
        if let p = tokenizer.padTokenId, let t = tokenizer.idToToken(p) { out["pad_token"] = .string(t) }
        if let u = tokenizer.unknownTokenId, let t = tokenizer.idToToken(u) { out["unk_token"] = .string(t) }
        return out
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, tools: [Value]? = nil,
                       extra: [String: Value] = [:]) throws -> String {
        var vars = specialTokens
        for (k, v) in extra { vars[k] = v }
        return try template.renderChat(messages: messages.map(\.templateValue), tools: tools,
                                       addGenerationPrompt: addGenerationPrompt, extra: vars)
    }

    /// The prompt's token ids, ready for generation. The template writes any BOS itself, so
    /// none is added unless the template lacks it and the tokenizer wants one.
    public func encodePrompt(_ messages: [ChatMessage], tools: [Value]? = nil) throws -> [Int] {
        encode(try render(messages, addGenerationPrompt: true, tools: tools))
    }

    /// Encodes rendered template text; special tokens in it are recognised.
    public func encode(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text, addSpecialTokens: false)
        if tokenizer.addsBosToken, let bos = tokenizer.bosTokenId, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }
}
