import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Only the pages the header parser touches are read from
/// disk, so listing a multi-gigabyte checkpoint's metadata costs a few megabytes of I/O.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    private let mappedLength: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(file: path, reason: Self.errnoString()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GGUFError.cannotOpen(file: path, reason: Self.errnoString()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            // mmap refuses empty mappings; an empty buffer lets the parser report the truncation.
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            mappedLength = 0
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw GGUFError.cannotOpen(file: path, reason: "mmap failed: \(Self.errnoString())")
        }
        bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(address), count: size)
        mappedLength = size
    }

    deinit {
        if mappedLength > 0, let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
        }
    }

    private static func errnoString() -> String { String(cString: strerror(errno)) }
}
