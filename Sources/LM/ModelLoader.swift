import Foundation
import GGUF
import Jinja
import NN
import Tensor
import Tokenizers

/// A model ready to use, with what came with it.
public struct LoadedModel {
    public var model: any LanguageModel
    public var config: ModelConfig
    /// The file or directory it came from.
    public var source: URL
    public var format: Format
    public var tokenizer: Tokenizer
    /// The model's own chat template (GGUF metadata or tokenizer_config.json), if any.
    public var chatTemplate: String?

    /// Renders conversations with the model's template and special tokens.
    public func chat() throws -> ChatFormatter { try ChatFormatter(template: chatTemplate, tokenizer: tokenizer) }

    /// Token ids that end generation: the tokenizer's EOS set plus the config's.
    public var stopTokenIds: Set<Int> { tokenizer.eosTokenIds.union(config.eosTokenIds) }

    public enum Format: String, Sendable { case gguf, huggingFace }
}

/// Finds and loads models: a GGUF file, a Hugging Face directory, or the alias of a model that
/// `make setup` installed.
public enum ModelLoader {
    /// Installed models by alias; the first is the default.
    public static let aliases: [(alias: String, file: String)] = [
        ("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        ("qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"),
    ]
    public static var defaultModel: String { aliases[0].alias }

    /// Folders searched for installed models: $POSTTRAIN_MODELS, ./.deps/models, and .deps/models
    /// beside the executable's package (so `.build/release/posttrain` finds them from anywhere).
    public static var modelDirectories: [URL] {
        var dirs: [URL] = []
        if let env = ProcessInfo.processInfo.environment["POSTTRAIN_MODELS"] { dirs.append(URL(fileURLWithPath: env)) }
        dirs.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".deps/models"))
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            dirs.append(exe.appendingPathComponent(".deps/models"))
            exe.deleteLastPathComponent()
        }
        return dirs
    }

    /// Resolves an alias, file or directory to a path on disk.
    public static func resolve(_ spec: String) throws -> URL {
        let fm = FileManager.default
        if fm.fileExists(atPath: spec) { return URL(fileURLWithPath: spec) }
        let key = spec.lowercased()
        if let entry = aliases.first(where: { $0.alias == key || $0.file.lowercased() == key }) {
            for dir in modelDirectories {
                let candidate = dir.appendingPathComponent(entry.file)
                if fm.fileExists(atPath: candidate.path) { return candidate }
            }
            throw ModelLoadError.notFound("model \"\(spec)\" is not installed: run `make setup` (searched \(modelDirectories.map(\.path).joined(separator: ", ")))")
        }
        throw ModelLoadError.notFound("\(spec): no such file, directory or model alias (aliases: \(aliases.map(\.alias).joined(separator: ", ")))")
    }

    /// Only the tokenizer (a vocabulary-only GGUF, a lone tokenizer.json, or a model's files).
    public static func loadTokenizer(_ spec: String) throws -> Tokenizer {
        let url = try resolve(spec)
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
        if isDir.boolValue { return try Tokenizer(directory: url) }
        if url.pathExtension == "json" { return try Tokenizer(tokenizerJSON: url) }
        return try Tokenizer(ggufPath: url.path)
    }

    public static func load(_ spec: String, options: LoadOptions = LoadOptions()) throws -> LoadedModel {
        let url = try resolve(spec)
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
        if isDir.boolValue {
            let (model, config) = try HFLoader.load(url, options: options)
            try eval(Array(model.parameters().values))  // load now, not during the first forward pass
            let tokenizer = try Tokenizer(directory: url)
            return LoadedModel(model: model, config: config, source: url, format: .huggingFace, tokenizer: tokenizer,
                               chatTemplate: tokenizer.chatTemplate ?? huggingFaceChatTemplate(url))
        }
        let (model, file) = try GGUFLoader.load(url.path, options: options)
        try eval(Array(model.parameters().values))  // load now, not during the first forward pass
        return LoadedModel(model: model, config: model.config, source: url, format: .gguf, tokenizer: try Tokenizer(gguf: file),
                           chatTemplate: try file.stringIfPresent("tokenizer.chat_template"))
    }

    /// `chat_template` from tokenizer_config.json, or a chat_template.jinja file.
    static func huggingFaceChatTemplate(_ dir: URL) -> String? {
        let jinja = dir.appendingPathComponent("chat_template.jinja")
        if let s = try? String(contentsOf: jinja, encoding: .utf8) { return s }
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        if let s = obj["chat_template"] as? String { return s }
        // Some configs hold a list of named templates; "default" is the chat one.
        if let list = obj["chat_template"] as? [[String: Any]] {
            return (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
        }
        return nil
    }
}
