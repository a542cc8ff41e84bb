import Foundation

/// An index file: for each pack, the blobs in it (id, type, offset, length, raw length,
/// compression). Stored encrypted under `index/`, named by the SHA-256 of its bytes.
package struct IndexFile: Sendable {
    package var packs: [(id: BlobID, blobs: [PackedBlob])]

    package init(packs: [(id: BlobID, blobs: [PackedBlob])]) { self.packs = packs }

    static let magic: [UInt8] = Array("LSIX1".utf8)

    package func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 64 + packs.reduce(0) { $0 + $1.blobs.count } * 48)
        w.raw(Self.magic)
        w.varint(UInt64(packs.count))
        for pack in packs {
            w.id(pack.id)
            w.varint(UInt64(pack.blobs.count))
            for b in pack.blobs {
                w.u8(b.type.rawValue)
                w.id(b.id)
                w.varint(UInt64(b.offset))
                w.varint(UInt64(b.length))
                w.varint(UInt64(b.rawLength))
                w.u8(b.compressed ? 1 : 0)
            }
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws -> IndexFile {
        var r = BinaryReader(bytes)
        guard Array(try r.take(magic.count)) == magic else { throw FormatError.malformed("not an index file") }
        var packs: [(id: BlobID, blobs: [PackedBlob])] = []
        let packCount = try r.int()
        for _ in 0..<packCount {
            let id = try r.id()
            let count = try r.int()
            var blobs = [PackedBlob]()
            blobs.reserveCapacity(min(count, 1 << 20))
            for _ in 0..<count {
                guard let type = BlobType(rawValue: try r.u8()) else { throw FormatError.malformed("unknown blob type") }
                let blobID = try r.id()
                blobs.append(PackedBlob(id: blobID, type: type, offset: try r.u32Varint(), length: try r.u32Varint(),
                                        rawLength: try r.u32Varint(), compressed: try r.u8() == 1))
            }
            packs.append((id, blobs))
        }
        guard r.isAtEnd else { throw FormatError.malformed("trailing bytes after index") }
        return IndexFile(packs: packs)
    }
}

/// Where a blob is, as held in memory: 4-byte pack number into `MasterIndex.packs`, offset,
/// length, raw length, type and compression flag — with the 32-byte key, 56 bytes a blob plus
/// the dictionary's own overhead.
package struct IndexEntry: Sendable {
    package var pack: UInt32
    package var offset: UInt32
    package var length: UInt32
    package var rawLength: UInt32
    package var type: BlobType
    package var compressed: Bool
}

/// Every indexed blob of the repository. Not thread-safe: the repository guards it.
package struct MasterIndex: Sendable {
    package private(set) var packs: [BlobID] = []
    private var packNumbers: [BlobID: UInt32] = [:]
    package private(set) var blobs: [BlobID: IndexEntry] = [:]
    /// Numbers of the packs that hold only trees.
    private var treePackNumbers: [UInt32] = []

    package init() {}

    /// The packs that hold only trees.
    package var treePacks: [BlobID] { treePackNumbers.map { packs[Int($0)] } }

    package mutating func add(pack: BlobID, blobs packed: [PackedBlob]) {
        let number: UInt32
        if let existing = packNumbers[pack] {
            number = existing
        } else {
            number = UInt32(packs.count)
            packs.append(pack)
            packNumbers[pack] = number
            if !packed.isEmpty && packed.allSatisfy({ $0.type == .tree }) { treePackNumbers.append(number) }
        }
        for b in packed where blobs[b.id] == nil {
            blobs[b.id] = IndexEntry(pack: number, offset: b.offset, length: b.length, rawLength: b.rawLength,
                                     type: b.type, compressed: b.compressed)
        }
    }

    package func lookup(_ id: BlobID) -> (pack: BlobID, entry: IndexEntry)? {
        guard let e = blobs[id] else { return nil }
        return (packs[Int(e.pack)], e)
    }

    package func contains(_ id: BlobID) -> Bool { blobs[id] != nil }
    package var packSet: Set<BlobID> { Set(packs) }
}
