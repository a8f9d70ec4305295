import Foundation
import NN
import Tensor
import XCTest

/// Compares engine results (float32) with values computed independently in Double.
/// The tolerance is `atol + rtol·|expected|` per element.
func assertClose(_ actual: [Float], _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        return XCTFail("\(message()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
    }
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let tol = atol + rtol * Swift.abs(e)
        if !(Swift.abs(Double(a) - e) <= tol) {
            XCTFail("\(message()) [\(i)]: got \(a), expected \(e) (tolerance \(tol))", file: file, line: line)
        }
    }
}

func assertClose(_ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
    try assertClose(actual.asType(.float32).floats(), expected, rtol: rtol, atol: atol, message(), file: file, line: line)
}

func assertClose(_ actual: Tensor, _ expected: Double, rtol: Double = 1e-5, atol: Double = 1e-6,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
    try assertClose(actual, [expected], rtol: rtol, atol: atol, message(), file: file, line: line)
}

/// Exact equality of the stored values, compared through their bit patterns (so -0 ≠ +0 and
/// NaNs compare by payload). Half-precision values widen to float32 exactly.
func assertBitwiseEqual(_ a: Tensor, _ b: Tensor, _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(a.shape, b.shape, "\(message()): shape", file: file, line: line)
    XCTAssertEqual(a.dtype, b.dtype, "\(message()): dtype", file: file, line: line)
    guard a.shape == b.shape, a.dtype == b.dtype else { return }
    if a.dtype.isFloatingPoint {
        let x = try a.asType(.float64).toArray(Double.self).map(\.bitPattern)
        let y = try b.asType(.float64).toArray(Double.self).map(\.bitPattern)
        XCTAssertEqual(x, y, "\(message()): values differ", file: file, line: line)
    } else {
        XCTAssertTrue(try arrayEqual(a, b), "\(message()): values differ", file: file, line: line)
    }
}

func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

/// log σ(x) without overflow for large |x|.
func logSigmoid(_ x: Double) -> Double { x >= 0 ? -Foundation.log1p(Foundation.exp(-x)) : x - Foundation.log1p(Foundation.exp(x)) }

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posttrain-nn-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}
