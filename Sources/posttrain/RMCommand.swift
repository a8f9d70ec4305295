import ArgumentParser
import Foundation
import PostTrain

extension RewardObjective.Loss: ExpressibleByArgument {}

/// `posttrain rm`: trains a reward model with the flags of `posttrain sft` plus the loss's.
struct RMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Train a reward model (LM + scalar value head) pointwise, pairwise or listwise, with LoRA or fully.",
        discussion: """
        Data: pairs (prompt/chosen/rejected, sharegpt conversations + chosen/rejected; optional margin or \
        score_chosen/score_rejected), ranked lists (prompt + responses, optional ranks or scores), or scored answers \
        (prompt/completion/score). The result is a folder (output/reward_model) that `posttrain score` and later \
        stages load. Settings come from the config's `reward:` section; flags override them.
        """)

    @OptionGroup var options: TrainingOptions
    @Option(name: .customLong("rm-loss"), help: "pointwise (MSE to scores), pairwise (Bradley–Terry) or listwise (all pairs of ranked answers).")
    var rmLoss: RewardObjective.Loss?
    @Option(help: "Margin for pairs without one in the data: −log σ(r⁺ − r⁻ − margin).") var margin: Double?
    @Option(name: .customLong("lm-weight"), help: "Weight of an LM loss on the best answer (0: off).") var lmWeight: Double?
    @Option(name: .customLong("center-rewards"), help: "Coefficient of the (r⁺ + r⁻)² centring term.") var centerRewards: Double?
    @Option(name: .customLong("max-prompt-length")) var maxPromptLength: Int?

    func run() throws {
        let config = try options.runConfig()
        var reward = try options.config.map { try RewardConfig.load($0) } ?? RewardConfig()
        if let rmLoss { reward.loss = rmLoss }
        if let margin { reward.margin = margin }
        if let lmWeight { reward.lmWeight = lmWeight }
        if let centerRewards { reward.centerRewardsCoefficient = centerRewards }
        if let maxPromptLength { reward.maxPromptLength = maxPromptLength }
        let outcome = try RewardRun(config: config, reward: reward, resume: options.resume).run()
        let r = outcome.result
        for (title, values, prefix) in [("final training", outcome.lastTraining, ""), ("validation", outcome.lastValidation, "validation_")] {
            guard let loss = values["\(prefix)loss"] else { continue }
            var parts = [String(format: "%@ loss %.4f", title, loss)]
            for (key, name) in [("reward_accuracy", "accuracy"), ("reward_margin", "margin"), ("mse", "MSE")] {
                if let x = values[prefix + key] { parts.append(String(format: "%@ %.4f", name, x)) }
            }
            print(parts.joined(separator: ", "))
        }
        print(String(format: "%d steps in %.0fs, %.1f tokens/s, peak memory %.2f GB", r.steps, r.seconds, r.tokensPerSecond,
                     Double(r.peakMemoryBytes) / 1e9))
        if r.interrupted { print("interrupted: continue with --resume") }
        print("reward model: \(outcome.rewardModel.path)")
    }
}
