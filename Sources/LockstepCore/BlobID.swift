import Foundation

/// A 32-byte identifier: a blob's keyed hash, or a pack's, index's or snapshot's SHA-256.
/// Four words, so hashing and comparing are cheap in the in-memory index.
package struct BlobID: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    package init<C: Collection>(bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == 32, "an id is 32 bytes")
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { words[i / 8] = (words[i / 8] << 8) | UInt64(b) }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    package init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(32)
        var i = 0
        while i < 64 {
            guard let hi = Self.nibble(utf8[i]), let lo = Self.nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self.init(bytes: out)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    package var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        }
        return out
    }

    package var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    package var short: String { String(hex.prefix(8)) }
    package var description: String { hex }

    package static func < (a: BlobID, b: BlobID) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

extension BinaryWriter {
    package mutating func id(_ id: BlobID) {
        for w in [id.w0, id.w1, id.w2, id.w3] {
            withUnsafeBytes(of: w.bigEndian) { raw($0) }
        }
    }
}

extension BinaryReader {
    package mutating func id() throws -> BlobID { BlobID(bytes: try take(32)) }
}
