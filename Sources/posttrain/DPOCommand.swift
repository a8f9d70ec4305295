import ArgumentParser
import Foundation
import PostTrain

extension PreferenceConfig.Method: ExpressibleByArgument {}
extension PreferenceConfig.KLEstimate: ExpressibleByArgument {}

/// `posttrain dpo`: preference optimisation with the flags of `posttrain sft` plus the method's.
struct DPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Preference optimisation: DPO (sigmoid, IPO, cDPO, hinge, robust), KTO, ORPO or SimPO, with LoRA or full training.",
        discussion: """
        Data: prompt/chosen/rejected (strings or message lists), sharegpt conversations + chosen/rejected \
        (LLaMA-Factory's dpo_en_demo.json), ranked responses; for KTO, prompt/completion/label or messages + label \
        (kto_en_demo.json; pairs also work). Method settings come from the config's `dpo:` section; flags override them. \
        Reference log-probs are computed once before training unless --no-precompute-ref.
        """)

    @OptionGroup var options: TrainingOptions
    @Option(name: .customLong("loss-type"), help: "sigmoid, ipo, cdpo, hinge, robust, kto, orpo or simpo.") var lossType: PreferenceConfig.Method?
    @Option(help: "β (default 0.1; SimPO 2.0).") var beta: Double?
    @Option(name: .customLong("label-smoothing"), help: "ε of cDPO, robust DPO and SimPO (cdpo default 0.1).") var labelSmoothing: Double?
    @Option(name: .customLong("simpo-gamma"), help: "SimPO's target margin γ (default 0.5).") var simpoGamma: Double?
    @Option(name: .customLong("orpo-lambda"), help: "ORPO's weight λ of the odds-ratio term (default 0.1).") var orpoLambda: Double?
    @Option(name: .customLong("desirable-weight"), help: "KTO's weight of desirable answers.") var desirableWeight: Double?
    @Option(name: .customLong("undesirable-weight"), help: "KTO's weight of undesirable answers.") var undesirableWeight: Double?
    @Option(name: .customLong("kto-kl"), help: "KTO's reference point: mismatched (KL estimate) or none.") var ktoKL: PreferenceConfig.KLEstimate?
    @Flag(name: .customLong("no-precompute-ref"), help: "Keep the reference in memory and run it every step instead of caching its log-probs.")
    var noPrecomputeRef = false
    @Option(name: .customLong("ref-model"), help: "A separate reference model (default: the starting policy).") var refModel: String?
    @Option(name: .customLong("max-prompt-length"), help: "Longest prompt kept when prompt + answer exceed --max-length.") var maxPromptLength: Int?

    func preferenceConfig() throws -> PreferenceConfig {
        var p = try options.config.map { try PreferenceConfig.load($0) } ?? PreferenceConfig()
        if let lossType { p.lossType = lossType }
        if let beta { p.beta = beta }
        if let labelSmoothing { p.labelSmoothing = labelSmoothing }
        if let simpoGamma { p.simpoGamma = simpoGamma }
        if let orpoLambda { p.orpoLambda = orpoLambda }
        if let desirableWeight { p.desirableWeight = desirableWeight }
        if let undesirableWeight { p.undesirableWeight = undesirableWeight }
        if let ktoKL { p.ktoKl = ktoKL }
        if noPrecomputeRef { p.precomputeRefLogProbs = false }
        if let refModel { p.refModel = refModel }
        if let maxPromptLength { p.maxPromptLength = maxPromptLength }
        return p
    }

    func run() throws {
        let config = try options.runConfig()
        let outcome = try PreferenceRun(config: config, preference: try preferenceConfig(), resume: options.resume).run()
        let r = outcome.result
        let t = outcome.lastTraining, v = outcome.lastValidation
        func line(_ title: String, _ values: [String: Double], prefix: String) {
            guard let loss = values["\(prefix)loss"] else { return }
            var parts = [String(format: "%@ loss %.4f", title, loss)]
            for (key, name) in [("reward_accuracy", "accuracy"), ("reward_margin", "margin"), ("reward_chosen", "chosen reward"),
                                ("reward_rejected", "rejected reward"), ("kl", "KL")] {
                if let x = values[prefix + key] { parts.append(String(format: "%@ %.4f", name, x)) }
            }
            print(parts.joined(separator: ", "))
        }
        line("final training", t, prefix: "")
        line("validation", v, prefix: "validation_")
        let steps = Double(r.steps) / max(r.seconds, 1e-9)
        print(String(format: "%d steps in %.0fs (%.3f steps/s), %.1f tokens/s, peak memory %.2f GB; reference: %@", r.steps, r.seconds,
                     steps, r.tokensPerSecond, Double(r.peakMemoryBytes) / 1e9, outcome.reference))
        if r.interrupted { print("interrupted: continue with --resume") }
        print("output: \(outcome.output.path) (\(outcome.artifact.lastPathComponent): \(outcome.artifact.path))")
    }
}
