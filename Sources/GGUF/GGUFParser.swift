/// Bounds-checked little-endian reading of a GGUF header from raw bytes. Every read checks the
/// remaining length first and every count is checked against the bytes left before anything is
/// allocated, so a corrupt or truncated file produces a `GGUFError`, never a crash or a huge allocation.
struct GGUFParser {
    static let magic: [UInt8] = Array("GGUF".utf8)
    /// ggml's GGML_MAX_DIMS.
    static let maxDimensions = 4
    /// Arrays of arrays are legal; this bounds the recursion a crafted file could ask for.
    static let maxArrayNesting = 8

    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    struct Header {
        var version: UInt32
        var keys: [String]
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    mutating func parseHeader(validateTensorData: Bool) throws -> Header {
        try require(4, "the magic number")
        let found = Array(bytes[0..<4])
        guard found == Self.magic else { throw GGUFError.badMagic(file: file, found: found) }
        offset = 4
        let version = try read(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(file: file, version: version) }
        let tensorCount = try readCount("the tensor count", minimumElementSize: 8 + 4 + 4 + 8)
        let kvCount = try readCount("the metadata count", minimumElementSize: 8 + 4)

        var keys: [String] = []
        keys.reserveCapacity(kvCount)
        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(kvCount)
        for index in 0..<kvCount {
            let keyOffset = offset
            let key = try readString("the key of metadata entry \(index)")
            let rawType = try read(UInt32.self, "the value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw corrupt(at: offset - 4, "metadata '\(key)' has unknown value type \(rawType)")
            }
            let value = try readValue(type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw corrupt(at: keyOffset, "duplicate metadata key '\(key)'")
            }
            keys.append(key)
        }

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard case let .uint32(a) = value, a > 0, a & (a - 1) == 0 else {
                throw corrupt(at: 0, "general.alignment must be a power-of-two UINT32, found \(value.typeDescription) \(value)")
            }
            alignment = Int(a)
        }

        var tensors: [(name: String, dims: [Int], type: GGMLType, offset: Int, bytes: Int)] = []
        tensors.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for index in 0..<tensorCount {
            let entryOffset = offset
            let name = try readString("the name of tensor \(index)")
            let what = "tensor '\(name)'"
            let nDims = try read(UInt32.self, "the dimension count of \(what)")
            guard nDims <= Self.maxDimensions else {
                throw corrupt(at: offset - 4, "\(what) has \(nDims) dimensions (at most \(Self.maxDimensions))")
            }
            var dims: [Int] = []
            var elements = 1
            for _ in 0..<Int(nDims) {
                let d = try read(UInt64.self, "the dimensions of \(what)")
                guard let dim = Int(exactly: d), dim >= 0 else {
                    throw corrupt(at: offset - 8, "\(what) has an invalid dimension \(d)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw corrupt(at: offset - 8, "\(what) has too many elements") }
                elements = product
                dims.append(dim)
            }
            let rawType = try read(UInt32.self, "the type of \(what)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw corrupt(at: offset - 4, "\(what) has unknown ggml type \(rawType)")
            }
            let rawOffset = try read(UInt64.self, "the data offset of \(what)")
            guard let dataOffset = Int(exactly: rawOffset), dataOffset % alignment == 0 else {
                throw corrupt(at: offset - 8, "\(what) has data offset \(rawOffset), not a multiple of the alignment \(alignment)")
            }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw corrupt(at: entryOffset, "\(what) of type \(type.name) has a row of \(rowLength) elements, not a multiple of its block size \(type.blockSize)")
            }
            let (byteCount, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
            guard !overflow else { throw corrupt(at: entryOffset, "\(what) is too large") }
            guard seen.insert(name).inserted else { throw corrupt(at: entryOffset, "duplicate tensor name '\(name)'") }
            tensors.append((name, dims, type, dataOffset, byteCount))
        }

        let padding = (alignment - offset % alignment) % alignment
        let dataStart = offset + padding
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensors.count)
        for t in tensors {
            let (absolute, overflow) = dataStart.addingReportingOverflow(t.offset)
            guard !overflow, absolute <= Int.max - t.bytes else {
                throw corrupt(at: dataStart, "tensor '\(t.name)' has data offset \(t.offset) beyond any file")
            }
            if validateTensorData && absolute + t.bytes > bytes.count {
                throw GGUFError.truncated(
                    file: file, offset: absolute, needed: t.bytes, fileSize: bytes.count,
                    reading: "the data of tensor '\(t.name)'")
            }
            infos.append(GGUFTensorInfo(
                name: t.name, dimensions: t.dims, type: t.type, offset: t.offset,
                absoluteOffset: absolute, byteCount: t.bytes))
        }
        if validateTensorData {
            let ordered = infos.sorted { $0.offset < $1.offset }
            for (a, b) in zip(ordered, ordered.dropFirst()) where a.offset + a.byteCount > b.offset {
                throw corrupt(at: a.absoluteOffset, "the data of tensors '\(a.name)' and '\(b.name)' overlap")
            }
        }
        return Header(version: version, keys: keys, metadata: metadata, tensors: infos,
                      alignment: alignment, dataOffset: dataStart)
    }

    // MARK: - Values

    private mutating func readValue(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        case .bool: return .bool(try read(UInt8.self, what) != 0)
        case .string: return .string(try readString(what))
        case .array: return .array(try readArray(key: key, depth: depth))
        }
    }

    private mutating func readArray(key: String, depth: Int) throws -> GGUFArray {
        guard depth < Self.maxArrayNesting else {
            throw corrupt(at: offset, "'\(key)' nests arrays more than \(Self.maxArrayNesting) deep")
        }
        let rawType = try read(UInt32.self, "the element type of '\(key)'")
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw corrupt(at: offset - 4, "array '\(key)' has unknown element type \(rawType)")
        }
        // Strings need at least their 8-byte length, nested arrays a 4-byte type and 8-byte count.
        let minimumSize = type.fixedSize ?? (type == .string ? 8 : 12)
        let count = try readCount("the length of array '\(key)'", minimumElementSize: minimumSize)
        let what = "the elements of array '\(key)'"
        switch type {
        case .uint8: return .uint8(try readScalars(UInt8.self, count, what))
        case .int8: return .int8(try readScalars(Int8.self, count, what))
        case .uint16: return .uint16(try readScalars(UInt16.self, count, what))
        case .int16: return .int16(try readScalars(Int16.self, count, what))
        case .uint32: return .uint32(try readScalars(UInt32.self, count, what))
        case .int32: return .int32(try readScalars(Int32.self, count, what))
        case .uint64: return .uint64(try readScalars(UInt64.self, count, what))
        case .int64: return .int64(try readScalars(Int64.self, count, what))
        #if _endian(little)
        case .float32: return .float32(try readRaw(Float.self, count, what))
        case .float64: return .float64(try readRaw(Double.self, count, what))
        #else
        case .float32: return .float32(try readScalars(UInt32.self, count, what).map { Float(bitPattern: $0) })
        case .float64: return .float64(try readScalars(UInt64.self, count, what).map { Double(bitPattern: $0) })
        #endif
        case .bool: return .bool(try readScalars(UInt8.self, count, what).map { $0 != 0 })
        case .string:
            var strings: [String] = []
            strings.reserveCapacity(count)
            for _ in 0..<count { strings.append(try readString(what)) }
            return .string(strings)
        case .array:
            var arrays: [GGUFArray] = []
            arrays.reserveCapacity(count)
            for _ in 0..<count { arrays.append(try readArray(key: key, depth: depth + 1)) }
            return .array(arrays)
        }
    }

    // MARK: - Primitives

    private func corrupt(at position: Int, _ reason: String) -> GGUFError {
        GGUFError.corrupt(file: file, offset: position, reason: reason)
    }

    private func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count <= bytes.count - offset else {
            throw GGUFError.truncated(file: file, offset: offset, needed: count, fileSize: bytes.count, reading: what())
        }
    }

    private mutating func read<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// Reads a UInt64 count and checks that `count` elements of at least `minimumElementSize` bytes
    /// could still fit in the file, so that no allocation is sized from a corrupt number.
    private mutating func readCount(_ what: @autoclosure () -> String, minimumElementSize: Int) throws -> Int {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64((bytes.count - offset) / minimumElementSize) else {
            let needed = Int(clamping: raw).multipliedReportingOverflow(by: minimumElementSize)
            throw GGUFError.truncated(
                file: file, offset: offset, needed: needed.overflow ? Int.max : needed.partialValue,
                fileSize: bytes.count, reading: "\(what()) = \(raw)")
        }
        return Int(raw)
    }

    private mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(bytes.count - offset) else {
            throw GGUFError.truncated(file: file, offset: offset, needed: Int(clamping: raw),
                                      fileSize: bytes.count, reading: "\(what()) (a string of \(raw) bytes)")
        }
        let length = Int(raw)
        guard length > 0 else { return "" }
        // One copy, straight from the mapped bytes into the String; invalid UTF-8 is repaired with U+FFFD.
        let start = bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
        let string = String(decoding: UnsafeBufferPointer(start: start, count: length), as: UTF8.self)
        offset += length
        return string
    }

    private mutating func readScalars<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type, _ count: Int, _ what: @autoclosure () -> String) throws -> [T] {
        let values = try readRaw(T.self, count, what())
        #if _endian(big)
        return values.map { T(littleEndian: $0) }
        #else
        return values
        #endif
    }

    /// Copies `count` values with one memcpy; the caller converts byte order where the host needs it.
    private mutating func readRaw<T: BitwiseCopyable>(_: T.Type, _ count: Int, _ what: @autoclosure () -> String) throws -> [T] {
        let size = count * MemoryLayout<T>.stride
        try require(size, what())
        guard count > 0 else { return [] }
        let source = bytes.baseAddress! + offset
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: source, byteCount: size)
            initialized = count
        }
        offset += size
        return values
    }
}
