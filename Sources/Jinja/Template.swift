import Foundation

/// An error from parsing or rendering a template.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The template text is malformed.
        case syntax
        /// An undefined value was used in a way that needs a value (jinja2's UndefinedError).
        case undefined
        /// An operation got values of the wrong type (Python's TypeError and friends).
        case type
        /// The sandbox refused an operation (mutating a list, oversized range).
        case security
        /// The template called `raise_exception(message)`; `message` is exactly its argument.
        case raised
        /// Any other runtime failure.
        case runtime
    }

    public var kind: Kind
    public var message: String
    public var line: Int?
    public var column: Int?

    public init(_ kind: Kind, _ message: String, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        let place = line.map { l in "line \(l)" + (column.map { ", column \($0)" } ?? "") + ": " } ?? ""
        return "\(place)\(message)"
    }
}

/// A compiled Jinja template, rendered the way Hugging Face transformers renders chat templates:
/// jinja2's ImmutableSandboxedEnvironment with `trim_blocks`, `lstrip_blocks`, the loopcontrols
/// extension, `raise_exception`, `strftime_now`, the `{% generation %}` tag, and `tojson` as
/// `json.dumps(ensure_ascii=False)`.
///
/// Output is byte-identical to jinja2 for the language chat templates use (checked against
/// Python by the test suite). Known differences, none of which real chat templates rely on:
/// - no template inheritance or loading (`extends`, `block`, `include`, `import`);
/// - not implemented: the `groupby`, `pprint`, `urlize`, `urlencode`, `wordwrap`, `xmlattr`,
///   `filesizeformat` and `random` filters and the `cycler`/`lipsum` globals;
/// - no Markup type: `safe`/`escape` return plain strings, so escaping twice escapes twice and
///   `Markup + str` does not auto-escape;
/// - integers are 64-bit (overflow is an error, not a big integer), dict literal keys must be
///   strings, and generators can be iterated more than once;
/// - the printed form of functions, generators and methods (`<generator object ... at 0x...>`).
public struct Template: Sendable {
    public struct Options: Sendable {
        /// Drop the first newline after a block or comment tag.
        public var trimBlocks: Bool
        /// Drop spaces and tabs between the start of a line and a block or comment tag.
        public var lstripBlocks: Bool
        /// Keep a single trailing newline of the template source (jinja2 drops it by default).
        public var keepTrailingNewline: Bool
        /// The clock behind `strftime_now`; injectable so renders can be reproduced.
        public var now: @Sendable () -> Date

        public init(trimBlocks: Bool = true, lstripBlocks: Bool = true, keepTrailingNewline: Bool = false,
                    now: @escaping @Sendable () -> Date = { Date() }) {
            self.trimBlocks = trimBlocks
            self.lstripBlocks = lstripBlocks
            self.keepTrailingNewline = keepTrailingNewline
            self.now = now
        }

        /// What transformers uses for chat templates (the default).
        public static var transformers: Options { Options() }
        /// A plain `jinja2.Environment()`: no block trimming.
        public static var jinja2Defaults: Options { Options(trimBlocks: false, lstripBlocks: false) }
    }

    public let source: String
    public let options: Options
    let body: [Stmt]

    /// Parses `source` once; syntax errors are thrown as `TemplateError` with `.syntax` kind and the
    /// line and column of the offending token.
    public init(_ source: String, options: Options = Options()) throws {
        self.source = source
        self.options = options
        self.body = try Parser.parse(source, options: options)
    }

    /// Renders with the given variables. Errors raised by the template (`raise_exception`), type
    /// errors and uses of undefined values are thrown as `TemplateError` with the failing line.
    public func render(_ context: [String: Value] = [:]) throws -> String {
        try Interpreter(options: options, context: context).run(body)
    }

    /// The rendered text plus the ranges produced inside transformers' `{% generation %}` blocks
    /// (what `return_assistant_tokens_mask` builds its mask from).
    public struct Rendered: Sendable {
        public var text: String
        public var generationRanges: [Range<String.Index>]
    }

    public func renderTracked(_ context: [String: Value] = [:]) throws -> Rendered {
        let ip = Interpreter(options: options, context: context)
        let text = try ip.run(body)
        let scalars = text.unicodeScalars
        func index(_ offset: Int) -> String.Index {
            scalars.index(scalars.startIndex, offsetBy: offset, limitedBy: scalars.endIndex) ?? scalars.endIndex
        }
        let ranges = ip.generationRanges.map { index($0.lowerBound)..<index(max($0.lowerBound, $0.upperBound)) }
        return Rendered(text: text, generationRanges: ranges)
    }

    /// The variables transformers' `apply_chat_template` passes: `messages`, `tools` and `documents`
    /// (none when absent, so `tools is not none` works and `tools is defined` is true), and
    /// `add_generation_prompt`, plus `extra` (special tokens such as `bos_token`/`eos_token`, and
    /// template switches such as `enable_thinking`), which may override any of them.
    public static func chatContext(messages: [Value], tools: [Value]? = nil, documents: [Value]? = nil,
                                   addGenerationPrompt: Bool = false,
                                   extra: [String: Value] = [:]) -> [String: Value] {
        var ctx: [String: Value] = [
            "messages": .array(messages),
            "tools": tools.map { .array($0) } ?? .none,
            "documents": documents.map { .array($0) } ?? .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
        ]
        for (k, v) in extra { ctx[k] = v }
        return ctx
    }

    /// Renders a conversation as `tokenizer.apply_chat_template(messages, tools=..., tokenize=False,
    /// add_generation_prompt=...)` would.
    public func renderChat(messages: [Value], tools: [Value]? = nil, documents: [Value]? = nil,
                           addGenerationPrompt: Bool = false, extra: [String: Value] = [:]) throws -> String {
        try render(Template.chatContext(messages: messages, tools: tools, documents: documents,
                                        addGenerationPrompt: addGenerationPrompt, extra: extra))
    }
}
