import Foundation
import XCTest
import GGUF
@testable import Tokenizers

/// What the Hugging Face reference reported for one tokenizer on the test corpus.
struct ReferenceResult: Sendable {
    let vocabularySize: Int
    let ids: [[Int]]
    let idsWithSpecialTokens: [[Int]]
    let idsLiteral: [[Int]]
    let decoded: [String]
    let decodedSkippingSpecial: [String]
    let randomDecoded: [String]
    let randomDecodedSkippingSpecial: [String]

    init(_ json: [String: Any]) throws {
        func ids(_ key: String) throws -> [[Int]] {
            guard let v = json[key] as? [[Int]] else { throw TestEnvironment.Missing(description: "reference output lacks \(key)") }
            return v
        }
        func strings(_ key: String) throws -> [String] {
            guard let v = json[key] as? [String] else { throw TestEnvironment.Missing(description: "reference output lacks \(key)") }
            return v
        }
        vocabularySize = json["vocab_size"] as? Int ?? -1
        self.ids = try ids("ids")
        idsWithSpecialTokens = try ids("ids_special")
        idsLiteral = try ids("ids_literal")
        decoded = try strings("decoded")
        decodedSkippingSpecial = try strings("decoded_skip")
        randomDecoded = try strings("random_decoded")
        randomDecodedSkippingSpecial = try strings("random_decoded_skip")
    }
}

/// A tokenizer under test together with the reference's answers for the shared corpus.
struct ParityFixture: Sendable {
    let name: String
    let strings: [String]
    let randomIDs: [[Int]]
    let reference: ReferenceResult
    /// The tokenizer.json the reference saved (same tokenizer), for testing our JSON loader.
    let savedJSON: URL

    /// Runs the reference on `job` (its "source" keys), saving its tokenizer.json as well.
    static func make(name: String, job: [String: Any], specialTokens: [String], vocabularySize: Int,
                     extraStrings: [String] = []) throws -> ParityFixture {
        let dir = try TestEnvironment.scratchDirectory()
        let strings = TestCorpus.strings(specialTokens: specialTokens) + extraStrings
        var rng = SplitMix64(seed: 0xDEC0DE)
        let randomIDs: [[Int]] = (0..<300).map { _ in
            (0..<TestCorpus.count(1...12, &rng)).map { _ in
                // Bias towards byte tokens and the low ids where single bytes and control tokens live.
                rng.next() % 3 == 0 ? Int(rng.next() % 600) : Int(rng.next() % UInt64(vocabularySize))
            }
        }
        let stringsFile = dir.appendingPathComponent("\(name)-strings.json")
        try JSONSerialization.data(withJSONObject: strings).write(to: stringsFile)
        let out = dir.appendingPathComponent("\(name)-reference.json")
        let saved = dir.appendingPathComponent("\(name)-tokenizer.json")
        var full = job
        full["task"] = "run"
        full["strings"] = stringsFile.path
        full["random_ids"] = randomIDs
        full["out"] = out.path
        full["save"] = saved.path
        try TestEnvironment.runReference(full)
        return ParityFixture(name: name, strings: strings, randomIDs: randomIDs,
                             reference: try ReferenceResult(TestEnvironment.readJSON(out)), savedJSON: saved)
    }

    /// Compares `tokenizer` with the reference on every string and id sequence; returns the number
    /// of strings compared. `roundTrip` also checks decode(encode(s)) == s.
    @discardableResult
    func check(_ tokenizer: Tokenizer, label: String, roundTrip: Bool, file: StaticString = #filePath, line: UInt = #line) -> Int {
        var mismatches: [String] = []
        func note(_ s: String) { if mismatches.count < 12 { mismatches.append(s) } else { mismatches.append("") } }
        XCTAssertEqual(tokenizer.vocabularySize, reference.vocabularySize, "\(label): vocabulary size", file: file, line: line)
        // Bytes a byte-level vocabulary has no token for are dropped (by HF too), so text holding
        // them cannot round-trip; SmolLM2 lacks a few ASCII control bytes.
        let unrepresentable = Set((0..<256).filter { tokenizer.model.unit == .bytes && tokenizer.model.byteSymbols[$0] < 0 }.map(UInt8.init))
        var roundTrips = 0
        for (i, s) in strings.enumerated() {
            let ids = tokenizer.encode(s)
            if ids != reference.ids[i] {
                note("encode \(s.debugDescription):\n  ours \(ids)\n  HF   \(reference.ids[i])\n  ours \(ids.map { tokenizer.idToToken($0) ?? "?" })\n  HF   \(reference.ids[i].map { tokenizer.idToToken($0) ?? "?" })")
                continue
            }
            let withSpecial = tokenizer.encode(s, addSpecialTokens: true)
            if withSpecial != reference.idsWithSpecialTokens[i] {
                note("encode(addSpecialTokens) \(s.debugDescription): ours \(withSpecial) HF \(reference.idsWithSpecialTokens[i])")
            }
            let literal = tokenizer.encode(s, parseSpecialTokens: false)
            if literal != reference.idsLiteral[i] {
                note("encode(parseSpecialTokens: false) \(s.debugDescription): ours \(literal) HF \(reference.idsLiteral[i])")
            }
            let text = tokenizer.decode(ids)
            if !identical(text, reference.decoded[i]) {
                note("decode \(ids): ours \(text.debugDescription) HF \(reference.decoded[i].debugDescription)")
            }
            let skipped = tokenizer.decode(ids, skipSpecialTokens: true)
            if !identical(skipped, reference.decodedSkippingSpecial[i]) {
                note("decode(skipSpecialTokens) \(ids): ours \(skipped.debugDescription) HF \(reference.decodedSkippingSpecial[i].debugDescription)")
            }
            if roundTrip && !s.utf8.contains(where: unrepresentable.contains) {
                roundTrips += 1
                if !identical(text, s) { note("round trip \(s.debugDescription) gave \(text.debugDescription)") }
            }
        }
        for (i, ids) in randomIDs.enumerated() {
            let text = tokenizer.decode(ids)
            if !identical(text, reference.randomDecoded[i]) {
                note("decode random \(ids): ours \(text.debugDescription) HF \(reference.randomDecoded[i].debugDescription)")
            }
            let skipped = tokenizer.decode(ids, skipSpecialTokens: true)
            if !identical(skipped, reference.randomDecodedSkippingSpecial[i]) {
                note("decode random (skip) \(ids): ours \(skipped.debugDescription) HF \(reference.randomDecodedSkippingSpecial[i].debugDescription)")
            }
        }
        let shown = mismatches.filter { !$0.isEmpty }
        print("\(label): \(strings.count) strings and \(randomIDs.count) id sequences compared with HF tokenizers, \(mismatches.count) mismatches"
              + (roundTrip ? "; decode(encode(s)) == s checked on \(roundTrips) strings" : ""))
        if roundTrip { XCTAssertGreaterThan(roundTrips, strings.count * 9 / 10, "\(label): too few round trips checked", file: file, line: line) }
        if !mismatches.isEmpty {
            XCTFail("\(label): \(mismatches.count) mismatches with HF tokenizers; first ones:\n" + shown.joined(separator: "\n"), file: file, line: line)
        }
        return strings.count
    }
}

/// The fixtures, each built once per test process (a reference run reads a whole vocabulary).
enum Fixtures {
    static let smolLM: Result<ParityFixture, any Error> = Result {
        let path = try TestEnvironment.require(TestEnvironment.smolLM).path
        let gguf = try GGUFFile(path: path, validateTensorData: false)
        return try ParityFixture.make(name: "smollm", job: ["source": "gguf", "gguf": path],
                                      specialTokens: try specials(gguf), vocabularySize: 49152,
                                      extraStrings: try TestCorpus.realText(lines: 200))
    }

    static let qwen: Result<ParityFixture, any Error> = Result {
        let path = try TestEnvironment.require(TestEnvironment.qwen).path
        let gguf = try GGUFFile(path: path, validateTensorData: false)
        return try ParityFixture.make(name: "qwen2", job: ["source": "gguf", "gguf": path],
                                      specialTokens: try specials(gguf), vocabularySize: 151_936,
                                      extraStrings: try TestCorpus.realText(lines: 200))
    }

    /// Qwen's vocabulary re-labelled with llama.cpp's "llama-bpe" pre-tokenizer (Llama 3's regex,
    /// ignore_merges and a BOS token), written as a small tensor-free GGUF.
    static let llama3Style: Result<(gguf: URL, fixture: ParityFixture), any Error> = Result {
        let source = try TestEnvironment.require(TestEnvironment.qwen).path
        let path = try TestEnvironment.scratchDirectory().appendingPathComponent("llama3-style.gguf")
        try TestEnvironment.runReference(["task": "copy_gguf_tokenizer", "from": source, "path": path.path,
                                          "pre": "llama-bpe", "bos": 151_643, "eos": 151_645])
        let gguf = try GGUFFile(path: path.path)
        let fixture = try ParityFixture.make(name: "llama3-style", job: ["source": "gguf", "gguf": path.path],
                                             specialTokens: try specials(gguf), vocabularySize: 151_936)
        return (path, fixture)
    }

    static func specials(_ gguf: GGUFFile) throws -> [String] {
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens")
        let types = try gguf.intArray("tokenizer.ggml.token_type")
        return zip(tokens, types).filter { $0.1 == 3 || $0.1 == 4 }.map(\.0)
    }
}

/// Byte-for-byte string equality. Swift's `==` on String is canonical equivalence ("é" equals
/// "e\u{301}"), which would hide exactly the differences a tokenizer test must see.
func identical(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }
