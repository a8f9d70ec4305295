import CMLX

extension Tensor {
    /// The same data viewed with another shape; one entry may be -1.
    public func reshaped(_ shape: [Int]) -> Tensor {
        let s = int32s(shape)
        return Tensor.op("reshape to \(shape)", self) { pt_reshape($0, s, s.count) }
    }

    public func reshaped(_ shape: Int...) -> Tensor { reshaped(shape) }

    /// Axes permuted; reverses them when `axes` is empty.
    public func transposed(_ axes: [Int] = []) -> Tensor {
        let perm = axes.isEmpty ? Array((0..<ndim).reversed()) : axes
        let p = int32s(perm)
        return Tensor.op("transpose \(perm)", self) { pt_transpose($0, p, p.count) }
    }

    public func transposed(_ axes: Int...) -> Tensor { transposed(axes) }

    /// The transpose of the last two axes.
    public var T: Tensor {
        let n = ndim
        if n < 2 { return self }
        var perm = Array(0..<n)
        perm.swapAt(n - 1, n - 2)
        return transposed(perm)
    }

    public func swappedAxes(_ a: Int, _ b: Int) -> Tensor {
        let n = ndim
        var perm = Array(0..<n)
        perm.swapAt(a < 0 ? a + n : a, b < 0 ? b + n : b)
        return transposed(perm)
    }

    public func broadcast(to shape: [Int]) -> Tensor {
        let s = int32s(shape)
        return Tensor.op("broadcast_to \(shape)", self) { pt_broadcast_to($0, s, s.count) }
    }

    public func expandedDims(_ axis: Int) -> Tensor {
        Tensor.op("expand_dims", self) { pt_expand_dims($0, Int32(axis)) }
    }

    /// Removes size-1 axes (all of them when `axes` is empty).
    public func squeezed(_ axes: [Int] = []) -> Tensor {
        let a = int32s(axes)
        return Tensor.op("squeeze", self) { pt_squeeze($0, a, a.count) }
    }

    public func squeezed(_ axis: Int) -> Tensor { squeezed([axis]) }

    public func flattened(start: Int = 0, end: Int = -1) -> Tensor {
        Tensor.op("flatten", self) { pt_flatten($0, Int32(start), Int32(end)) }
    }

    public func repeated(_ count: Int, axis: Int) -> Tensor {
        Tensor.op("repeat", self) { pt_repeat($0, Int32(count), Int32(axis)) }
    }

    /// Pads each axis with `low[i]` values before and `high[i]` after.
    public func padded(low: [Int], high: [Int], value: Double = 0) -> Tensor {
        precondition(low.count == high.count, "padded: low and high need one entry per axis")
        let l = int32s(low), h = int32s(high)
        return Tensor.op("pad", self, scalar(value)) { pt_pad($0, l, h, l.count, $1) }
    }

    /// Splits into pieces at `indices` along `axis`.
    public func split(at indices: [Int], axis: Int = 0) -> [Tensor] {
        guard let h = handle else { return Array(repeating: self, count: indices.count + 1) }
        let i = int32s(indices)
        return Tensor.unpack(pt_split_sections(h.raw, i, i.count, Int32(axis)), "split", expected: indices.count + 1)
    }

    /// Splits into `parts` equal pieces along `axis`.
    public func split(parts: Int, axis: Int = 0) -> [Tensor] {
        guard let h = handle else { return Array(repeating: self, count: parts) }
        return Tensor.unpack(pt_split_equal(h.raw, Int32(parts), Int32(axis)), "split", expected: parts)
    }

    /// Lower (`upper == false`) or upper triangle, the rest zeroed.
    public func triangle(upper: Bool, k: Int = 0) -> Tensor {
        Tensor.op("tri", self) { pt_tri($0, Int32(k), upper) }
    }

    static func unpack(_ vec: pt_vec?, _ name: String, expected: Int) -> [Tensor] {
        guard let vec else {
            return Array(repeating: Tensor(failure: MLXError.last(name)), count: expected)
        }
        defer { pt_vec_free(vec) }
        return (0..<pt_vec_size(vec)).map { Tensor(handle: ArrayHandle(pt_vec_get(vec, $0))) }
    }
}

public func concatenated(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    Tensor.op("concatenate", tensors) { r in r.withUnsafeBufferPointer { pt_concatenate(castOptional($0), $0.count, Int32(axis)) } }
}

public func stacked(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    Tensor.op("stack", tensors) { r in r.withUnsafeBufferPointer { pt_stack(castOptional($0), $0.count, Int32(axis)) } }
}

/// C arrays of handles are `const pt_array *`, which Swift imports as pointers to optionals.
@inlinable func castOptional(_ buf: UnsafeBufferPointer<pt_array>) -> UnsafePointer<pt_array?>? {
    guard let base = buf.baseAddress else { return nil }
    return UnsafeRawPointer(base).assumingMemoryBound(to: pt_array?.self)
}
