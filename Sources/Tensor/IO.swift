import CMLX
import Foundation

/// Errors reading or writing tensor files; each names the file.
public struct TensorFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

func requireReadable(_ path: String) throws {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw TensorFileError(path: path, reason: "no such file")
    }
    if isDir.boolValue { throw TensorFileError(path: path, reason: "is a directory, not a file") }
    guard FileManager.default.isReadableFile(atPath: path) else {
        throw TensorFileError(path: path, reason: "not readable")
    }
}

func takeStrings(_ strings: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
    guard let strings else { return [] }
    defer { pt_free_strings(strings, n) }
    return (0..<n).map { String(cString: strings[$0]!) }
}

public enum TensorIO {
    /// Tensors and the string metadata of a `.safetensors` file.
    public static func loadSafetensors(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try requireReadable(path)
        var keys: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var mk: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var mv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var vec: pt_vec?
        var n = 0, mn = 0
        guard pt_load_safetensors(path, &keys, &vec, &n, &mk, &mv, &mn) == 0 else {
            throw TensorFileError(path: path, reason: String(cString: pt_last_error()))
        }
        let names = takeStrings(keys, n)
        let values = Tensor.unpack(vec, "load_safetensors", expected: n)
        let metaKeys = takeStrings(mk, mn), metaValues = takeStrings(mv, mn)
        return (Dictionary(uniqueKeysWithValues: zip(names, values)),
                Dictionary(uniqueKeysWithValues: zip(metaKeys, metaValues)))
    }

    /// Writes tensors to `path` atomically: a crash mid-write leaves any earlier file intact.
    public static func saveSafetensors(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:]) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // MLX appends ".safetensors" to names without it, so the temporary name keeps the suffix.
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp.safetensors").path
        let keys = tensors.keys.sorted()
        var raws: [pt_array?] = []
        for k in keys {
            guard let t = tensors[k] else { continue }
            if let f = t.failure { throw TensorFileError(path: path, reason: "tensor \(k) failed: \(f.message)") }
            raws.append(t.raw)
        }
        let mkeys = metadata.keys.sorted()
        let rc = withCStrings(keys) { k in
            withCStrings(mkeys) { mk in
                withCStrings(mkeys.map { metadata[$0]! }) { mv in
                    pt_save_safetensors(tmp, k, &raws, raws.count, mk, mv, mkeys.count)
                }
            }
        }
        guard rc == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw TensorFileError(path: path, reason: String(cString: pt_last_error()))
        }
        try replaceFile(at: path, with: tmp)
    }

    /// The tensors of a GGUF file. Q4_0, Q4_1 and Q8_0 weights arrive in MLX's quantized form:
    /// `name.weight` (uint32), `name.scales` and `name.biases`, group size 32.
    public static func loadGGUF(_ path: String) throws -> [String: Tensor] {
        try requireReadable(path)
        var keys: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var vec: pt_vec?
        var n = 0
        guard pt_load_gguf(path, &keys, &vec, &n) == 0 else {
            throw TensorFileError(path: path, reason: String(cString: pt_last_error()))
        }
        let names = takeStrings(keys, n)
        return Dictionary(uniqueKeysWithValues: zip(names, Tensor.unpack(vec, "load_gguf", expected: n)))
    }
}

/// Renames `tmp` over `path` (atomic on POSIX file systems).
public func replaceFile(at path: String, with tmp: String) throws {
    if rename(tmp, path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: tmp)
        throw TensorFileError(path: path, reason: "could not move the new file into place: \(reason)")
    }
}

/// Writes data atomically (temporary file in the same directory, then rename).
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
    do {
        try data.write(to: URL(fileURLWithPath: tmp))
    } catch {
        throw TensorFileError(path: path, reason: "could not write: \(error.localizedDescription)")
    }
    try replaceFile(at: path, with: tmp)
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let dup = strings.map { strdup($0) }
    defer { dup.forEach { free($0) } }
    let ptrs = dup.map { UnsafePointer($0) }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress) }
}
