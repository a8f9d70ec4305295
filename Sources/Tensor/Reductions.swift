import CMLX

extension Tensor {
    @inlinable func reduce(_ o: pt_reduce_op, _ axes: [Int], _ keepDims: Bool, _ name: String) -> Tensor {
        let a = int32s(axes)
        return Tensor.op(name, self) { pt_reduce(o, $0, a, a.count, keepDims) }
    }

    /// Sum over `axes` (all axes when empty).
    public func sum(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_SUM, axes, keepDims, "sum") }
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }
    public func mean(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_MEAN, axes, keepDims, "mean") }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }
    public func max(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_MAX, axes, keepDims, "max") }
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func min(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_MIN, axes, keepDims, "min") }
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }
    public func prod(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_PROD, axes, keepDims, "prod") }
    public func variance(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_VAR, axes, keepDims, "var") }
    public func all(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_ALL, axes, keepDims, "all") }
    public func any(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(PT_ANY, axes, keepDims, "any") }

    /// log(sum(exp(x))) computed stably.
    public func logSumExp(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        reduce(PT_LOGSUMEXP, axes, keepDims, "logsumexp")
    }
    public func logSumExp(axis: Int, keepDims: Bool = false) -> Tensor { logSumExp(axes: [axis], keepDims: keepDims) }

    /// Softmax along `axis`, accumulated in float32 for half-precision inputs.
    public func softmax(axis: Int = -1) -> Tensor { reduce(PT_SOFTMAX, [axis], true, "softmax") }

    public func logSoftmax(axis: Int = -1) -> Tensor { self - logSumExp(axis: axis, keepDims: true) }

    public func argMax(axis: Int, keepDims: Bool = false) -> Tensor {
        Tensor.op("argmax", self) { pt_argreduce(true, $0, Int32(axis), keepDims) }
    }

    public func argMin(axis: Int, keepDims: Bool = false) -> Tensor {
        Tensor.op("argmin", self) { pt_argreduce(false, $0, Int32(axis), keepDims) }
    }

    public func cumsum(axis: Int, reverse: Bool = false, inclusive: Bool = true) -> Tensor {
        Tensor.op("cumsum", self) { pt_cumsum($0, Int32(axis), reverse, inclusive) }
    }

    public func sorted(axis: Int = -1) -> Tensor { Tensor.op("sort", self) { pt_sort($0, Int32(axis), false) } }
    public func argSort(axis: Int = -1) -> Tensor { Tensor.op("argsort", self) { pt_sort($0, Int32(axis), true) } }

    /// Indices that put the `kth` element in sorted position, smaller ones before it.
    public func argPartition(kth: Int, axis: Int = -1) -> Tensor {
        Tensor.op("argpartition", self) { pt_argpartition($0, Int32(kth), Int32(axis)) }
    }

    /// The `k` largest values along `axis` (unordered).
    public func topK(_ k: Int, axis: Int = -1) -> Tensor {
        Tensor.op("topk", self) { pt_topk($0, Int32(k), Int32(axis)) }
    }
}
