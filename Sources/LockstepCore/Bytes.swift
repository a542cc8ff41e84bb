#if canImport(Glibc)
import Glibc
#endif

/// Byte strings (file names) in the order trees keep them.
package enum Bytes {
    /// `a` sorts before `b`: bytewise unsigned, a proper prefix first; the same order as
    /// `lexicographicallyPrecedes`, with `memcmp` doing the work.
    @inlinable
    package static func precede(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let common = min(a.count, b.count)
        let order = a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common) }
        }
        return order < 0 || order == 0 && a.count < b.count
    }
}
