import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fresh, uniquely named directory under `$TMPDIR` (else `/tmp`), removed with everything in
/// it by `remove()`. Tests create one and call `remove()` in a `defer`.
package final class TempDirectory: Sendable {
    package let path: String

    /// `base`: where to make it (default `$TMPDIR`, else `/tmp`).
    package init(prefix: String = "lockstep-test", in base: String? = nil) throws {
        var base = base ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A path inside the directory (not created).
    package func appending(_ component: String) -> String { "\(path)/\(component)" }

    /// Removes the directory and everything in it; harmless when already gone.
    package func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
