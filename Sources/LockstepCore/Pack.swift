package import Foundation
import Crypto

/// Blob kinds: file content or an encoded tree.
package enum BlobType: UInt8, Sendable, Codable {
    case data = 0
    case tree = 1
}

/// Where a blob is: which pack, and the sealed bytes' range in it. `rawLength` is the plaintext
/// length; `compressed` says whether the sealed plaintext is a zstd frame.
package struct PackedBlob: Sendable, Equatable {
    package var id: BlobID
    package var type: BlobType
    package var offset: UInt32
    package var length: UInt32
    package var rawLength: UInt32
    package var compressed: Bool

    package init(id: BlobID, type: BlobType, offset: UInt32, length: UInt32, rawLength: UInt32, compressed: Bool) {
        self.id = id
        self.type = type
        self.offset = offset
        self.length = length
        self.rawLength = rawLength
        self.compressed = compressed
    }
}

/// A pack written into storage as it fills (see `PackBuilder` for the layout): each sealed blob
/// goes to the pending object at once, so a backup holds no pack in memory, and the pack's name
/// is hashed on the way.
package struct PackWriter: Sendable {
    private var object: (any PendingObject)?
    /// SHA-256's running state is a plain value; it is only ever used by the writer's owner.
    private struct Hasher: @unchecked Sendable { var sha = SHA256() }
    private var hasher = Hasher()
    package private(set) var blobs: [PackedBlob] = []
    package private(set) var count = 0

    package init() {}

    package var isEmpty: Bool { blobs.isEmpty }

    package mutating func append(id: BlobID, type: BlobType, sealed: Data, rawLength: Int, compressed: Bool,
                                 storage: any Storage) throws {
        let object = try self.object ?? storage.beginObject()
        self.object = object
        try write(sealed, to: object)
        blobs.append(PackedBlob(id: id, type: type, offset: UInt32(count), length: UInt32(sealed.count),
                                rawLength: UInt32(rawLength), compressed: compressed))
        count += sealed.count
    }

    private mutating func write(_ bytes: Data, to object: any PendingObject) throws {
        try bytes.withUnsafeBytes { raw in
            hasher.sha.update(bufferPointer: raw)
            try object.append(raw)
        }
    }

    /// Appends the sealed header and its length and commits the pack under its hash.
    package mutating func finish(keys: MasterKeys) throws -> (id: BlobID, blobs: [PackedBlob]) {
        guard let object else { throw FormatError.malformed("an empty pack cannot be finished") }
        let header = try keys.seal(Data(PackBuilder.encodeHeader(blobs)))
        try write(header, to: object)
        try write(withUnsafeBytes(of: UInt32(header.count).littleEndian) { Data($0) }, to: object)
        let id = BlobID(bytes: Array(hasher.sha.finalize()))
        try object.commit(as: Handle(.data, id.hex))
        return (id, blobs)
    }

    /// Throws away a pack that will not be finished.
    package func discard() { object?.discard() }
}

/// A pack file: sealed blobs back to back, then the sealed header listing them, then the
/// header's sealed length as 4 little-endian bytes. Named by the SHA-256 of all its bytes.
package struct PackBuilder: Sendable {
    package private(set) var data = Data()
    package private(set) var blobs: [PackedBlob] = []

    package init(capacity: Int) { data.reserveCapacity(capacity) }

    package var isEmpty: Bool { blobs.isEmpty }
    package var count: Int { data.count }

    package mutating func append(id: BlobID, type: BlobType, sealed: Data, rawLength: Int, compressed: Bool) {
        blobs.append(PackedBlob(id: id, type: type, offset: UInt32(data.count), length: UInt32(sealed.count),
                                rawLength: UInt32(rawLength), compressed: compressed))
        data.append(sealed)
    }

    /// Seals the header onto the pack and returns its bytes and name.
    package mutating func finish(keys: MasterKeys) throws -> (id: BlobID, bytes: Data, blobs: [PackedBlob]) {
        let header = try keys.seal(Data(Self.encodeHeader(blobs)))
        data.append(header)
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { data.append(contentsOf: $0) }
        return (storageID(of: data), data, blobs)
    }

    static let headerMagic: [UInt8] = Array("LSPK1".utf8)

    static func encodeHeader(_ blobs: [PackedBlob]) -> [UInt8] {
        var w = BinaryWriter(capacity: 16 + blobs.count * 48)
        w.raw(headerMagic)
        w.varint(UInt64(blobs.count))
        for b in blobs {
            w.u8(b.type.rawValue)
            w.id(b.id)
            w.u32(b.offset)
            w.u32(b.length)
            w.u32(b.rawLength)
            w.u8(b.compressed ? 1 : 0)
        }
        return w.bytes
    }

    /// Reads the header of a whole pack (what `check --read-data` and repair use).
    package static func readHeader(_ packBytes: Data, keys: MasterKeys) throws -> [PackedBlob] {
        let pack = packBytes.startIndex == 0 ? packBytes : Data(packBytes)  // indices from zero
        guard pack.count >= 4 else { throw FormatError.truncated }
        let lengthBytes = Array(pack.suffix(4))
        let headerLength = Int(UInt32(lengthBytes[0]) | UInt32(lengthBytes[1]) << 8 | UInt32(lengthBytes[2]) << 16 | UInt32(lengthBytes[3]) << 24)
        guard headerLength + 4 <= pack.count else { throw FormatError.malformed("pack header length out of range") }
        let start = pack.count - 4 - headerLength
        let header = try keys.open(pack.subdata(in: start..<(pack.count - 4)))
        var r = BinaryReader(Array(header))
        guard Array(try r.take(headerMagic.count)) == headerMagic else { throw FormatError.malformed("not a pack header") }
        let count = try r.int()
        var blobs = [PackedBlob]()
        for _ in 0..<count {
            guard let type = BlobType(rawValue: try r.u8()) else { throw FormatError.malformed("unknown blob type") }
            let id = try r.id()
            let blob = PackedBlob(id: id, type: type, offset: try r.u32(), length: try r.u32(), rawLength: try r.u32(),
                                  compressed: try r.u8() == 1)
            guard Int(blob.offset) + Int(blob.length) <= start else { throw FormatError.malformed("blob outside pack") }
            blobs.append(blob)
        }
        return blobs
    }
}
