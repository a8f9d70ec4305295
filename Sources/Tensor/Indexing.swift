import CMLX

/// One entry of a subscript: `x[0, 1..<3, .all, .newAxis]`.
public struct TensorIndex: Sendable {
    enum Kind: Sendable {
        case index(Int)
        case slice(start: Int?, stop: Int?, step: Int)
        case all
        case ellipsis
        case newAxis
    }
    let kind: Kind
}

public protocol TensorIndexConvertible { var tensorIndex: TensorIndex { get } }
extension TensorIndex: TensorIndexConvertible { public var tensorIndex: TensorIndex { self } }
extension Int: TensorIndexConvertible { public var tensorIndex: TensorIndex { TensorIndex(kind: .index(self)) } }
extension Range: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { TensorIndex(kind: .slice(start: lowerBound, stop: upperBound, step: 1)) }
}
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { TensorIndex(kind: .slice(start: lowerBound, stop: upperBound + 1, step: 1)) }
}
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { TensorIndex(kind: .slice(start: lowerBound, stop: nil, step: 1)) }
}
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { TensorIndex(kind: .slice(start: nil, stop: upperBound, step: 1)) }
}
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { TensorIndex(kind: .slice(start: nil, stop: upperBound + 1, step: 1)) }
}


/// Start/stop/stride per axis plus the axes to drop (integer indices) and insert (newAxis).
struct SlicePlan {
    var start: [Int32], stop: [Int32], strides: [Int32]
    var squeeze: [Int]
    var finalShape: [Int]?
}

extension Tensor {
    public subscript(_ indices: TensorIndexConvertible...) -> Tensor {
        get { sliced(indices.map(\.tensorIndex)) }
        set { self = updating(indices.map(\.tensorIndex), with: newValue) }
    }

    private func plan(_ indices: [TensorIndex]) -> SlicePlan {
        let shape = self.shape
        let consumed = indices.filter { if case .newAxis = $0.kind { false } else if case .ellipsis = $0.kind { false } else { true } }.count
        precondition(consumed <= shape.count, "too many indices (\(consumed)) for a tensor of shape \(shape)")
        var expanded: [TensorIndex.Kind] = []
        var sawEllipsis = false
        for i in indices.map(\.kind) {
            if case .ellipsis = i {
                precondition(!sawEllipsis, "only one ellipsis is allowed in a subscript")
                sawEllipsis = true
                expanded += Array(repeating: TensorIndex.Kind.all, count: shape.count - consumed)
            } else {
                expanded.append(i)
            }
        }
        if !sawEllipsis { expanded += Array(repeating: TensorIndex.Kind.all, count: shape.count - consumed) }

        var p = SlicePlan(start: [], stop: [], strides: [], squeeze: [], finalShape: nil)
        var outShape: [Int] = []
        var hasNewAxis = false
        var axis = 0
        for i in expanded {
            if case .newAxis = i {
                hasNewAxis = true
                outShape.append(1)
                continue
            }
            let n = shape[axis]
            switch i {
            case .index(let k):
                let kk = k < 0 ? k + n : k
                precondition(kk >= 0 && kk < n, "index \(k) is out of range for axis \(axis) of size \(n)")
                p.start.append(Int32(kk)); p.stop.append(Int32(kk + 1)); p.strides.append(1)
                p.squeeze.append(axis)
            case .slice(let s, let e, let step):
                precondition(step != 0, "slice step cannot be zero")
                let (lo, hi) = Tensor.resolve(s, e, step, n)
                // MLX wraps negative bounds once, so "before index 0" is spelled -(n + 1).
                p.start.append(Int32(lo)); p.stop.append(Int32(hi < 0 ? -(n + 1) : hi)); p.strides.append(Int32(step))
                let len = step > 0 ? Swift.max(0, (hi - lo + step - 1) / step) : Swift.max(0, (lo - hi - step - 1) / -step)
                outShape.append(len)
            default:
                p.start.append(0); p.stop.append(Int32(n)); p.strides.append(1)
                outShape.append(n)
            }
            axis += 1
        }
        if hasNewAxis { p.finalShape = outShape }
        return p
    }

    /// Python-style slice bounds, clamped to the axis.
    static func resolve(_ s: Int?, _ e: Int?, _ step: Int, _ n: Int) -> (Int, Int) {
        func norm(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + n : v, lo), hi) }
        if step > 0 {
            return (s.map { norm($0, 0, n) } ?? 0, e.map { norm($0, 0, n) } ?? n)
        }
        return (s.map { norm($0, -1, n - 1) } ?? n - 1, e.map { norm($0, -1, n - 1) } ?? -1)
    }

    func sliced(_ indices: [TensorIndex]) -> Tensor {
        guard handle != nil else { return self }
        let p = plan(indices)
        var out = Tensor.op("slice", self) { pt_slice($0, p.start, p.stop, p.strides, p.start.count) }
        if let final = p.finalShape {
            out = out.reshaped(final)
        } else if !p.squeeze.isEmpty {
            out = out.squeezed(p.squeeze)
        }
        return out
    }

    /// A copy with the region selected by `indices` replaced by `value` (broadcast to fit).
    public func updating(_ indices: [TensorIndex], with value: Tensor) -> Tensor {
        guard handle != nil else { return self }
        let p = plan(indices.filter { if case .newAxis = $0.kind { false } else { true } })
        var regionShape: [Int] = []
        for i in 0..<p.start.count {
            let lo = Int(p.start[i]), st = Int(p.strides[i])
            let hi = p.stop[i] < 0 ? -1 : Int(p.stop[i])
            regionShape.append(st > 0 ? Swift.max(0, (hi - lo + st - 1) / st) : Swift.max(0, (lo - hi - st - 1) / -st))
        }
        let v = value.asType(dtype).broadcast(to: regionShape)
        return Tensor.op("slice_update", self, v) { pt_slice_update($0, $1, p.start, p.stop, p.strides, p.start.count) }
    }

    /// Elements at integer `indices` along `axis` (gather).
    public func take(_ indices: Tensor, axis: Int) -> Tensor {
        Tensor.op("take", self, indices) { pt_take($0, $1, Int32(axis)) }
    }

    /// `out[..., i, ...] = self[..., indices[..., i, ...], ...]` along `axis`.
    public func takeAlong(_ indices: Tensor, axis: Int) -> Tensor {
        Tensor.op("take_along_axis", self, indices) { pt_take_along_axis($0, $1, Int32(axis)) }
    }

    /// A copy with `values` written at `indices` along `axis`.
    public func putAlong(_ indices: Tensor, _ values: Tensor, axis: Int) -> Tensor {
        Tensor.op("put_along_axis", [self, indices, values]) { pt_put_along_axis($0[0], $0[1], $0[2], Int32(axis)) }
    }

    /// A copy with `values` added at `indices` along `axis` (repeated indices accumulate).
    public func scatterAdd(_ indices: Tensor, _ values: Tensor, axis: Int) -> Tensor {
        Tensor.op("scatter_add_axis", [self, indices, values]) { pt_scatter_add_axis($0[0], $0[1], $0[2], Int32(axis)) }
    }
}

// Lets `.all`, `.ellipsis`, `.newAxis` and `.stride(by:)` appear among ints and ranges in a subscript.
extension TensorIndexConvertible where Self == TensorIndex {
    /// The whole axis.
    public static var all: TensorIndex { TensorIndex(kind: .all) }
    /// As many whole axes as needed to use up the shape.
    public static var ellipsis: TensorIndex { TensorIndex(kind: .ellipsis) }
    /// Inserts an axis of size 1.
    public static var newAxis: TensorIndex { TensorIndex(kind: .newAxis) }
    /// Every `step`-th element: `x[.stride(by: -1)]` reverses an axis.
    public static func stride(from start: Int? = nil, to stop: Int? = nil, by step: Int) -> TensorIndex {
        TensorIndex(kind: .slice(start: start, stop: stop, step: step))
    }
}
