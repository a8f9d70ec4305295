import Foundation
import LM
import Tokenizers

/// Which tokens carry the loss.
public enum LossScope: String, Codable, Sendable {
    /// Assistant turns (every one, in multi-turn chats) and completions; never prompts or the
    /// template's role headers. The default, as in TRL's assistant_only_loss / completion_only_loss.
    case completion
    /// Every token.
    case all
}

/// A tokenized example: ids and, per token, whether it is a training target.
public struct TokenizedExample: Sendable, Equatable {
    public var ids: [Int]
    public var isTarget: [Bool]
    public var truncated: Bool

    public var targetCount: Int { isTarget.dropFirst().filter { $0 }.count }
    /// Loss flags per input position: position p predicts token p + 1.
    public var lossOnNext: [Bool] { Array(isTarget.dropFirst()) + [false] }
}

/// Turns examples into token ids with loss flags, through the model's chat template.
///
/// Assistant spans are found by rendering: the prefix of the conversation before assistant
/// turn i, with the generation prompt, is what the model sees before it answers; the
/// conversation up to and including turn i ends where the answer (with its end-of-turn token)
/// ends. The text is then tokenized in segments (prompt, answer, prompt, answer, …) so that each
/// token belongs to exactly one side, as LLaMA-Factory does.
public struct ExampleRenderer {
    public let chat: ChatFormatter
    public var scope: LossScope
    public var maxLength: Int
    /// Append EOS after plain text and completions (chat templates end turns themselves).
    public var appendEOS: Bool

    public init(chat: ChatFormatter, scope: LossScope = .completion, maxLength: Int = 2048, appendEOS: Bool = true) {
        self.chat = chat
        self.scope = scope
        self.maxLength = maxLength
        self.appendEOS = appendEOS
    }

    var tokenizer: Tokenizer { chat.tokenizer }

    /// Text segments, each marked as target or not.
    public func segments(_ example: Example) throws -> [(text: String, target: Bool)] {
        let eos = appendEOS ? (tokenizer.eosTokenId.flatMap { tokenizer.idToToken($0) } ?? "") : ""
        switch example {
        case .text(let t):
            return [(t + eos, true)]
        case .completion(let p, let c):
            return [(p, scope == .all), (c + eos, true)]
        case .chat(let msgs, let tools):
            let full = try chat.render(msgs, addGenerationPrompt: false, tools: tools)
            var out: [(String, Bool)] = []
            var cursor = full.startIndex
            for (i, m) in msgs.enumerated() where m.role == "assistant" {
                let before = try chat.render(Array(msgs[..<i]), addGenerationPrompt: true, tools: tools)
                let through = try chat.render(Array(msgs[...i]), addGenerationPrompt: false, tools: tools)
                guard full.hasPrefix(through), through.hasPrefix(before),
                      before.endIndex >= cursor else {
                    throw DataError(file: "chat template", "this template renders earlier turns differently when later turns follow, so assistant turns cannot be located; use loss scope \"all\"")
                }
                var end = through.endIndex
                // Separators after the end-of-turn token (newlines) are not part of the answer.
                while end > before.endIndex, through[through.index(before: end)].isWhitespace { end = through.index(before: end) }
                out.append((String(full[cursor..<before.endIndex]), scope == .all))
                out.append((String(full[before.endIndex..<end]), true))
                cursor = end
            }
            if cursor < full.endIndex { out.append((String(full[cursor...]), scope == .all)) }
            return out
        }
    }

    public func tokenize(_ example: Example) throws -> TokenizedExample {
        var ids: [Int] = [], target: [Bool] = []
        for (text, isTarget) in try segments(example) where !text.isEmpty {
            let t = tokenizer.encode(text, addSpecialTokens: false)
            ids += t
            target += Array(repeating: isTarget, count: t.count)
        }
        if tokenizer.addsBosToken, let bos = tokenizer.bosTokenId, ids.first != bos {
            ids.insert(bos, at: 0)
            target.insert(false, at: 0)
        }
        var truncated = false
        if ids.count > maxLength {
            ids = Array(ids.prefix(maxLength))
            target = Array(target.prefix(maxLength))
            truncated = true
        }
        return TokenizedExample(ids: ids, isTarget: target, truncated: truncated)
    }
}
