import Foundation
import Jinja
import LM
@testable import PostTrain
import Tensor
import XCTest

/// A generated preference set with a property the model can see: the instruction asks for a
/// format (UPPERCASE or lowercase) and the chosen answer follows it while the rejected one does
/// not. Questions are drawn from templates with a seeded generator, so train and held-out sets
/// are different questions of the same kind.
enum FormatPreferences {
    static let numbers = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
    static let capitals = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Egypt", "Cairo"),
                           ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Greece", "Athens"),
                           ("Germany", "Berlin"), ("Ireland", "Dublin"), ("Poland", "Warsaw"), ("Austria", "Vienna")]
    static let colors = [("banana", "yellow"), ("lime", "green"), ("strawberry", "red"), ("blueberry", "blue"), ("carrot", "orange"),
                         ("plum", "purple"), ("snowball", "white"), ("crow", "black"), ("pumpkin", "orange"), ("cherry", "red")]

    /// A question and its plain answer.
    static func question(_ rng: inout SplitMix64) -> (String, String) {
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        switch rng.next() % 5 {
        case 0:
            let a = Int(rng.next() % 10), b = Int(rng.next() % 10)
            return ("What is \(numbers[a]) plus \(numbers[b])?", "\(numbers[a].capitalized) plus \(numbers[b]) is \(numbers[a + b]).")
        case 1:
            let (c, cap) = pick(capitals)
            return ("What is the capital of \(c)?", "The capital of \(c) is \(cap).")
        case 2:
            let (thing, color) = pick(colors)
            return ("What color is a \(thing)?", "A \(thing) is \(color).")
        case 3:
            let a = Int(rng.next() % 19)
            return ("What number comes after \(numbers[a])?", "After \(numbers[a]) comes \(numbers[a + 1]).")
        default:
            let a = Int(rng.next() % 20), b = (a + 1 + Int(rng.next() % 19)) % 21
            let (hi, lo) = a > b ? (a, b) : (b, a)
            return ("Which is larger, \(numbers[a]) or \(numbers[b])?", "\(numbers[hi].capitalized) is larger than \(numbers[lo]).")
        }
    }

    struct Pair {
        var prompt: String
        var chosen: String
        var rejected: String
        var wantsUppercase: Bool
    }

    /// `count` pairs. With `both`, half the instructions ask for lowercase (chosen lowercase,
    /// rejected uppercase), so only a model that reads the instruction ranks them right.
    static func pairs(count: Int, seed: UInt64, both: Bool) -> [Pair] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let (q, a) = question(&rng)
            let upper = !both || i % 2 == 0
            if upper {
                return Pair(prompt: "\(q) Answer in uppercase letters.", chosen: a.uppercased(), rejected: a, wantsUppercase: true)
            }
            return Pair(prompt: "\(q) Answer in lowercase letters.", chosen: a.lowercased(), rejected: a.uppercased(), wantsUppercase: false)
        }
    }

    /// The pairs as a JSONL file in TRL's prompt/chosen/rejected format.
    static func write(_ pairs: [Pair], to dir: URL, name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        let lines = pairs.map { p in
            Value.object([("prompt", .string(p.prompt)), ("chosen", .string(p.chosen)), ("rejected", .string(p.rejected))]).jsonString()
        }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Fraction of letters that are uppercase.
    static func uppercaseFraction(_ text: String) -> Double {
        let letters = text.unicodeScalars.filter { CharacterSet.letters.contains($0) }
        guard !letters.isEmpty else { return 0 }
        return Double(letters.filter { CharacterSet.uppercaseLetters.contains($0) }.count) / Double(letters.count)
    }
}

enum PreferenceFixtures {
    /// A fresh SmolLM2-135M in float32 (each test changes weights, so no sharing of the model).
    static func loadSmol() throws -> LoadedModel {
        try Fixtures.require(Fixtures.smolGGUF)
        return try ModelLoader.load(Fixtures.smolGGUF, options: LoadOptions(dtype: .float32))
    }

    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("pt-pref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    /// A run config for short, fast real-model runs: LoRA on the last layers, short rows.
    static func quickConfig(train: String, valid: String, output: URL, steps: Int, learningRate: Double, layers: Int = 4) -> RunConfig {
        var c = RunConfig()
        c.model = Fixtures.smolGGUF
        c.train = [DataSource(path: train)]
        c.valid = [DataSource(path: valid)]
        c.output = output.path
        c.numLayers = layers
        c.rank = 8
        c.maxLength = 96
        c.batchSize = 4
        c.training.maxSteps = steps
        c.training.learningRate = learningRate
        c.training.warmupSteps = 2
        c.training.evalEvery = 0
        c.training.saveEvery = 0
        c.training.seed = 7
        return c
    }
}

/// Log-prob sums of each row computed the plain way: full logits, log-softmax, then the answer
/// tokens' entries, in Double on the host.
func plainSequenceLogProbs(_ model: any LanguageModel, _ rows: [TokenizedExample]) throws -> [Double] {
    try rows.map { row in
        let logits = model(Tensor(row.ids, shape: [1, row.ids.count]))
        let logp = logits.logSoftmax(axis: -1).reshaped(row.ids.count, -1)
        let values = try logp.asType(.float32).floats()
        let v = logp.dim(-1)
        var s = 0.0
        for p in 0..<(row.ids.count - 1) where row.isTarget[p + 1] { s += Double(values[p * v + row.ids[p + 1]]) }
        return s
    }
}

func assertValues(_ actual: Tensor, _ expected: [Double], accuracy: Double = 1e-5, _ message: String = "",
                  file: StaticString = #filePath, line: UInt = #line) throws {
    let got = try actual.asType(.float32).floats()
    XCTAssertEqual(got.count, expected.count, message, file: file, line: line)
    for (i, (g, e)) in zip(got, expected).enumerated() {
        XCTAssertEqual(Double(g), e, accuracy: accuracy + 1e-5 * Swift.abs(e), "\(message) [\(i)]", file: file, line: line)
    }
}
