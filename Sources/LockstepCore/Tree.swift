import Foundation

/// A directory's entries, sorted by name and deterministically encoded, stored as a tree blob:
/// the same directory always encodes to the same bytes, so an unchanged directory is stored once.
package struct Tree: Sendable, Equatable {
    package var nodes: [Node]

    package init(nodes: [Node]) { self.nodes = nodes.sorted { Bytes.precede($0.name, $1.name) } }

    static let magic: [UInt8] = Array("LSTR1".utf8)

    package func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 64 + nodes.count * 128)
        w.raw(Self.magic)
        w.varint(UInt64(nodes.count))
        for n in nodes {
            w.lengthPrefixed(n.name)
            w.u8(n.kind.rawValue)
            w.varint(UInt64(n.mode))
            w.varint(UInt64(n.uid))
            w.varint(UInt64(n.gid))
            w.string(n.user)
            w.string(n.group)
            w.varint(n.size)
            w.svarint(n.mtime.seconds)
            w.varint(UInt64(UInt32(bitPattern: n.mtime.nanoseconds)))
            w.svarint(n.ctime.seconds)
            w.varint(UInt64(UInt32(bitPattern: n.ctime.nanoseconds)))
            w.varint(n.inode)
            w.varint(n.device)
            w.varint(n.links)
            w.varint(n.rdev)
            w.lengthPrefixed(n.linkTarget)
            w.varint(UInt64(n.xattrs.count))
            for x in n.xattrs {
                w.string(x.name)
                w.lengthPrefixed(x.value)
            }
            w.varint(UInt64(n.content.count))
            for piece in n.content {
                switch piece {
                case .blob(let id, let length):
                    w.u8(0)
                    w.varint(UInt64(length))
                    w.id(id)
                case .hole(let length):
                    w.u8(1)
                    w.varint(UInt64(length))
                }
            }
            if let subtree = n.subtree {
                w.u8(1)
                w.id(subtree)
            } else {
                w.u8(0)
            }
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws -> Tree {
        var r = BinaryReader(bytes)
        guard Array(try r.take(magic.count)) == magic else { throw FormatError.malformed("not a tree") }
        let count = try r.int()
        var nodes = [Node]()
        nodes.reserveCapacity(min(count, 1 << 16))
        for _ in 0..<count {
            let name = try r.lengthPrefixed()
            guard let kind = NodeKind(rawValue: try r.u8()) else { throw FormatError.malformed("unknown node kind") }
            var n = Node(name: name, kind: kind)
            n.mode = UInt32(truncatingIfNeeded: try r.varint())
            n.uid = UInt32(truncatingIfNeeded: try r.varint())
            n.gid = UInt32(truncatingIfNeeded: try r.varint())
            n.user = try r.string()
            n.group = try r.string()
            n.size = try r.varint()
            n.mtime = Timestamp(seconds: try r.svarint(), nanoseconds: Int32(bitPattern: UInt32(truncatingIfNeeded: try r.varint())))
            n.ctime = Timestamp(seconds: try r.svarint(), nanoseconds: Int32(bitPattern: UInt32(truncatingIfNeeded: try r.varint())))
            n.inode = try r.varint()
            n.device = try r.varint()
            n.links = try r.varint()
            n.rdev = try r.varint()
            n.linkTarget = try r.lengthPrefixed()
            let xattrCount = try r.int()
            for _ in 0..<xattrCount {
                n.xattrs.append(ExtendedAttribute(name: try r.string(), value: try r.lengthPrefixed()))
            }
            let pieces = try r.int()
            n.content.reserveCapacity(min(pieces, 1 << 16))
            for _ in 0..<pieces {
                switch try r.u8() {
                case 0:
                    let length = try r.int()
                    n.content.append(.blob(try r.id(), length: length))
                case 1: n.content.append(.hole(length: try r.int()))
                default: throw FormatError.malformed("unknown content piece")
                }
            }
            if try r.u8() == 1 { n.subtree = try r.id() }
            if let last = nodes.last, !Bytes.precede(last.name, n.name), last.name != n.name {
                throw FormatError.malformed("tree nodes are not sorted")
            }
            nodes.append(n)
        }
        guard r.isAtEnd else { throw FormatError.malformed("trailing bytes after tree") }
        return Tree(decodedSorted: nodes)
    }

    private init(decodedSorted nodes: [Node]) { self.nodes = nodes }

    package func node(named name: [UInt8]) -> Node? {
        // Nodes are sorted: binary search.
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Bytes.precede(nodes[mid].name, name) { lo = mid + 1 } else { hi = mid }
        }
        return lo < nodes.count && nodes[lo].name == name ? nodes[lo] : nil
    }
}
