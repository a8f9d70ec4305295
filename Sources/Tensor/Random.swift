import CMLX

/// Counter-based random numbers. A `RandomKey` makes a draw repeatable; without one MLX uses its
/// global generator (seeded with `Random.seed`).
public struct RandomKey: Sendable {
    public let tensor: Tensor
    public init(seed: UInt64) { tensor = Tensor(result: pt_random_key(seed), "random.key") }
    init(tensor: Tensor) { self.tensor = tensor }

    /// `count` independent keys derived from this one.
    public func split(_ count: Int = 2) -> [RandomKey] {
        let keys = Tensor.op("random.split", tensor) { pt_random_split($0, Int32(count)) }
        return (0..<count).map { RandomKey(tensor: keys[$0]) }
    }
}

public enum Random {
    public static func seed(_ seed: UInt64) { pt_random_seed(seed) }

    static func keyed(_ name: String, _ key: RandomKey?, _ body: (pt_array?) -> pt_array?) -> Tensor {
        guard let key else { return Tensor(result: body(nil), name) }
        return Tensor.op(name, key.tensor) { body($0) }
    }

    /// Uniform in [0, 1).
    public static func uniform(_ shape: [Int], dtype: DType = .float32, key: RandomKey? = nil) -> Tensor {
        let s = int32s(shape)
        return keyed("random.uniform", key) { pt_random_uniform(s, s.count, dtype.raw, $0) }
    }

    public static func uniform(_ shape: [Int], low: Double, high: Double, dtype: DType = .float32, key: RandomKey? = nil) -> Tensor {
        uniform(shape, dtype: dtype, key: key) * (high - low) + low
    }

    /// Standard normal, optionally scaled and shifted.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32, key: RandomKey? = nil) -> Tensor {
        let s = int32s(shape)
        let z = keyed("random.normal", key) { pt_random_normal(s, s.count, dtype.raw, $0) }
        return (std == 1 && mean == 0) ? z : z * std + mean
    }

    /// Booleans that are true with probability `p`.
    public static func bernoulli(_ p: Double, _ shape: [Int], key: RandomKey? = nil) -> Tensor {
        let s = int32s(shape)
        let prob = Tensor(p)
        guard let key else { return Tensor.op("random.bernoulli", prob) { pt_random_bernoulli($0, s, s.count, nil) } }
        return Tensor.op("random.bernoulli", prob, key.tensor) { pt_random_bernoulli($0, s, s.count, $1) }
    }

    /// Samples class indices from unnormalised log-probabilities along `axis`.
    public static func categorical(_ logits: Tensor, axis: Int = -1, key: RandomKey? = nil) -> Tensor {
        guard let key else { return Tensor.op("random.categorical", logits) { pt_random_categorical($0, Int32(axis), nil) } }
        return Tensor.op("random.categorical", logits, key.tensor) { pt_random_categorical($0, Int32(axis), $1) }
    }

    /// Integers in [low, high).
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], key: RandomKey? = nil) -> Tensor {
        let s = int32s(shape)
        return keyed("random.randint", key) { pt_random_randint(Int32(low), Int32(high), s, s.count, $0) }
    }

    public static func gumbel(_ shape: [Int], dtype: DType = .float32, key: RandomKey? = nil) -> Tensor {
        let s = int32s(shape)
        return keyed("random.gumbel", key) { pt_random_gumbel(s, s.count, dtype.raw, $0) }
    }
}
