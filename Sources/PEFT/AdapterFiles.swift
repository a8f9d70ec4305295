import Foundation
import NN

/// The on-disk format of Hugging Face PEFT (`save_pretrained` / `PeftModel.from_pretrained`):
/// a directory with `adapter_config.json` and `adapter_model.safetensors`, tensors named
/// `base_model.model.<module path>.lora_A.weight`, `.lora_B.weight` and, for DoRA,
/// `.lora_magnitude_vector` (PEFT drops the adapter name "default" and, for the magnitude, the
/// ".weight" of its module when saving).
extension Adapters {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"
    /// PeftModel holds the wrapped model as `base_model.model`.
    static let keyPrefix = "base_model.model."

    /// The file key of an adapter tensor: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".
    static func fileKey(modulePath: String, suffix: String) -> String {
        "\(keyPrefix)\(modulePath).\(suffix)"
    }

    /// Splits a key from an adapter file into the module path and PEFT's canonical suffix
    /// ("lora_A.weight", "lora_B.weight", "lora_magnitude_vector"), accepting the variants PEFT
    /// writes or keeps in memory: with or without the "base_model.model." prefix, with an adapter
    /// name ("lora_A.default.weight", "lora_magnitude_vector.default"), and the magnitude with
    /// its module's ".weight". Nil for anything else.
    static func parseFileKey(_ key: String) -> (modulePath: String, suffix: String)? {
        let body = key.hasPrefix(keyPrefix) ? String(key.dropFirst(keyPrefix.count)) : key
        let parts = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let i = parts.lastIndex(where: { $0 == "lora_A" || $0 == "lora_B" || $0 == "lora_magnitude_vector" }),
              i > 0 else { return nil }
        let path = parts[..<i].joined(separator: ".")
        let tail = Array(parts[(i + 1)...])
        if parts[i] == "lora_magnitude_vector" {
            // [], [name], [weight] or [name, weight].
            guard tail.count <= 2, tail.count < 2 || tail[1] == "weight" else { return nil }
            return (path, "lora_magnitude_vector")
        }
        guard tail == ["weight"] || (tail.count == 2 && tail[1] == "weight") else { return nil }
        return (path, "\(parts[i]).weight")
    }
}
