import ArgumentParser
import Foundation
import Tensor

// OpenBLAS must see its core type before it loads; this may re-execute the process once.
Engine.configureBLAS()

struct PostTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "posttrain",
        abstract: "Post-train large language models: fine-tune, align, evaluate and serve.",
        subcommands: [InfoCommand.self, GenerateCommand.self, ChatCommand.self, TokenizeCommand.self, TemplateCommand.self, SFTCommand.self, DPOCommand.self, RMCommand.self, ScoreCommand.self, MergeCommand.self])
}

PostTrainCommand.main()
