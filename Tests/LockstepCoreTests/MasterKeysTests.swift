import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("MasterKeys")
struct MasterKeysTests {
    static let keys = MasterKeys.generate()

    @Test("seal then open gives the plaintext back", arguments: [0, 1, 1000, 1 << 20])
    func roundTrip(_ count: Int) throws {
        let plain = pseudoRandomData(count, seed: UInt64(count))
        let sealed = try Self.keys.seal(plain)
        #expect(sealed.count == plain.count + MasterKeys.sealOverhead)
        #expect(try Self.keys.open(sealed) == plain)
    }

    @Test("sealing uses a fresh nonce: the same plaintext seals differently")
    func freshNonce() throws {
        let plain = Data("same".utf8)
        let a = try Self.keys.seal(plain), b = try Self.keys.seal(plain)
        #expect(a != b)
        #expect(a.prefix(12) != b.prefix(12))
    }

    @Test("a flipped byte anywhere (nonce, ciphertext, tag) fails to open",
          arguments: [0, 11, 12, 500, 1011, 1027])
    func flippedByte(_ position: Int) throws {
        var sealed = try Self.keys.seal(pseudoRandomData(1000, seed: 1))
        #expect(sealed.count == 1028)
        sealed[sealed.startIndex + position] ^= 0x01
        #expect(throws: (any Error).self) { try Self.keys.open(sealed) }
    }

    @Test("truncated or foreign sealed data fails to open")
    func truncatedAndForeign() throws {
        let sealed = try Self.keys.seal(Data("secret".utf8))
        #expect(throws: (any Error).self) { try Self.keys.open(sealed.dropLast()) }
        #expect(throws: (any Error).self) { try Self.keys.open(Data(sealed.prefix(10))) }
        #expect(throws: (any Error).self) { try Self.keys.open(Data()) }
        #expect(throws: (any Error).self) { try MasterKeys.generate().open(sealed) }
    }

    @Test("blob ids are keyed: same data, different keys, different ids")
    func keyedIDs() throws {
        let data = pseudoRandomData(4096, seed: 3)
        let other = MasterKeys.generate()
        #expect(Self.keys.blobID(of: data) == Self.keys.blobID(of: data))
        #expect(Self.keys.blobID(of: data) != other.blobID(of: data))
        #expect(Self.keys.blobID(of: data) != storageID(of: data))
        #expect(Self.keys.blobID(of: data) != Self.keys.blobID(of: data.dropLast()))
        let viaPointer = data.withUnsafeBytes { Self.keys.blobID(of: $0) }
        #expect(viaPointer == Self.keys.blobID(of: data))
    }

    @Test("serialized keys are 96 bytes and restore the same keys")
    func serialization() throws {
        let bytes = Self.keys.serialized
        #expect(bytes.count == 96)
        let restored = try MasterKeys(serialized: bytes)
        #expect(restored.serialized == bytes)
        let data = Data("x".utf8)
        #expect(restored.blobID(of: data) == Self.keys.blobID(of: data))
        #expect(try restored.open(try Self.keys.seal(data)) == data)
        #expect(throws: FormatError.self) { try MasterKeys(serialized: Array(bytes.dropLast())) }
        #expect(throws: FormatError.self) { try MasterKeys(serialized: bytes + [0]) }
        #expect(MasterKeys.generate().serialized != bytes)
    }

    @Test("storageID is plain SHA-256")
    func storageIDIsSHA256() {
        #expect(storageID(of: Data("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(storageID(of: Data()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

@Suite("KeyFile")
struct KeyFileTests {
    static let keys = MasterKeys.generate()
    static let fastN = 1 << 10

    @Test("wraps with scrypt; the right password unwraps, a wrong or missing one gives nil")
    func wrapUnwrap() throws {
        let file = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        #expect(file.kdf == "scrypt")
        #expect(file.n == Self.fastN && file.r == KeyFile.defaultR && file.p == KeyFile.defaultP)
        #expect(file.host == "h")
        #expect(!file.salt.isEmpty)
        #expect(!file.data.contains(Data(Self.keys.serialized).base64EncodedString()))
        let unwrapped = try #require(try file.unwrap(password: Array("pw".utf8)))
        #expect(unwrapped.serialized == Self.keys.serialized)
        #expect(try file.unwrap(password: Array("pW".utf8)) == nil)
        #expect(try file.unwrap(password: []) == nil)
        #expect(try file.unwrap(password: nil) == nil)
    }

    @Test("survives a JSON round trip")
    func json() throws {
        let file = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        let decoded = try JSONDecoder().decode(KeyFile.self, from: try JSONEncoder().encode(file))
        #expect(try decoded.unwrap(password: Array("pw".utf8))?.serialized == Self.keys.serialized)
        #expect(decoded.created == file.created)
    }

    @Test("two wraps of the same keys use different salts")
    func freshSalt() throws {
        let a = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        let b = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        #expect(a.salt != b.salt)
        #expect(a.data != b.data)
    }

    @Test("the default cost is N = 2^15")
    func defaultCost() throws {
        #expect(KeyFile.defaultN == 1 << 15)
        let file = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow)
        #expect(file.n == 1 << 15)
        #expect(try file.unwrap(password: Array("pw".utf8))?.serialized == Self.keys.serialized)
    }

    @Test("no password: kdf none, keys stored unwrapped, any password unwraps")
    func noPassword() throws {
        let file = try KeyFile.wrap(Self.keys, password: nil, host: "h", now: testNow)
        #expect(file.kdf == "none")
        #expect(file.salt.isEmpty)
        #expect(try file.unwrap(password: nil)?.serialized == Self.keys.serialized)
        #expect(try file.unwrap(password: Array("anything".utf8))?.serialized == Self.keys.serialized)
    }

    @Test("tampered key data does not unwrap")
    func tampered() throws {
        var file = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        var blob = try #require(Data(base64Encoded: file.data))
        blob[blob.startIndex + 20] ^= 0x80
        file.data = blob.base64EncodedString()
        #expect(try file.unwrap(password: Array("pw".utf8)) == nil)
    }

    @Test("an unknown kdf or data that is not base64 throws")
    func malformed() throws {
        var file = try KeyFile.wrap(Self.keys, password: Array("pw".utf8), host: "h", now: testNow, n: Self.fastN)
        file.kdf = "argon2"
        #expect(throws: FormatError.self) { try file.unwrap(password: Array("pw".utf8)) }
        var other = try KeyFile.wrap(Self.keys, password: nil, host: "h", now: testNow)
        other.data = "!!! not base64 !!!"
        #expect(throws: FormatError.self) { try other.unwrap(password: nil) }
    }
}

@Suite("Zstd")
struct ZstdTests {
    @Test("compressible data compresses and decompresses to the same bytes", arguments: [1, 3, 9])
    func roundTrip(_ level: Int32) throws {
        let text = Data(String(repeating: "lockstep backs up files; ", count: 40_000).utf8)
        let compressed = try #require(Zstd.compress(text, level: level))
        #expect(compressed.count < text.count / 10)
        #expect(try Zstd.decompress(compressed, rawLength: text.count) == text)
    }

    @Test("incompressible, empty and tiny inputs return nil")
    func incompressible() {
        #expect(Zstd.compress(pseudoRandomData(100_000, seed: 8), level: 3) == nil)
        #expect(Zstd.compress(Data(), level: 3) == nil)
        #expect(Zstd.compress(Data("a".utf8), level: 3) == nil)
    }

    @Test("a wrong raw length or a damaged frame throws")
    func wrongLength() throws {
        let data = Data(String(repeating: "abc", count: 10_000).utf8)
        let compressed = try #require(Zstd.compress(data, level: 3))
        #expect(throws: FormatError.self) { try Zstd.decompress(compressed, rawLength: data.count - 1) }
        #expect(throws: FormatError.self) { try Zstd.decompress(compressed, rawLength: data.count + 1) }
        #expect(throws: FormatError.self) { try Zstd.decompress(compressed.prefix(compressed.count / 2), rawLength: data.count) }
        #expect(throws: FormatError.self) { try Zstd.decompress(pseudoRandomData(64, seed: 1), rawLength: 100) }
    }
}
