import Foundation
import GGUF

/// Writes the Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json,
/// special_tokens_map.json) equivalent to a GGUF file's byte-level BPE vocabulary, so a model
/// tuned from a GGUF can be exported as a directory that transformers and PostTrain both load.
enum GGUFTokenizerExport {
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static func files(_ f: GGUFFile, chatTemplate: String?, maxLength: Int) throws -> [(String, Data)] {
        let model = try f.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw ModelLoadError.unsupported("\(f.path): exporting a \"\(model)\" (SentencePiece) GGUF tokenizer is not supported; export from the Hugging Face model instead")
        }
        let tokens = try f.stringArray("tokenizer.ggml.tokens")
        let merges = try f.stringArrayIfPresent("tokenizer.ggml.merges") ?? []
        let types = try f.intArrayIfPresent("tokenizer.ggml.token_type") ?? []
        let pre = try f.stringIfPresent("tokenizer.ggml.pre") ?? "default"
        func byteLevel(_ regex: Bool) -> [String: Any] {
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex]
        }
        func split(_ pattern: String) -> [String: Any] {
            ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false]
        }
        let preTokenizer: [String: Any]
        switch pre {
        case "smollm": preTokenizer = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case "qwen2": preTokenizer = ["type": "Sequence", "pretokenizers": [split(qwen2Pattern), byteLevel(false)]]
        case "llama-bpe", "llama3": preTokenizer = ["type": "Sequence", "pretokenizers": [split(llama3Pattern), byteLevel(false)]]
        case "gpt2", "default": preTokenizer = byteLevel(true)
        default:
            throw ModelLoadError.unsupported("\(f.path): exporting the \"\(pre)\" pre-tokenizer is not supported")
        }
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        // Control (3) and user-defined (4) tokens are matched before BPE, as llama.cpp does.
        var added: [[String: Any]] = []
        for (i, t) in tokens.enumerated() where i < types.count && (types[i] == 3 || types[i] == 4) {
            added.append(["id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": types[i] == 3])
        }
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": pre == "llama-bpe" || pre == "llama3", "vocab": vocab, "merges": merges],
        ]
        func token(_ key: String) throws -> String? {
            try f.intIfPresent("tokenizer.ggml.\(key)_token_id").flatMap { tokens.indices.contains($0) ? tokens[$0] : nil }
        }
        var special: [String: Any] = [:]
        for (name, key) in [("bos_token", "bos"), ("eos_token", "eos"), ("pad_token", "padding"), ("unk_token", "unknown")] {
            if let t = try token(key) { special[name] = t }
        }
        var config = special
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config["add_bos_token"] = try f.boolIfPresent("tokenizer.ggml.add_bos_token") ?? false
        config["add_eos_token"] = try f.boolIfPresent("tokenizer.ggml.add_eos_token") ?? false
        config["clean_up_tokenization_spaces"] = false
        config["model_max_length"] = maxLength
        if let chatTemplate { config["chat_template"] = chatTemplate }
        var decoderMap: [String: Any] = [:]
        for a in added { decoderMap[String(a["id"] as! Int)] = a.filter { $0.key != "id" } }
        config["added_tokens_decoder"] = decoderMap
        let opts: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        return [("tokenizer.json", try JSONSerialization.data(withJSONObject: tokenizer, options: opts)),
                ("tokenizer_config.json", try JSONSerialization.data(withJSONObject: config, options: opts.union(.prettyPrinted))),
                ("special_tokens_map.json", try JSONSerialization.data(withJSONObject: special, options: opts.union(.prettyPrinted)))]
    }
}
