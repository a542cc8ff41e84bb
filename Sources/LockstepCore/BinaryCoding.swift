import Foundation

/// Appends fixed-width little-endian integers, LEB128 varints and length-prefixed
/// byte strings. The encoding is deterministic: the same values give the same bytes.
package struct BinaryWriter: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }

    package mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zig-zag encodes a signed value so small negatives stay short.
    package mutating func svarint(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    package mutating func raw<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    package mutating func lengthPrefixed<C: Collection>(_ data: C) where C.Element == UInt8 {
        varint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    package mutating func string(_ s: String) { lengthPrefixed(Array(s.utf8)) }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked and throws on truncation.
package struct BinaryReader {
    private let bytes: [UInt8]
    package private(set) var position: Int

    package init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    package var isAtEnd: Bool { position >= bytes.count }

    package mutating func u8() throws -> UInt8 {
        guard position < bytes.count else { throw FormatError.truncated }
        defer { position += 1 }
        return bytes[position]
    }

    package mutating func u32() throws -> UInt32 {
        let slice = try take(4)
        var v: UInt32 = 0
        for (i, b) in slice.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    package mutating func u64() throws -> UInt64 {
        let slice = try take(8)
        var v: UInt64 = 0
        for (i, b) in slice.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    package mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64, shift < 63 || b <= 1 else { throw FormatError.malformed("varint too long") }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint that must fit 32 bits.
    package mutating func u32Varint() throws -> UInt32 {
        let v = try varint()
        guard v <= UInt64(UInt32.max) else { throw FormatError.malformed("value out of range") }
        return UInt32(v)
    }

    package mutating func svarint() throws -> Int64 {
        let u = try varint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    package mutating func int() throws -> Int {
        let v = try varint()
        guard v <= UInt64(Int.max) else { throw FormatError.malformed("length out of range") }
        return Int(v)
    }

    package mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - position >= count else { throw FormatError.truncated }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    package mutating func lengthPrefixed() throws -> [UInt8] { Array(try take(try int())) }

    package mutating func string() throws -> String {
        let raw = try lengthPrefixed()
        guard let s = String(validating: raw, as: UTF8.self) else { throw FormatError.malformed("string is not UTF-8") }
        return s
    }
}

/// A stored structure that does not decode: truncated, wrong magic, unknown version.
package enum FormatError: Error, Equatable, CustomStringConvertible {
    case truncated
    case malformed(String)

    package var description: String {
        switch self {
        case .truncated: "structure is truncated"
        case .malformed(let why): "structure is malformed: \(why)"
        }
    }
}
