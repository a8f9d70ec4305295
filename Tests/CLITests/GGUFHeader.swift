import Foundation

/// Reads scalar metadata from a GGUF file's header, independently of the package's GGUF module,
/// so tests can check the CLI against what the file itself says.
enum GGUFHeader {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The boolean values of `keys` (absent keys are left out).
    static func boolValues(in url: URL, keys: Set<String>) throws -> [String: Bool] {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        var r = Reader(data: data)
        guard try r.bytes(4) == Array("GGUF".utf8) else { throw Failure(description: "\(url.path) is not a GGUF file") }
        let version = try r.u32()
        guard version >= 2 else { throw Failure(description: "GGUF version \(version) is not supported") }
        _ = try r.u64()  // tensor count
        let count = try r.u64()
        var out: [String: Bool] = [:]
        for _ in 0..<count {
            let key = try r.string()
            let type = try r.u32()
            if keys.contains(key), type == 7 {
                out[key] = try r.bytes(1)[0] != 0
            } else {
                try r.skip(type: type)
            }
        }
        return out
    }

    /// Writes a copy of `source` with all of its metadata (vocabulary, merges, chat template, ...)
    /// and no tensors: what llama.cpp calls a vocabulary-only GGUF.
    static func writeVocabularyOnlyCopy(of source: URL, to destination: URL) throws {
        let data = try Data(contentsOf: source, options: .alwaysMapped)
        var r = Reader(data: data)
        guard try r.bytes(4) == Array("GGUF".utf8) else { throw Failure(description: "\(source.path) is not a GGUF file") }
        _ = try r.u32()
        _ = try r.u64()
        let count = try r.u64()
        let kvStart = r.offset
        for _ in 0..<count {
            _ = try r.string()
            try r.skip(type: try r.u32())
        }
        var out = Data(data[data.startIndex ..< data.startIndex + 8])       // magic and version
        out.append(contentsOf: [UInt8](repeating: 0, count: 8))              // no tensors
        withUnsafeBytes(of: count.littleEndian) { out.append(contentsOf: $0) }
        out.append(data[data.startIndex + kvStart ..< data.startIndex + r.offset])
        try out.write(to: destination)
    }

    private struct Reader {
        let data: Data
        var offset = 0

        mutating func bytes(_ n: Int) throws -> [UInt8] {
            guard offset + n <= data.count else { throw Failure(description: "truncated GGUF header") }
            defer { offset += n }
            return [UInt8](data[data.startIndex + offset ..< data.startIndex + offset + n])
        }

        mutating func u32() throws -> UInt32 {
            try bytes(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }

        mutating func u64() throws -> UInt64 {
            try bytes(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }

        mutating func string() throws -> String {
            String(decoding: try bytes(Int(try u64())), as: UTF8.self)
        }

        mutating func skip(type: UInt32) throws {
            // uint8, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
            let sizes: [UInt32: Int] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8]
            if let size = sizes[type] {
                guard offset + size <= data.count else { throw Failure(description: "truncated GGUF header") }
                offset += size
            } else if type == 8 {
                let n = Int(try u64())
                guard offset + n <= data.count else { throw Failure(description: "truncated GGUF header") }
                offset += n
            } else if type == 9 {
                let itemType = try u32()
                let n = try u64()
                if let size = sizes[itemType] {
                    let total = Int(n) * size
                    guard offset + total <= data.count else { throw Failure(description: "truncated GGUF header") }
                    offset += total
                } else {
                    for _ in 0..<n { try skip(type: itemType) }
                }
            } else {
                throw Failure(description: "unknown GGUF value type \(type)")
            }
        }
    }
}
