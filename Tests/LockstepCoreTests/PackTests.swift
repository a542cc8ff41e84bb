import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("PackBuilder and IndexFile")
struct PackTests {
    static let keys = MasterKeys.generate()

    /// Plaintexts: compressible, incompressible, empty, tiny.
    static let plaintexts: [Data] = [
        Data(String(repeating: "compress me ", count: 5000).utf8),
        pseudoRandomData(20_000, seed: 5),
        Data(),
        Data("x".utf8),
    ]

    static func build() throws -> (builder: PackBuilder, result: (id: BlobID, bytes: Data, blobs: [PackedBlob])) {
        var builder = PackBuilder(capacity: 1 << 16)
        #expect(builder.isEmpty)
        for (i, plain) in plaintexts.enumerated() {
            let compressed = Zstd.compress(plain, level: 3)
            let sealed = try keys.seal(compressed ?? plain)
            builder.append(id: keys.blobID(of: plain), type: i % 2 == 0 ? .data : .tree, sealed: sealed,
                           rawLength: plain.count, compressed: compressed != nil)
        }
        #expect(!builder.isEmpty)
        let result = try builder.finish(keys: keys)
        return (builder, result)
    }

    @Test("finish then readHeader gives back the blobs, and each blob opens to its plaintext")
    func roundTrip() throws {
        let (_, pack) = try Self.build()
        #expect(pack.id == storageID(of: pack.bytes))
        #expect(pack.blobs.count == Self.plaintexts.count)
        #expect(try PackBuilder.readHeader(pack.bytes, keys: Self.keys) == pack.blobs)
        var expectedOffset: UInt32 = 0
        for (blob, plain) in zip(pack.blobs, Self.plaintexts) {
            #expect(blob.offset == expectedOffset)
            expectedOffset += blob.length
            #expect(blob.id == Self.keys.blobID(of: plain))
            #expect(blob.rawLength == UInt32(plain.count))
            let sealed = pack.bytes.subdata(in: Int(blob.offset)..<Int(blob.offset + blob.length))
            let opened = try Self.keys.open(sealed)
            let data = blob.compressed ? try Zstd.decompress(opened, rawLength: Int(blob.rawLength)) : opened
            #expect(data == plain)
        }
        #expect(pack.blobs[0].compressed)
        #expect(!pack.blobs[1].compressed)
        #expect(pack.blobs.map(\.type) == [.data, .tree, .data, .tree])
    }

    @Test("a pack whose header does not open, or is cut, is refused")
    func damagedPack() throws {
        let (_, pack) = try Self.build()
        #expect(throws: (any Error).self) { try PackBuilder.readHeader(pack.bytes, keys: MasterKeys.generate()) }
        #expect(throws: (any Error).self) { try PackBuilder.readHeader(pack.bytes.dropLast(), keys: Self.keys) }
        #expect(throws: (any Error).self) { try PackBuilder.readHeader(pack.bytes.dropFirst(), keys: Self.keys) }
        #expect(throws: FormatError.truncated) { try PackBuilder.readHeader(Data([1, 2, 3]), keys: Self.keys) }
        var wrongLength = pack.bytes
        wrongLength.replaceSubrange((wrongLength.count - 4)..<wrongLength.count, with: [0xff, 0xff, 0xff, 0x7f])
        #expect(throws: FormatError.self) { try PackBuilder.readHeader(wrongLength, keys: Self.keys) }
        var flipped = pack.bytes
        flipped[flipped.count - 10] ^= 0x01  // inside the sealed header's tag
        #expect(throws: (any Error).self) { try PackBuilder.readHeader(flipped, keys: Self.keys) }
    }

    @Test("an empty pack has an empty header")
    func emptyPack() throws {
        var builder = PackBuilder(capacity: 0)
        let pack = try builder.finish(keys: Self.keys)
        #expect(pack.blobs.isEmpty)
        #expect(try PackBuilder.readHeader(pack.bytes, keys: Self.keys).isEmpty)
    }

    static func samplePacks() -> [(id: BlobID, blobs: [PackedBlob])] {
        let one = PackedBlob(id: testID(1), type: .data, offset: 0, length: 100, rawLength: 72, compressed: false)
        var many = [PackedBlob]()
        for i in 0..<50 {
            let rawLength: UInt32 = i == 49 ? UInt32.max : UInt32(i * 5000)
            many.append(PackedBlob(id: BlobID(bytes: pseudoRandomBytes(32, seed: UInt64(i))), type: i % 3 == 0 ? .tree : .data,
                                   offset: UInt32(i) * 1000, length: 999, rawLength: rawLength, compressed: i % 2 == 0))
        }
        let last = PackedBlob(id: testID(2), type: .tree, offset: UInt32.max - 10, length: 10, rawLength: 0, compressed: true)
        return [(testID(0xa0), []), (testID(0xa1), [one]), (testID(0xa2), many), (testID(0xa3), [last])]
    }

    @Test("IndexFile encode then decode gives back every pack and blob")
    func indexRoundTrip() throws {
        let file = IndexFile(packs: Self.samplePacks())
        let decoded = try IndexFile.decode(file.encode())
        #expect(decoded.packs.count == file.packs.count)
        for (a, b) in zip(decoded.packs, file.packs) {
            #expect(a.id == b.id)
            #expect(a.blobs == b.blobs)
        }
        #expect(decoded.encode() == file.encode())
        #expect(try IndexFile.decode(IndexFile(packs: []).encode()).packs.isEmpty)
    }

    @Test("a damaged index file throws")
    func damagedIndex() throws {
        let bytes = IndexFile(packs: Self.samplePacks()).encode()
        #expect(throws: FormatError.malformed("not an index file")) { try IndexFile.decode([0] + bytes.dropFirst()) }
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: FormatError.self, "prefix of \(length)") { try IndexFile.decode(Array(bytes.prefix(length))) }
        }
    }

    @Test("MasterIndex keeps the first location of a blob and numbers each pack once")
    func masterIndex() throws {
        var index = MasterIndex()
        let first = PackedBlob(id: testID(1), type: .data, offset: 0, length: 10, rawLength: 5, compressed: false)
        let again = PackedBlob(id: testID(1), type: .data, offset: 50, length: 10, rawLength: 5, compressed: false)
        let other = PackedBlob(id: testID(2), type: .tree, offset: 10, length: 20, rawLength: 30, compressed: true)
        index.add(pack: testID(0xa0), blobs: [first, other])
        index.add(pack: testID(0xa1), blobs: [again])
        index.add(pack: testID(0xa0), blobs: [])
        #expect(index.packs == [testID(0xa0), testID(0xa1)])
        #expect(index.packSet == [testID(0xa0), testID(0xa1)])
        let found = try #require(index.lookup(testID(1)))
        #expect(found.pack == testID(0xa0))
        #expect(found.entry.offset == 0)
        let tree = try #require(index.lookup(testID(2)))
        #expect(tree.entry.type == .tree && tree.entry.compressed && tree.entry.rawLength == 30)
        #expect(index.contains(testID(2)))
        #expect(!index.contains(testID(3)))
        #expect(index.lookup(testID(3)) == nil)
    }

    /// `count` distinct pseudo-random ids (as blob ids are: keyed hashes).
    static func randomIDs(_ count: Int, seed: UInt64) -> [BlobID] {
        (0..<count).map { BlobID(bytes: pseudoRandomBytes(32, seed: seed &* 1_000_003 &+ UInt64($0))) }
    }

    @Test("MasterIndex finds every blob added one by one, across the merges of its recent blobs into the sorted array")
    func masterIndexMerges() throws {
        var index = MasterIndex()
        let ids = Self.randomIDs(30_000, seed: 7)
        for (i, chunk) in stride(from: 0, to: ids.count, by: 1000).map({ Array(ids[$0..<min($0 + 1000, ids.count)]) }).enumerated() {
            index.add(pack: testID(UInt8(i)), blobs: chunk.enumerated().map {
                PackedBlob(id: $0.element, type: .data, offset: UInt32($0.offset * 10), length: 10, rawLength: 10, compressed: false)
            })
            // A blob added again keeps its first location.
            index.add(pack: testID(200), blobs: [PackedBlob(id: chunk[0], type: .data, offset: 99, length: 1, rawLength: 1, compressed: false)])
        }
        #expect(index.count == ids.count)
        for (n, id) in ids.enumerated() {
            let found = try #require(index.lookup(id))
            #expect(found.pack == testID(UInt8(n / 1000)) && found.entry.offset == UInt32(n % 1000 * 10))
        }
        for id in Self.randomIDs(200, seed: 8) { #expect(!index.contains(id)) }
        var seen = Set<BlobID>()
        index.forEachBlob { id, _ in seen.insert(id) }
        #expect(seen == Set(ids))
    }

    @Test("MasterIndex.Builder gives the index adding one by one gives: first location kept, packs numbered once, tree packs known")
    func masterIndexBuilder() throws {
        let ids = Self.randomIDs(5_000, seed: 9)
        var builder = MasterIndex.Builder(indexBytes: 0)  // a wrong size estimate only costs reallocation
        var added = MasterIndex()
        for (i, chunk) in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }).enumerated() {
            let blobs = chunk.enumerated().map {
                PackedBlob(id: $0.element, type: i == 3 ? .tree : .data, offset: UInt32($0.offset), length: 1, rawLength: 1, compressed: i % 2 == 0)
            }
            // Every id twice: again in a later pack, and the first of each pack twice in its own.
            let repeated = [PackedBlob(id: chunk[0], type: .data, offset: 4_000, length: 1, rawLength: 1, compressed: false)]
            for pack in [(testID(UInt8(i)), blobs + repeated), (testID(100 + UInt8(i)), blobs)] {
                builder.add(pack: pack.0, blobs: pack.1)
                added.add(pack: pack.0, blobs: pack.1)
            }
        }
        let built = builder.build()
        #expect(built.count == ids.count && built.packs == added.packs && built.treePacks == [testID(103)] && added.treePacks == built.treePacks)
        for id in ids {
            let b = try #require(built.lookup(id)), a = try #require(added.lookup(id))
            #expect(b.pack == a.pack && b.entry.offset == a.entry.offset && b.entry.compressed == a.entry.compressed)
        }
        #expect(!built.contains(testID(0xee)))
    }
}
