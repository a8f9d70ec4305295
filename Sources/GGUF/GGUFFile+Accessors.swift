/// Typed metadata accessors. The plain forms throw `missingKey` when the key is absent; the
/// `IfPresent` forms return nil instead. Both throw `typeMismatch` (naming file, key, expected and
/// found types) when the stored value cannot be read as asked.
extension GGUFFile {
    public func string(_ key: String) throws -> String {
        try require(key, stringIfPresent(key))
    }

    public func stringIfPresent(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard case let .string(s) = value else { throw mismatch(key, "STRING", value) }
        return s
    }

    /// Any integer type, converted to `Int` (fails for a UINT64 above `Int.max`).
    public func int(_ key: String) throws -> Int {
        try require(key, intIfPresent(key))
    }

    public func intIfPresent(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let i = value.intValue else { throw mismatch(key, "an integer", value) }
        return i
    }

    /// FLOAT32 or FLOAT64, or an integer (some converters store whole-number hyperparameters as ints).
    public func float(_ key: String) throws -> Double {
        try require(key, floatIfPresent(key))
    }

    public func floatIfPresent(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let d = value.doubleValue else { throw mismatch(key, "a number", value) }
        return d
    }

    public func bool(_ key: String) throws -> Bool {
        try require(key, boolIfPresent(key))
    }

    public func boolIfPresent(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard case let .bool(b) = value else { throw mismatch(key, "BOOL", value) }
        return b
    }

    public func stringArray(_ key: String) throws -> [String] {
        try require(key, stringArrayIfPresent(key))
    }

    public func stringArrayIfPresent(_ key: String) throws -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard case let .array(.string(a)) = value else { throw mismatch(key, "ARRAY[STRING]", value) }
        return a
    }

    /// An array of any integer type, converted to `[Int]`.
    public func intArray(_ key: String) throws -> [Int] {
        try require(key, intArrayIfPresent(key))
    }

    public func intArrayIfPresent(_ key: String) throws -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard case let .array(a) = value, let ints = a.intValues else {
            throw mismatch(key, "an array of integers", value)
        }
        return ints
    }

    /// An array of floats (or integers), converted to `[Double]`.
    public func floatArray(_ key: String) throws -> [Double] {
        try require(key, floatArrayIfPresent(key))
    }

    public func floatArrayIfPresent(_ key: String) throws -> [Double]? {
        guard let value = metadata[key] else { return nil }
        guard case let .array(a) = value, let doubles = a.doubleValues else {
            throw mismatch(key, "an array of numbers", value)
        }
        return doubles
    }

    private func require<T>(_ key: String, _ value: T?) throws -> T {
        guard let value else { throw GGUFError.missingKey(file: path, key: key) }
        return value
    }

    private func mismatch(_ key: String, _ expected: String, _ value: GGUFValue) -> GGUFError {
        GGUFError.typeMismatch(file: path, key: key, expected: expected, found: value.typeDescription)
    }
}
