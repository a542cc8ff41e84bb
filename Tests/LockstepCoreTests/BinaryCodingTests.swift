import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("BinaryWriter and BinaryReader")
struct BinaryCodingTests {
    static let varintCases: [(UInt64, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7f]),
        (128, [0x80, 0x01]),
        (300, [0xac, 0x02]),
        (16_383, [0xff, 0x7f]),
        (16_384, [0x80, 0x80, 0x01]),
        (UInt64(UInt32.max), [0xff, 0xff, 0xff, 0xff, 0x0f]),
        (UInt64.max, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]

    @Test("varint encodes minimally and round trips", arguments: varintCases)
    func varint(value: UInt64, encoded: [UInt8]) throws {
        var w = BinaryWriter()
        w.varint(value)
        #expect(w.bytes == encoded)
        var r = BinaryReader(w.bytes)
        #expect(try r.varint() == value)
        #expect(r.isAtEnd)
    }

    static let svarintCases: [(Int64, Int)] = [
        (0, 1), (-1, 1), (1, 1), (-64, 1), (63, 1), (-65, 2), (64, 2),
        (-1_000_000, 3), (Int64(Int32.min), 5), (Int64.min, 10), (Int64.max, 10),
    ]

    @Test("svarint zig-zags: small negatives stay short", arguments: svarintCases)
    func svarint(value: Int64, length: Int) throws {
        var w = BinaryWriter()
        w.svarint(value)
        #expect(w.bytes.count == length)
        var r = BinaryReader(w.bytes)
        #expect(try r.svarint() == value)
        #expect(r.isAtEnd)
    }

    @Test("zig-zag mapping: 0, -1, 1, -2 become 0, 1, 2, 3")
    func zigZagOrder() throws {
        var w = BinaryWriter()
        for v: Int64 in [0, -1, 1, -2, 2] { w.svarint(v) }
        #expect(w.bytes == [0, 1, 2, 3, 4])
    }

    @Test("fixed-width integers are little-endian")
    func fixedWidth() throws {
        var w = BinaryWriter()
        w.u8(0xab)
        w.u32(0x0102_0304)
        w.u64(0x0102_0304_0506_0708)
        #expect(w.bytes == [0xab, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1])
        var r = BinaryReader(w.bytes)
        #expect(try r.u8() == 0xab)
        #expect(try r.u32() == 0x0102_0304)
        #expect(try r.u64() == 0x0102_0304_0506_0708)
        #expect(r.isAtEnd)
        #expect(r.position == 13)
    }

    /// A record with one of everything the writer can write.
    static func record() -> [UInt8] {
        var w = BinaryWriter()
        w.u8(7)
        w.u32(UInt32.max)
        w.u64(UInt64.max - 1)
        w.varint(1 << 35)
        w.svarint(-123_456_789)
        w.string("héllo, wörld")
        w.string("")
        w.lengthPrefixed([0, 255, 128])
        w.raw([9, 9])
        return w.bytes
    }

    static func readRecord(_ bytes: [UInt8]) throws {
        var r = BinaryReader(bytes)
        #expect(try r.u8() == 7)
        #expect(try r.u32() == UInt32.max)
        #expect(try r.u64() == UInt64.max - 1)
        #expect(try r.varint() == 1 << 35)
        #expect(try r.svarint() == -123_456_789)
        #expect(try r.string() == "héllo, wörld")
        #expect(try r.string() == "")
        #expect(try r.lengthPrefixed() == [0, 255, 128])
        #expect(Array(try r.take(2)) == [9, 9])
        #expect(r.isAtEnd)
    }

    @Test("a record of every type round trips")
    func recordRoundTrip() throws {
        try Self.readRecord(Self.record())
    }

    @Test("encoding is deterministic")
    func deterministic() {
        #expect(Self.record() == Self.record())
    }

    @Test("every truncation of a record throws .truncated")
    func truncation() throws {
        let full = Self.record()
        for length in 0..<full.count {
            #expect(throws: FormatError.truncated, "prefix of \(length) bytes") {
                try Self.readRecord(Array(full.prefix(length)))
            }
        }
    }

    @Test("reads past the end throw .truncated and do not move")
    func readsPastEnd() throws {
        var r = BinaryReader([1, 2, 3])
        #expect(throws: FormatError.truncated) { try r.u32() }
        #expect(r.position == 0)
        #expect(throws: FormatError.truncated) { try r.u64() }
        #expect(throws: FormatError.truncated) { try r.take(4) }
        #expect(throws: FormatError.truncated) { try r.take(-1) }
        #expect(Array(try r.take(3)) == [1, 2, 3])
        #expect(throws: FormatError.truncated) { try r.u8() }
        #expect(throws: FormatError.truncated) { try r.varint() }
    }

    @Test("a varint with its continuation bit on the last byte is truncated")
    func unterminatedVarint() {
        var r = BinaryReader([0x80, 0x80])
        #expect(throws: FormatError.truncated) { try r.varint() }
    }

    @Test("a length prefix longer than the rest is truncated")
    func lengthBeyondEnd() {
        var r = BinaryReader([5, 1, 2])
        #expect(throws: FormatError.truncated) { try r.lengthPrefixed() }
    }

    @Test("an over-long varint is malformed, not a crash")
    func overlongVarint() {
        var r = BinaryReader([UInt8](repeating: 0x80, count: 10) + [0x01])
        #expect(throws: FormatError.self) { try r.varint() }
        var r2 = BinaryReader([UInt8](repeating: 0xff, count: 20))
        #expect(throws: FormatError.self) { try r2.varint() }
    }

    @Test("int() refuses values beyond Int.max")
    func intRange() {
        var w = BinaryWriter()
        w.varint(UInt64.max)
        var r = BinaryReader(w.bytes)
        #expect(throws: FormatError.malformed("length out of range")) { try r.int() }
    }

    @Test("a string that is not UTF-8 is malformed")
    func invalidUTF8() {
        var w = BinaryWriter()
        w.lengthPrefixed([0x66, 0xff, 0xfe])
        var r = BinaryReader(w.bytes)
        #expect(throws: FormatError.malformed("string is not UTF-8")) { try r.string() }
    }

    @Test("a reader can start at a position")
    func startPosition() throws {
        var r = BinaryReader([0xff, 0xff, 0x2a], position: 2)
        #expect(try r.u8() == 42)
        #expect(r.isAtEnd)
    }
}

@Suite("BlobID")
struct BlobIDTests {
    static let ids: [BlobID] = (0..<200).map { BlobID(bytes: pseudoRandomBytes(32, seed: UInt64($0))) }

    @Test("hex and bytes round trip")
    func roundTrip() throws {
        for (i, id) in Self.ids.enumerated() {
            let bytes = pseudoRandomBytes(32, seed: UInt64(i))
            #expect(id.bytes == bytes)
            #expect(id.hex.count == 64)
            #expect(id.hex == id.hex.lowercased())
            #expect(id.hex == bytes.map { String(format: "%02x", $0) }.joined())
            #expect(BlobID(hex: id.hex) == id)
            #expect(BlobID(bytes: id.bytes) == id)
            #expect(id.short == String(id.hex.prefix(8)))
            #expect(id.description == id.hex)
        }
    }

    @Test("a known id")
    func known() throws {
        let id = BlobID(bytes: Array(0..<32))
        #expect(id.hex == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        #expect(id.w0 == 0x0001_0203_0405_0607)
        #expect(id.w3 == 0x1819_1a1b_1c1d_1e1f)
    }

    @Test("invalid hex is refused", arguments: [
        "", "00", String(repeating: "0", count: 63), String(repeating: "0", count: 65),
        String(repeating: "A", count: 64), String(repeating: "g", count: 64),
        String(repeating: "0", count: 62) + " 0", String(repeating: "0", count: 62) + "é",
    ])
    func invalidHex(_ hex: String) {
        #expect(BlobID(hex: hex) == nil)
    }

    @Test("ordering follows the bytes (and so the hex)")
    func ordering() {
        let byID = Self.ids.sorted()
        let byBytes = Self.ids.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let byHex = Self.ids.sorted { $0.hex < $1.hex }
        #expect(byID == byBytes)
        #expect(byID == byHex)
        #expect(testID(0) < testID(1))
        #expect(!(testID(1) < testID(1)))
        // The last byte decides when the rest is equal.
        var a = [UInt8](repeating: 7, count: 32), b = a
        a[31] = 1
        b[31] = 2
        #expect(BlobID(bytes: a) < BlobID(bytes: b))
        // The first byte outweighs everything after it.
        var c = [UInt8](repeating: 0xff, count: 32)
        c[0] = 0
        #expect(BlobID(bytes: c) < BlobID(bytes: [1] + [UInt8](repeating: 0, count: 31)))
    }

    @Test("ids are hashable: equal ids collapse in a set")
    func hashing() {
        let set = Set(Self.ids + Self.ids)
        #expect(set.count == Self.ids.count)
    }

    @Test("BinaryWriter.id writes the 32 bytes; BinaryReader.id reads them back")
    func coding() throws {
        var w = BinaryWriter()
        for id in Self.ids.prefix(3) { w.id(id) }
        #expect(w.bytes == Self.ids.prefix(3).flatMap(\.bytes))
        var r = BinaryReader(w.bytes)
        for id in Self.ids.prefix(3) { #expect(try r.id() == id) }
        #expect(throws: FormatError.truncated) { try r.id() }
    }
}
