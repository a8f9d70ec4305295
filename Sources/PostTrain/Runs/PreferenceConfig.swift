import Foundation
import Yams

/// Settings of `posttrain dpo` beyond the shared run config: the `dpo:` section of the same YAML
/// file (snake_case keys, as TRL's `DPOConfig`), which flags override.
public struct PreferenceConfig: Codable, Sendable, Equatable {
    /// The method: DPO's loss types (sigmoid, ipo, hinge, robust; cdpo is sigmoid with label
    /// smoothing), KTO, and the reference-free ORPO and SimPO.
    public enum Method: String, Codable, Sendable, CaseIterable { case sigmoid, ipo, cdpo, hinge, robust, kto, orpo, simpo }
    public enum KLEstimate: String, Codable, Sendable, CaseIterable { case mismatched, none }

    public var lossType: Method = .sigmoid
    /// β; default 0.1 (SimPO: 2.0).
    public var beta: Double?
    /// ε of conservative DPO / robust DPO / SimPO; default 0 (cdpo: 0.1).
    public var labelSmoothing: Double?
    public var simpoGamma: Double = 0.5
    /// ORPO's λ (TRL calls it beta).
    public var orpoLambda: Double = 0.1
    public var desirableWeight: Double = 1
    public var undesirableWeight: Double = 1
    /// KTO's reference point: estimated from mismatched pairs, or zero.
    public var ktoKl: KLEstimate = .mismatched
    /// Compute reference log-probs once before training (false keeps a reference model and
    /// runs it every step).
    public var precomputeRefLogProbs: Bool = true
    /// A separate reference model (default: the starting policy).
    public var refModel: String?
    public var maxPromptLength: Int?
    public var fields = PreferenceFields()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lossType = "loss_type", beta, labelSmoothing = "label_smoothing", simpoGamma = "simpo_gamma"
        case orpoLambda = "orpo_lambda", desirableWeight = "desirable_weight", undesirableWeight = "undesirable_weight"
        case ktoKl = "kto_kl", precomputeRefLogProbs = "precompute_ref_log_probs", refModel = "ref_model"
        case maxPromptLength = "max_prompt_length", fields
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lossType = try c.decodeIfPresent(Method.self, forKey: .lossType) ?? lossType
        beta = try c.decodeIfPresent(Double.self, forKey: .beta)
        labelSmoothing = try c.decodeIfPresent(Double.self, forKey: .labelSmoothing)
        simpoGamma = try c.decodeIfPresent(Double.self, forKey: .simpoGamma) ?? simpoGamma
        orpoLambda = try c.decodeIfPresent(Double.self, forKey: .orpoLambda) ?? orpoLambda
        desirableWeight = try c.decodeIfPresent(Double.self, forKey: .desirableWeight) ?? desirableWeight
        undesirableWeight = try c.decodeIfPresent(Double.self, forKey: .undesirableWeight) ?? undesirableWeight
        ktoKl = try c.decodeIfPresent(KLEstimate.self, forKey: .ktoKl) ?? ktoKl
        precomputeRefLogProbs = try c.decodeIfPresent(Bool.self, forKey: .precomputeRefLogProbs) ?? precomputeRefLogProbs
        refModel = try c.decodeIfPresent(String.self, forKey: .refModel)
        maxPromptLength = try c.decodeIfPresent(Int.self, forKey: .maxPromptLength)
        fields = try c.decodeIfPresent(PreferenceFields.self, forKey: .fields) ?? fields
    }

    public var effectiveBeta: Double { beta ?? (lossType == .simpo ? 2.0 : 0.1) }
    public var effectiveLabelSmoothing: Double { labelSmoothing ?? (lossType == .cdpo ? 0.1 : 0) }
    /// ORPO and SimPO need no reference model.
    public var needsReference: Bool { ![.orpo, .simpo].contains(lossType) }

    public func validate() throws {
        func bad(_ key: CodingKeys, _ m: String) -> DataError { DataError(file: "config", field: "dpo.\(key.rawValue)", m) }
        guard effectiveBeta > 0, effectiveBeta.isFinite else { throw bad(.beta, "must be positive") }
        let eps = effectiveLabelSmoothing
        guard eps >= 0, eps < 0.5 else { throw bad(.labelSmoothing, "must be in [0, 0.5)") }
        if lossType == .cdpo && eps == 0 { throw bad(.labelSmoothing, "conservative DPO needs a label smoothing above 0") }
        if eps > 0 && ![.sigmoid, .cdpo, .robust, .simpo].contains(lossType) {
            throw bad(.labelSmoothing, "applies to sigmoid, cdpo, robust and simpo, not \(lossType.rawValue)")
        }
        guard orpoLambda >= 0 else { throw bad(.orpoLambda, "must not be negative") }
        guard desirableWeight > 0, undesirableWeight > 0 else { throw bad(.desirableWeight, "KTO's weights must be positive") }
        if let m = maxPromptLength, m < 1 { throw bad(.maxPromptLength, "must be at least 1") }
    }

    /// The `dpo:` section of a YAML config (other keys belong to `RunConfig` and are ignored).
    public static func load(_ path: String) throws -> PreferenceConfig {
        try ConfigSection.load(path, section: "dpo", keys: CodingKeys.allCases.map(\.rawValue)) ?? PreferenceConfig()
    }
}

/// Settings of `posttrain rm` beyond the shared run config: the `reward:` section.
public struct RewardConfig: Codable, Sendable, Equatable {
    public var loss: RewardObjective.Loss = .pairwise
    /// Margin of pairs whose data gives none.
    public var margin: Double = 0
    /// Weight of the LM loss on the best answer (0: off).
    public var lmWeight: Double = 0
    /// TRL's center_rewards_coefficient: pulls r⁺ + r⁻ towards 0.
    public var centerRewardsCoefficient: Double = 0
    public var maxPromptLength: Int?
    public var fields = PreferenceFields()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case loss, margin, lmWeight = "lm_weight", centerRewardsCoefficient = "center_rewards_coefficient"
        case maxPromptLength = "max_prompt_length", fields
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        loss = try c.decodeIfPresent(RewardObjective.Loss.self, forKey: .loss) ?? loss
        margin = try c.decodeIfPresent(Double.self, forKey: .margin) ?? margin
        lmWeight = try c.decodeIfPresent(Double.self, forKey: .lmWeight) ?? lmWeight
        centerRewardsCoefficient = try c.decodeIfPresent(Double.self, forKey: .centerRewardsCoefficient) ?? centerRewardsCoefficient
        maxPromptLength = try c.decodeIfPresent(Int.self, forKey: .maxPromptLength)
        fields = try c.decodeIfPresent(PreferenceFields.self, forKey: .fields) ?? fields
    }

    public func validate() throws {
        func bad(_ key: CodingKeys, _ m: String) -> DataError { DataError(file: "config", field: "reward.\(key.rawValue)", m) }
        guard margin.isFinite else { throw bad(.margin, "must be finite") }
        guard lmWeight >= 0 else { throw bad(.lmWeight, "must not be negative") }
        guard centerRewardsCoefficient >= 0 else { throw bad(.centerRewardsCoefficient, "must not be negative") }
        if let m = maxPromptLength, m < 1 { throw bad(.maxPromptLength, "must be at least 1") }
    }

    /// The `reward:` section of a YAML config.
    public static func load(_ path: String) throws -> RewardConfig {
        try ConfigSection.load(path, section: "reward", keys: CodingKeys.allCases.map(\.rawValue)) ?? RewardConfig()
    }
}

/// Reads one named section of a YAML run config, rejecting keys the section does not know.
enum ConfigSection {
    static func load<T: Decodable>(_ path: String, section: String, keys: [String]) throws -> T? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError(file: path, "cannot read the config file")
        }
        let raw: Any?
        do { raw = try Yams.load(yaml: text) } catch { throw DataError(file: path, "invalid YAML: \(error)") }
        guard let dict = raw as? [String: Any] else { throw DataError(file: path, "expected a mapping of settings") }
        guard let value = dict[section] else { return nil }
        guard let body = value as? [String: Any] else { throw DataError(file: path, field: section, "expected a mapping of settings") }
        if let unknown = body.keys.sorted().first(where: { !keys.contains($0) }) {
            throw DataError(file: path, field: "\(section).\(unknown)", "unknown setting (known: \(keys.sorted().joined(separator: ", ")))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: body))
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            throw DataError(file: path, field: ([section] + ctx.codingPath.map(\.stringValue)).joined(separator: "."), ctx.debugDescription)
        }
    }

    /// The run config as YAML with a method's section added, saved in each run folder.
    static func yaml<T: Encodable>(_ run: RunConfig, section: String, _ value: T) throws -> String {
        var dict = (try Yams.load(yaml: try run.yaml()) as? [String: Any]) ?? [:]
        dict[section] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
        return try Yams.dump(object: dict, sortKeys: true)
    }
}
