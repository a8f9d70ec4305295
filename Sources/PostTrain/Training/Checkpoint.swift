import Foundation
import NN
import Tensor

/// Where the data stream stands: micro-batch `index` of shuffled epoch `epoch`.
public struct DataCursor: Codable, Sendable, Equatable {
    public var epoch = 0
    public var index = 0
    public init(epoch: Int = 0, index: Int = 0) { self.epoch = epoch; self.index = index }
}

/// Everything besides tensors that a resumed run needs to continue exactly.
public struct TrainerState: Codable, Sendable, Equatable {
    public var step = 0
    public var cursor = DataCursor()
    public var bestValidationLoss: Double?
    public var evaluationsWithoutImprovement = 0
    public var tokensSeen = 0
    public var seed: UInt64 = 0
    public init() {}
}

/// A checkpoint folder: trainable weights, optimizer state and trainer state, written to a
/// temporary folder and renamed into place, so a crash never leaves a half-written checkpoint.
public enum Checkpoint {
    static let weightsFile = "trainable.safetensors"
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "trainer_state.json"

    public static func directory(_ output: URL, step: Int) -> URL {
        output.appendingPathComponent("checkpoints").appendingPathComponent(String(format: "step-%07d", step))
    }

    public static func save(output: URL, step: Int, weights: [String: Tensor], optimizer: [String: Tensor],
                            state: TrainerState, keep: Int) throws {
        let final = directory(output, step: step)
        let fm = FileManager.default
        let tmp = final.deletingLastPathComponent().appendingPathComponent(".tmp-\(final.lastPathComponent)-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try TensorIO.saveSafetensors(weights, to: tmp.appendingPathComponent(weightsFile).path)
        try TensorIO.saveSafetensors(optimizer, to: tmp.appendingPathComponent(optimizerFile).path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(state).write(to: tmp.appendingPathComponent(stateFile))
        if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
        try fm.moveItem(at: tmp, to: final)
        try prune(output, keep: keep)
    }

    /// The newest complete checkpoint, if any.
    public static func latest(_ output: URL) -> URL? {
        let dir = output.appendingPathComponent("checkpoints")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return nil }
        return names.filter { $0.hasPrefix("step-") }.sorted().reversed()
            .map { dir.appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(stateFile).path) }
    }

    public static func load(_ dir: URL) throws -> (weights: [String: Tensor], optimizer: [String: Tensor], state: TrainerState) {
        let stateURL = dir.appendingPathComponent(stateFile)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw TrainingError.badCheckpoint("\(stateURL.path): \(error)")
        }
        let weights = try TensorIO.loadSafetensors(dir.appendingPathComponent(weightsFile).path).tensors
        let optimizer = try TensorIO.loadSafetensors(dir.appendingPathComponent(optimizerFile).path).tensors
        return (weights, optimizer, state)
    }

    static func prune(_ output: URL, keep: Int) throws {
        guard keep > 0 else { return }
        let dir = output.appendingPathComponent("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("step-") }.sorted()
        for name in names.dropLast(keep) { try? FileManager.default.removeItem(at: dir.appendingPathComponent(name)) }
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case badCheckpoint(String)
    case nonFiniteLoss(step: Int, checkpoint: String?)
    case noData(String)
    case interrupted(checkpoint: String)

    public var description: String {
        switch self {
        case .badCheckpoint(let m): "corrupt checkpoint: \(m)"
        case .nonFiniteLoss(let s, let c):
            "the loss was not finite for several steps in a row (last at step \(s)); stopped\(c.map { ", last good state saved in \($0)" } ?? ""). Lower the learning rate or check the data."
        case .noData(let m): m
        case .interrupted(let c): "interrupted; resume with --resume (checkpoint \(c))"
        }
    }
}
