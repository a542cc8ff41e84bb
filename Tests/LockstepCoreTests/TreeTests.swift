import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("Tree")
struct TreeTests {
    static let allKinds: [NodeKind] = [.file, .directory, .symlink, .fifo, .characterDevice, .blockDevice]
    static let fileLength: Int = (1 << 20) + 4096 + 17 + (1 << 40)

    /// One node of every kind, with every field away from its default, and awkward names.
    static func sampleNodes() -> [Node] {
        let t = Timestamp(seconds: 1_700_000_123, nanoseconds: 999_999_999)
        return [
            Node(name: Array("file.txt".utf8), kind: .file, mode: 0o4755, uid: 1000, gid: 1000, user: "alice",
                 group: "staff", size: UInt64(fileLength), mtime: t,
                 ctime: Timestamp(seconds: 1_700_000_200, nanoseconds: 1), inode: 123_456, device: 2049, links: 2,
                 xattrs: [ExtendedAttribute(name: "system.posix_acl_access", value: [2, 0, 0, 0, 1, 0, 6, 0]),
                          ExtendedAttribute(name: "user.comment", value: Array("héllo".utf8)),
                          ExtendedAttribute(name: "user.empty", value: []),
                          ExtendedAttribute(name: "user.binary", value: [0, 0xff, 0x80, 0x0a])],
                 content: [.blob(testID(1), length: 1 << 20), .hole(length: 4096), .blob(testID(2), length: 17),
                           .hole(length: 1 << 40)]),
            Node(name: Array("dir".utf8), kind: .directory, mode: 0o1777, user: "root", group: "root",
                 mtime: Timestamp(seconds: -1_000_000_000, nanoseconds: 5), subtree: testID(3)),
            Node(name: Array("link".utf8), kind: .symlink, mode: 0o777, linkTarget: [0x2e, 0x2e, 0x2f, 0xff, 0xfe]),
            Node(name: Array("pipe".utf8), kind: .fifo, mode: 0o600, uid: UInt32.max, gid: UInt32.max - 1),
            Node(name: Array("tty".utf8), kind: .characterDevice, mode: 0o620, rdev: 0x0400_0001),
            Node(name: Array("sda".utf8), kind: .blockDevice, mode: 0o660, size: UInt64.max,
                 ctime: Timestamp(seconds: Int64.min, nanoseconds: Int32.max), inode: UInt64.max,
                 device: UInt64.max, links: UInt64.max, rdev: 0x0800_0000),
            // Not UTF-8 (Latin-1 "café", a lone continuation byte, 0xff), and a name with a newline.
            Node(name: [0x63, 0x61, 0x66, 0xe9], kind: .file, content: []),
            Node(name: [0x80], kind: .file, content: [.hole(length: 1)]),
            Node(name: [0xff, 0xfe, 0x00, 0x01], kind: .file, mtime: Timestamp(seconds: Int64.max, nanoseconds: 0)),
            Node(name: Array("a\nb".utf8), kind: .file),
            Node(name: Array("ab".utf8), kind: .file),
            Node(name: Array("a".utf8), kind: .directory, subtree: testID(4)),
        ]
    }

    @Test("every node kind round trips alone", arguments: allKinds)
    func kindRoundTrip(_ kind: NodeKind) throws {
        let node = try #require(Self.sampleNodes().first { $0.kind == kind })
        let tree = Tree(nodes: [node])
        #expect(try Tree.decode(tree.encode()) == tree)
    }

    @Test("a tree with every kind, xattrs, holes and non-UTF-8 names round trips")
    func roundTrip() throws {
        let tree = Tree(nodes: Self.sampleNodes())
        let decoded = try Tree.decode(tree.encode())
        #expect(decoded == tree)
        #expect(decoded.nodes.count == Self.sampleNodes().count)
        #expect(decoded.encode() == tree.encode())
        let file = try #require(decoded.node(named: Array("file.txt".utf8)))
        #expect(file.xattrs.count == 4)
        #expect(file.content.count == 4)
        let length = file.content.reduce(0) { $0 + $1.length }
        #expect(length == Self.fileLength)
        #expect(decoded.node(named: [0x63, 0x61, 0x66, 0xe9])?.kind == .file)
    }

    @Test("the empty tree round trips")
    func empty() throws {
        let tree = Tree(nodes: [])
        #expect(tree.encode() == Array("LSTR1".utf8) + [0])
        #expect(try Tree.decode(tree.encode()) == tree)
    }

    @Test("encoding is deterministic: the same nodes in any order give the same bytes")
    func deterministic() {
        let nodes = Self.sampleNodes()
        let reference = Tree(nodes: nodes).encode()
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<20 {
            #expect(Tree(nodes: nodes.shuffled(using: &rng)).encode() == reference)
        }
        #expect(Tree(nodes: nodes.reversed()).encode() == reference)
    }

    @Test("nodes are sorted by their raw name bytes")
    func sorted() {
        let tree = Tree(nodes: Self.sampleNodes())
        let names = tree.nodes.map(\.name)
        #expect(names == names.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(names.first == Array("a".utf8))
        #expect(names.last == [0xff, 0xfe, 0x00, 0x01])
    }

    @Test("Bytes.precede orders names as lexicographicallyPrecedes does: unsigned bytes, a prefix first")
    func bytewiseOrder() {
        var names: [[UInt8]] = [[], [0], [0, 0], [0x7f], [0x80], [0xff], [0xff, 0], Array("a".utf8), Array("ab".utf8), Array("b".utf8)]
        for seed in 0..<200 as Range<UInt64> {
            let bytes = pseudoRandomBytes(1 + Int(seed % 5), seed: seed)
            names.append(bytes.map { $0 % 4 })  // a small alphabet: many shared prefixes
        }
        for a in names {
            for b in names {
                #expect(Bytes.precede(a, b) == a.lexicographicallyPrecedes(b), "\(a) \(b)")
            }
        }
    }

    @Test("node(named:) finds every node and nothing else")
    func lookup() throws {
        let tree = Tree(nodes: Self.sampleNodes())
        for node in Self.sampleNodes() {
            #expect(tree.node(named: node.name) == node)
        }
        for missing: [UInt8] in [[], Array("A".utf8), Array("a\n".utf8), Array("abc".utf8), Array("file".utf8),
                                 [0xff], [0xff, 0xff], [0x00], [0x63, 0x61, 0x66]] {
            #expect(tree.node(named: missing) == nil, "found \(missing)")
        }
        #expect(Tree(nodes: []).node(named: Array("a".utf8)) == nil)
    }

    @Test("damaged encodings throw instead of decoding")
    func damaged() throws {
        let bytes = Tree(nodes: Self.sampleNodes()).encode()
        for length in 0..<bytes.count {
            #expect(throws: FormatError.self, "prefix of \(length)") { try Tree.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: FormatError.malformed("trailing bytes after tree")) { try Tree.decode(bytes + [0]) }
        var badMagic = bytes
        badMagic[0] = UInt8(ascii: "X")
        #expect(throws: FormatError.malformed("not a tree")) { try Tree.decode(badMagic) }
        // One node named "x" of kind 9.
        var w = BinaryWriter()
        w.raw(Array("LSTR1".utf8))
        w.varint(1)
        w.lengthPrefixed(Array("x".utf8))
        w.u8(9)
        #expect(throws: FormatError.malformed("unknown node kind")) { try Tree.decode(w.bytes) }
    }

    @Test("modeString renders setuid, setgid and sticky bits like ls")
    func modeString() {
        #expect(Node(name: [], kind: .file, mode: 0o4755).modeString == "-rwsr-xr-x")
        #expect(Node(name: [], kind: .directory, mode: 0o3775).modeString == "drwxrwsr-t")
        #expect(Node(name: [], kind: .file, mode: 0o7644).modeString == "-rwSr-Sr-T")
        #expect(Node(name: [], kind: .symlink, mode: 0o777).modeString == "lrwxrwxrwx")
    }
}

/// A small deterministic generator (splitmix64) for shuffles.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
