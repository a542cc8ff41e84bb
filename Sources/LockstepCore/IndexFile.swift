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
/// length, raw length, type and compression flag (20 bytes; with the 32-byte id a 56-byte slot).
package struct IndexEntry: Sendable {
    package var pack: UInt32
    package var offset: UInt32
    package var length: UInt32
    package var rawLength: UInt32
    package var type: BlobType
    package var compressed: Bool
}

/// Every indexed blob of the repository. Not thread-safe: the repository guards it.
///
/// Held as one array of fixed-size slots sorted by id (binary search), 56 bytes a blob, plus a
/// dictionary of the blobs added since the array was last rebuilt; that dictionary is merged
/// into the array once it holds more than a quarter of it (and at least 8,192 blobs), so a
/// backup that adds a few blobs never copies the array, and one that adds every blob copies it
/// a logarithmic number of times. A dictionary of every blob cost about 210 bytes a blob in
/// resident memory (its load factor, its growth by doubling, the heap it was grown in).
package struct MasterIndex: Sendable {
    private struct Slot: Sendable {
        var id: BlobID
        var entry: IndexEntry
    }

    package private(set) var packs: [BlobID] = []
    private var packNumbers: [BlobID: UInt32] = [:]
    /// Sorted by id, no id twice; disjoint from `recent`.
    private var sorted: [Slot] = []
    private var recent: [BlobID: IndexEntry] = [:]
    /// Numbers of the packs that hold only trees.
    private var treePackNumbers: [UInt32] = []

    package init() {}

    /// Builds an index from whole index files at once: every blob is appended to one array
    /// (reserved up front from the files' sizes), which is sorted once and rid of repeated ids.
    /// Adding them one by one merged the growing array again and again, and the heap kept every
    /// discarded copy: loading 77,000 blobs that way added 16 MiB resident, this way 10.6 MiB
    /// (4.3 MiB the array, the rest one decoded index file at a time).
    package struct Builder {
        private var index = MasterIndex()

        /// `bytes`: the index files' total size (an index file spends at least 38 bytes a blob).
        package init(indexBytes bytes: Int) {
            index.sorted.reserveCapacity(bytes / 38 + 16)
        }

        package mutating func add(pack: BlobID, blobs packed: [PackedBlob]) {
            let number = index.number(of: pack, holding: packed)
            for b in packed {
                index.sorted.append(Slot(id: b.id, entry: IndexEntry(pack: number, offset: b.offset, length: b.length,
                                                                     rawLength: b.rawLength, type: b.type, compressed: b.compressed)))
            }
        }

        /// The index; of an id listed more than once, the location added first counts.
        package consuming func build() -> MasterIndex {
            // Pack numbers follow the order packs were first added, offsets the order within one.
            index.sorted.sort { ($0.id, $0.entry.pack, $0.entry.offset) < ($1.id, $1.entry.pack, $1.entry.offset) }
            var kept = 0
            for i in index.sorted.indices where kept == 0 || index.sorted[kept - 1].id != index.sorted[i].id {
                index.sorted[kept] = index.sorted[i]
                kept += 1
            }
            index.sorted.removeLast(index.sorted.count - kept)
            return index
        }
    }

    /// The pack's number, assigned when it is first seen.
    private mutating func number(of pack: BlobID, holding packed: [PackedBlob]) -> UInt32 {
        if let existing = packNumbers[pack] { return existing }
        let number = UInt32(packs.count)
        packs.append(pack)
        packNumbers[pack] = number
        if !packed.isEmpty && packed.allSatisfy({ $0.type == .tree }) { treePackNumbers.append(number) }
        return number
    }

    /// The packs that hold only trees.
    package var treePacks: [BlobID] { treePackNumbers.map { packs[Int($0)] } }

    /// The number of indexed blobs.
    package var count: Int { sorted.count + recent.count }

    /// Adds a pack's blobs; a blob already indexed keeps its first location.
    package mutating func add(pack: BlobID, blobs packed: [PackedBlob]) {
        let number = number(of: pack, holding: packed)
        for b in packed where !contains(b.id) {
            recent[b.id] = IndexEntry(pack: number, offset: b.offset, length: b.length, rawLength: b.rawLength,
                                      type: b.type, compressed: b.compressed)
        }
        if recent.count > max(8192, sorted.count / 4) { mergeRecent() }
    }

    /// Rebuilds `sorted` with `recent` in it (one merge pass) and empties `recent`.
    private mutating func mergeRecent() {
        let added = recent.map { Slot(id: $0.key, entry: $0.value) }.sorted { $0.id < $1.id }
        recent = [:]
        var merged = [Slot]()
        merged.reserveCapacity(sorted.count + added.count)
        var i = 0, j = 0
        while i < sorted.count && j < added.count {
            if sorted[i].id < added[j].id {
                merged.append(sorted[i])
                i += 1
            } else {
                merged.append(added[j])
                j += 1
            }
        }
        merged.append(contentsOf: sorted[i...])
        merged.append(contentsOf: added[j...])
        sorted = merged
    }

    private func find(_ id: BlobID) -> IndexEntry? {
        if let e = recent[id] { return e }
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if sorted[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < sorted.count && sorted[lo].id == id ? sorted[lo].entry : nil
    }

    package func lookup(_ id: BlobID) -> (pack: BlobID, entry: IndexEntry)? {
        guard let e = find(id) else { return nil }
        return (packs[Int(e.pack)], e)
    }

    package func contains(_ id: BlobID) -> Bool { find(id) != nil }
    package var packSet: Set<BlobID> { Set(packs) }

    /// Every pack with its indexed blobs (those whose first location it is).
    package func forEachPack(_ body: (BlobID, [PackedBlob]) throws -> Void) rethrows {
        var byPack = [[PackedBlob]](repeating: [], count: packs.count)
        forEachBlob { id, e in
            byPack[Int(e.pack)].append(PackedBlob(id: id, type: e.type, offset: e.offset, length: e.length,
                                                  rawLength: e.rawLength, compressed: e.compressed))
        }
        for (number, pack) in packs.enumerated() { try body(pack, byPack[number]) }
    }

    /// Every indexed blob with its location, in no particular order.
    package func forEachBlob(_ body: (BlobID, IndexEntry) throws -> Void) rethrows {
        for slot in sorted { try body(slot.id, slot.entry) }
        for (id, entry) in recent { try body(id, entry) }
    }
}
