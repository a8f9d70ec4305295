import ArgumentParser
import Foundation
import LM
import Tensor

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the engine, BLAS and installed models.")

    func run() throws {
        print("MLX \(Engine.version), default device \(Engine.defaultDevice.rawValue)\(Engine.gpuAvailable ? " (GPU available)" : "")")
        print("BLAS: \(Engine.blas)")
        print("OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        for (alias, _) in ModelLoader.aliases {
            let path = (try? ModelLoader.resolve(alias).path) ?? "not installed (make setup)"
            print("model \(alias): \(path)")
        }
    }
}
