package import Foundation

/// Deterministic pseudo-random bytes (xorshift64), so tests are repeatable. Not for secrets.
package func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { raw in
        var i = 0
        while i < raw.count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            withUnsafeBytes(of: state) { word in
                let n = min(8, raw.count - i)
                raw.baseAddress!.advanced(by: i).copyMemory(from: word.baseAddress!, byteCount: n)
            }
            i += 8
        }
    }
    return out
}

/// `pseudoRandomBytes` as `Data`.
package func pseudoRandomData(_ count: Int, seed: UInt64) -> Data {
    Data(pseudoRandomBytes(count, seed: seed))
}
