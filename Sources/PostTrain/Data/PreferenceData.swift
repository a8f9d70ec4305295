import Foundation
import Jinja
import LM

/// One row of preference or reward data, independent of the file format: a prompt (the
/// conversation up to where the model answers) and candidate answers, with what is known about
/// them.
public struct PreferenceRecord: Sendable, Equatable {
    public var prompt: [ChatMessage]
    public var tools: [Value]?
    /// Candidate answers, each one or more messages (normally a single assistant turn).
    public var answers: [[ChatMessage]]
    public var judgement: Judgement
    /// Where the row came from ("file:line"), for later error messages.
    public var location: String

    public enum Judgement: Sendable, Equatable {
        /// `answers[0]` is preferred to `answers[1]`; a margin (LLaMA 2) when the data gives one.
        case pair(margin: Double?)
        /// Answers ordered best first; `levels` (higher is better) mark ties with equal values.
        case ranked(levels: [Double])
        /// One answer with a real-valued score (pointwise reward modelling).
        case scored(Double)
        /// One answer labelled desirable or not (KTO).
        case labelled(desirable: Bool)
        /// One answer with nothing known about it (for scoring with a reward).
        case unjudged
    }

    public init(prompt: [ChatMessage], tools: [Value]? = nil, answers: [[ChatMessage]], judgement: Judgement, location: String = "") {
        self.prompt = prompt
        self.tools = tools
        self.answers = answers
        self.judgement = judgement
        self.location = location
    }
}

/// Field names of preference data beyond the chat fields of `FieldMap` (prompt, messages,
/// conversations, system, tools, role/content, from/value); each can be renamed in the config.
public struct PreferenceFields: Codable, Sendable, Equatable {
    public var chosen = "chosen"
    public var rejected = "rejected"
    /// A list of answers (strings, messages or message lists), best first unless ranks or scores say otherwise.
    public var responses = "responses"
    /// 1 is best; equal ranks are ties.
    public var ranks = "ranks"
    /// Higher is better; equal scores are ties.
    public var scores = "scores"
    public var score = "score"
    public var label = "label"
    public var margin = "margin"
    public var scoreChosen = "score_chosen"
    public var scoreRejected = "score_rejected"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case chosen, rejected, responses, ranks, scores, score, label, margin
        case scoreChosen = "score_chosen", scoreRejected = "score_rejected"
    }

    /// Any subset of the names may be given; the rest keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read(_ k: CodingKeys, _ v: inout String) throws { v = try c.decodeIfPresent(String.self, forKey: k) ?? v }
        try read(.chosen, &chosen); try read(.rejected, &rejected); try read(.responses, &responses)
        try read(.ranks, &ranks); try read(.scores, &scores); try read(.score, &score); try read(.label, &label)
        try read(.margin, &margin); try read(.scoreChosen, &scoreChosen); try read(.scoreRejected, &scoreRejected)
    }
}

/// Reads preference rows in the formats users already have:
/// - pairs: `prompt` (a string or messages) + `chosen` + `rejected` (strings, a message, or
///   messages); TRL's implicit prompt (chosen and rejected are whole conversations sharing the
///   prompt); LLaMA-Factory's sharegpt `conversations` + `chosen`/`rejected` turn objects
///   (dpo_en_demo.json); alpaca-style `instruction`/`input` + `chosen`/`rejected`. An optional
///   `margin`, or `score_chosen` − `score_rejected`, gives the pair's margin.
/// - ranked lists: `prompt` + `responses` best first, or with `ranks` (1 best) or `scores`.
/// - pointwise: `prompt` + `completion` + `score` (or messages ending in the answer + `score`).
/// - KTO: `prompt` + `completion` + `label`, or `messages` ending in the answer + `label`
///   (LLaMA-Factory's kto_en_demo.json), or sharegpt `conversations` + `label`.
public struct PreferenceParser: Sendable {
    public var fields: FieldMap
    public var names: PreferenceFields

    public init(fields: FieldMap = FieldMap(), names: PreferenceFields = PreferenceFields()) {
        self.fields = fields
        self.names = names
    }

    public func record(_ r: DataRow) throws -> PreferenceRecord {
        let row = r.value
        func err(_ field: String?, _ msg: String) -> DataError { DataError(file: r.file, line: r.line, field: field, msg) }
        let tools = try self.tools(r)
        func make(_ prompt: [ChatMessage], _ answers: [[ChatMessage]], _ j: PreferenceRecord.Judgement) throws -> PreferenceRecord {
            if let last = prompt.last, last.role == "assistant" {
                throw err(nil, "the prompt ends with an assistant turn; the answer must follow a user (or tool) turn")
            }
            return PreferenceRecord(prompt: prompt, tools: tools, answers: answers, judgement: j, location: r.location)
        }

        // Pairs.
        if present(row[names.chosen]) || present(row[names.rejected]) {
            guard present(row[names.chosen]) else { throw err(names.chosen, "missing field (\"\(names.rejected)\" is given)") }
            guard present(row[names.rejected]) else { throw err(names.rejected, "missing field (\"\(names.chosen)\" is given)") }
            var chosen = try answer(row[names.chosen]!, r, field: names.chosen)
            var rejected = try answer(row[names.rejected]!, r, field: names.rejected)
            var prompt: [ChatMessage]
            if let p = try explicitPrompt(r) {
                prompt = p
            } else {
                // TRL's implicit prompt: both sides are whole conversations sharing their start.
                var n = 0
                while n < min(chosen.count, rejected.count) - 1, chosen[n] == rejected[n] { n += 1 }
                while n > 0, chosen[n - 1].role == "assistant" { n -= 1 }
                guard n > 0 else {
                    throw err(names.chosen, "no prompt: give \"\(fields.prompt)\", \"\(fields.conversations)\" or \"\(fields.messages)\", or make \"\(names.chosen)\" and \"\(names.rejected)\" conversations that share their first turns")
                }
                prompt = Array(chosen[..<n])
                chosen = Array(chosen[n...])
                rejected = Array(rejected[n...])
                prompt = try withSystem(prompt, r)
            }
            for (name, a) in [(names.chosen, chosen), (names.rejected, rejected)] where !a.contains(where: { $0.role == "assistant" }) {
                throw err(name, "has no assistant message")
            }
            var margin = try number(row[names.margin], r, field: names.margin)
            if margin == nil, let sc = try number(row[names.scoreChosen], r, field: names.scoreChosen),
               let sr = try number(row[names.scoreRejected], r, field: names.scoreRejected) {
                margin = sc - sr
            }
            return try make(prompt, [chosen, rejected], .pair(margin: margin))
        }

        // Ranked lists.
        if let v = row[names.responses], present(v) {
            guard case .array(let list) = v, list.count >= 2 else { throw err(names.responses, "expected a list of at least two answers") }
            let answers = try list.enumerated().map { try answer($0.element, r, field: "\(names.responses)[\($0.offset)]") }
            for (i, a) in answers.enumerated() where !a.contains(where: { $0.role == "assistant" }) {
                throw err("\(names.responses)[\(i)]", "has no assistant message")
            }
            var levels = (0..<answers.count).map { Double(answers.count - $0) }
            if let ranks = try numbers(row[names.ranks], r, field: names.ranks) {
                guard ranks.count == answers.count else {
                    throw err(names.ranks, "has \(ranks.count) entries for \(answers.count) responses")
                }
                levels = ranks.map { -$0 }
            } else if let scores = try numbers(row[names.scores], r, field: names.scores) {
                guard scores.count == answers.count else {
                    throw err(names.scores, "has \(scores.count) entries for \(answers.count) responses")
                }
                levels = scores
            }
            guard Set(levels).count > 1 else { throw err(names.responses, "all answers are tied: nothing to learn from") }
            let order = levels.indices.sorted { levels[$0] > levels[$1] || (levels[$0] == levels[$1] && $0 < $1) }
            guard let prompt = try explicitPrompt(r) else { throw err(fields.prompt, "missing field") }
            return try make(prompt, order.map { answers[$0] }, .ranked(levels: order.map { levels[$0] }))
        }

        // One answer: labelled (KTO), scored (pointwise) or unjudged.
        let judgement: PreferenceRecord.Judgement
        if let v = row[names.label], present(v) {
            switch v {
            case .bool(let b): judgement = .labelled(desirable: b)
            case .int(let i) where i == 0 || i == 1: judgement = .labelled(desirable: i == 1)
            case .string(let s) where ["true", "false"].contains(s.lowercased()): judgement = .labelled(desirable: s.lowercased() == "true")
            default: throw err(names.label, "expected true or false")
            }
        } else if let s = try number(row[names.score], r, field: names.score) {
            judgement = .scored(s)
        } else {
            judgement = .unjudged
        }
        if let c = row[fields.completion], present(c) {
            guard let prompt = try explicitPrompt(r, includeMessages: false) else { throw err(fields.prompt, "missing field") }
            let a = try answer(c, r, field: fields.completion)
            guard a.contains(where: { $0.role == "assistant" }) else { throw err(fields.completion, "has no assistant message") }
            return try make(prompt, [a], judgement)
        }
        let (listField, conversation) = try conversationMessages(r)
        guard let conversation else {
            throw err(nil, "no known fields: expected \"\(fields.prompt)\"+\"\(names.chosen)\"+\"\(names.rejected)\", \"\(fields.conversations)\"+\"\(names.chosen)\"+\"\(names.rejected)\", \"\(fields.prompt)\"+\"\(names.responses)\", \"\(fields.prompt)\"+\"\(fields.completion)\" (with \"\(names.score)\" or \"\(names.label)\"), or \"\(fields.messages)\" (with \"\(names.label)\") (keys present: \(keys(row)))")
        }
        // The answer is the final assistant turn; everything before it is the prompt.
        guard let last = conversation.lastIndex(where: { $0.role == "assistant" }), last == conversation.count - 1 else {
            throw err(listField, "must end with the assistant answer")
        }
        return try make(try withSystem(Array(conversation[..<last]), r), [[conversation[last]]], judgement)
    }

    // MARK: Pieces

    func present(_ v: Value?) -> Bool {
        guard let v else { return false }
        return v != .none
    }

    /// The prompt from `prompt`, `conversations`, `messages` or `instruction`(+`input`), with `system`.
    func explicitPrompt(_ r: DataRow, includeMessages: Bool = true) throws -> [ChatMessage]? {
        let row = r.value
        var msgs: [ChatMessage]
        if let p = row[fields.prompt], present(p) {
            switch p {
            case .string(let s): msgs = [ChatMessage(role: "user", content: s)]
            case .array(let list): msgs = try list.enumerated().map { try message($0.element, r, field: "\(fields.prompt)[\($0.offset)]") }
            case .object: msgs = [try message(p, r, field: fields.prompt)]
            default: throw DataError(file: r.file, line: r.line, field: fields.prompt, "expected a string or a list of messages")
            }
        } else if includeMessages, case (_, let list?) = try conversationMessages(r) {
            msgs = list
        } else if let i = row[fields.instruction], present(i) {
            guard var user = i.stringValue else { throw DataError(file: r.file, line: r.line, field: fields.instruction, "expected a string") }
            if let inp = row[fields.input]?.stringValue, !inp.isEmpty { user += "\n" + inp }
            msgs = [ChatMessage(role: "user", content: user)]
        } else {
            return nil
        }
        return try withSystem(msgs, r)
    }

    /// `conversations` (sharegpt turns) or `messages` (role/content), whichever the row has.
    func conversationMessages(_ r: DataRow) throws -> (String?, [ChatMessage]?) {
        for key in [fields.conversations, fields.messages] {
            guard let v = r.value[key], present(v) else { continue }
            guard case .array(let list) = v else { throw DataError(file: r.file, line: r.line, field: key, "expected a list of turns") }
            return (key, try list.enumerated().map { try message($0.element, r, field: "\(key)[\($0.offset)]") })
        }
        return (nil, nil)
    }

    /// An answer: a string (one assistant turn), a message object or a list of messages.
    func answer(_ v: Value, _ r: DataRow, field: String) throws -> [ChatMessage] {
        switch v {
        case .string(let s): return [ChatMessage(role: "assistant", content: s)]
        case .object: return [try message(v, r, field: field)]
        case .array(let list):
            guard !list.isEmpty else { throw DataError(file: r.file, line: r.line, field: field, "is an empty list") }
            return try list.enumerated().map { try message($0.element, r, field: "\(field)[\($0.offset)]") }
        default: throw DataError(file: r.file, line: r.line, field: field, "expected a string, a message or a list of messages")
        }
    }

    /// A role/content message or a sharegpt from/value turn.
    func message(_ v: Value, _ r: DataRow, field: String) throws -> ChatMessage {
        if v[fields.roleKey] == nil, let from = v[fields.fromKey] {
            guard let from = from.stringValue, let role = fields.sharegptRoles[from] else {
                throw DataError(file: r.file, line: r.line, field: "\(field).\(fields.fromKey)",
                                "unknown speaker \(from) (known: \(fields.sharegptRoles.keys.sorted().joined(separator: ", ")))")
            }
            guard let value = v[fields.valueKey]?.stringValue else {
                throw DataError(file: r.file, line: r.line, field: "\(field).\(fields.valueKey)", "missing field")
            }
            return ChatMessage(role: role, content: value)
        }
        return try fields.message(v, r, field: field)
    }

    func withSystem(_ msgs: [ChatMessage], _ r: DataRow) throws -> [ChatMessage] {
        guard let s = r.value[fields.system], present(s), msgs.first?.role != "system" else { return msgs }
        guard let text = s.stringValue else { throw DataError(file: r.file, line: r.line, field: fields.system, "expected a string") }
        return text.isEmpty ? msgs : [ChatMessage(role: "system", content: text)] + msgs
    }

    func tools(_ r: DataRow) throws -> [Value]? {
        guard let v = r.value[fields.tools], present(v) else { return nil }
        switch v {
        case .array(let a): return a
        case .string(let s):  // LLaMA-Factory stores tools as a JSON string
            guard let parsed = try? Value(jsonString: s), case .array(let a) = parsed else {
                throw DataError(file: r.file, line: r.line, field: fields.tools, "expected a JSON array of tools")
            }
            return a
        default: throw DataError(file: r.file, line: r.line, field: fields.tools, "expected an array of tools")
        }
    }

    func number(_ v: Value?, _ r: DataRow, field: String) throws -> Double? {
        switch v {
        case nil, .none?: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)? where d.isFinite: return d
        default: throw DataError(file: r.file, line: r.line, field: field, "expected a finite number")
        }
    }

    func numbers(_ v: Value?, _ r: DataRow, field: String) throws -> [Double]? {
        guard let v, v != .none else { return nil }
        guard case .array(let list) = v else { throw DataError(file: r.file, line: r.line, field: field, "expected a list of numbers") }
        return try list.enumerated().map { i, x in
            guard let n = try number(x, r, field: "\(field)[\(i)]") else {
                throw DataError(file: r.file, line: r.line, field: "\(field)[\(i)]", "expected a finite number")
            }
            return n
        }
    }

    func keys(_ v: Value) -> String {
        if case .object(let o) = v { return o.keys.joined(separator: ", ") }
        return "none"
    }
}
