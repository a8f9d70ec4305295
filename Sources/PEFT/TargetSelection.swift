import Foundation

/// Decides which module paths get adapters and with what rank and alpha, with Hugging Face
/// PEFT's rules, so a config selects the same layers here as there:
/// - `target_modules` as a list: the path equals a name or ends with "." + name;
///   as a string: a regex the whole path must match; "all-linear": every linear layer but the
///   output head `lm_head`.
/// - `exclude_modules`: the same forms, removing matches.
/// - `layers_to_transform`: the layer index is the first number in the path that follows a
///   module-list name (`model.layers.3.mlp` → 3), or follows one of `layers_pattern`. As in PEFT it
///   does not apply when `target_modules` is a regex.
/// - `rank_pattern` / `alpha_pattern`: the first key whose regex matches the end of the path (at a
///   component boundary) overrides `r` / `lora_alpha`.
struct TargetSelector {
    let config: PEFTConfig
    private let targetRegex: NSRegularExpression?
    private let excludeRegex: NSRegularExpression?
    private let layerPatterns: [NSRegularExpression]
    private let rankPatterns: [(NSRegularExpression, Int)]
    private let alphaPatterns: [(NSRegularExpression, Double)]

    /// Output heads that "all-linear" leaves alone (PEFT skips the model's output embedding).
    static let outputHeads: Set<String> = ["lm_head"]

    init(_ config: PEFTConfig) throws {
        self.config = config
        func whole(_ pattern: String, _ field: String) throws -> NSRegularExpression {
            do {
                return try NSRegularExpression(pattern: "^(?:\(pattern))$")
            } catch {
                throw PEFTError.unsupportedConfig("\(field): invalid regex \"\(pattern)\"")
            }
        }
        if case .regex(let p) = config.targetModules { targetRegex = try whole(p, "target_modules") } else { targetRegex = nil }
        if case .regex(let p) = config.excludeModules { excludeRegex = try whole(p, "exclude_modules") } else { excludeRegex = nil }
        layerPatterns = try (config.layersPattern ?? []).filter { !$0.isEmpty }.map { try whole($0, "layers_pattern") }
        // Patterns are tried longest first, so "self_attn.q_proj" wins over "q_proj" regardless of
        // the dictionary's order.
        rankPatterns = try config.rankPattern.sorted { ($0.key.count, $0.key) > ($1.key.count, $1.key) }
            .map { (try whole("(?:.*\\.)?(?:\($0.key))", "rank_pattern"), $0.value) }
        alphaPatterns = try config.alphaPattern.sorted { ($0.key.count, $0.key) > ($1.key.count, $1.key) }
            .map { (try whole("(?:.*\\.)?(?:\($0.key))", "alpha_pattern"), $0.value) }
    }

    /// Whether the linear layer at `path` gets an adapter.
    func selects(_ path: String) -> Bool {
        if isExcluded(path) { return false }
        switch config.targetModules {
        case .none:
            return false
        case .regex:
            return Self.matches(targetRegex!, path)
        case .names(let names):
            return Self.endsWithName(path, names) && inSelectedLayer(path)
        case .allLinear:
            let last = path.split(separator: ".").last.map(String.init) ?? path
            return !Self.outputHeads.contains(last) && inSelectedLayer(path)
        }
    }

    func rank(_ path: String) -> Int {
        rankPatterns.first { Self.matches($0.0, path) }?.1 ?? config.r
    }

    func alpha(_ path: String) -> Double {
        alphaPatterns.first { Self.matches($0.0, path) }?.1 ?? config.loraAlpha
    }

    private func isExcluded(_ path: String) -> Bool {
        switch config.excludeModules {
        case .none: false
        case .regex: Self.matches(excludeRegex!, path)
        case .names(let names): Self.endsWithName(path, names)
        case .allLinear: true
        }
    }

    private func inSelectedLayer(_ path: String) -> Bool {
        guard let wanted = config.layersToTransform, !wanted.isEmpty else { return true }
        guard let index = layerIndex(path) else { return false }
        return wanted.contains(index)
    }

    /// The layer number in `path`: the first numeric component after a list name (and before the
    /// layer's own modules), e.g. 3 in "model.layers.3.self_attn.q_proj".
    func layerIndex(_ path: String) -> Int? {
        let parts = path.split(separator: ".").map(String.init)
        guard parts.count >= 3 else { return nil }
        for i in 1..<(parts.count - 1) {
            guard let n = Int(parts[i]) else { continue }
            if layerPatterns.isEmpty || layerPatterns.contains(where: { Self.matches($0, parts[i - 1]) }) { return n }
        }
        return nil
    }

    static func endsWithName(_ path: String, _ names: [String]) -> Bool {
        names.contains { path == $0 || path.hasSuffix("." + $0) }
    }

    static func matches(_ regex: NSRegularExpression, _ s: String) -> Bool {
        regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }
}
