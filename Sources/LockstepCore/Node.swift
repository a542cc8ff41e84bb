import Foundation

/// The kind of a file system entry. Sockets are never stored (skipped and reported).
package enum NodeKind: UInt8, Sendable, Codable {
    case file = 0, directory = 1, symlink = 2, fifo = 3, characterDevice = 4, blockDevice = 5

    package var letter: Character {
        switch self {
        case .file: "-"
        case .directory: "d"
        case .symlink: "l"
        case .fifo: "p"
        case .characterDevice: "c"
        case .blockDevice: "b"
        }
    }
}

/// A piece of a regular file's content: a stored blob of `length` bytes, or a hole.
package enum ContentPiece: Sendable, Equatable {
    case blob(BlobID, length: Int)
    case hole(length: Int)

    package var length: Int {
        switch self {
        case .blob(_, let length), .hole(let length): length
        }
    }
}

/// A time with nanoseconds, as the file system keeps it.
package struct Timestamp: Sendable, Hashable, Codable {
    package var seconds: Int64
    package var nanoseconds: Int32

    package init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// One extended attribute (POSIX ACLs are the `system.posix_acl_*` attributes).
package struct ExtendedAttribute: Sendable, Equatable {
    package var name: String
    package var value: [UInt8]

    package init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// A directory entry with its full metadata. `name` is raw bytes: file names need not be UTF-8.
package struct Node: Sendable, Equatable {
    package var name: [UInt8]
    package var kind: NodeKind
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    package var mode: UInt32
    package var uid: UInt32
    package var gid: UInt32
    package var user: String
    package var group: String
    package var size: UInt64
    package var mtime: Timestamp
    /// Change time, inode, device and link count: change detection and hard links, not restored.
    package var ctime: Timestamp
    package var inode: UInt64
    package var device: UInt64
    package var links: UInt64
    /// Device number of a character or block device.
    package var rdev: UInt64
    /// A symlink's target, verbatim.
    package var linkTarget: [UInt8]
    /// Sorted by name.
    package var xattrs: [ExtendedAttribute]
    package var content: [ContentPiece]
    /// A directory's tree blob.
    package var subtree: BlobID?

    package init(name: [UInt8], kind: NodeKind, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0,
                 user: String = "", group: String = "", size: UInt64 = 0,
                 mtime: Timestamp = Timestamp(seconds: 0, nanoseconds: 0),
                 ctime: Timestamp = Timestamp(seconds: 0, nanoseconds: 0),
                 inode: UInt64 = 0, device: UInt64 = 0, links: UInt64 = 1, rdev: UInt64 = 0,
                 linkTarget: [UInt8] = [], xattrs: [ExtendedAttribute] = [], content: [ContentPiece] = [],
                 subtree: BlobID? = nil) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.user = user
        self.group = group
        self.size = size
        self.mtime = mtime
        self.ctime = ctime
        self.inode = inode
        self.device = device
        self.links = links
        self.rdev = rdev
        self.linkTarget = linkTarget
        self.xattrs = xattrs
        self.content = content
        self.subtree = subtree
    }

    package var displayName: String { String(decoding: name, as: UTF8.self) }

    /// True when two captures of a file may be treated as the same content without reading it:
    /// nothing that a write would change differs.
    package func sameFileMetadata(as other: Node) -> Bool {
        kind == other.kind && size == other.size && mtime == other.mtime && ctime == other.ctime
            && inode == other.inode && mode == other.mode && uid == other.uid && gid == other.gid
    }

    /// `ls -l` style mode string, e.g. `drwxr-sr-t`.
    package var modeString: String {
        var s = String(kind.letter)
        let bits: [(UInt32, Character)] = [(0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"),
                                           (0o010, "x"), (0o004, "r"), (0o002, "w"), (0o001, "x")]
        for (i, (bit, ch)) in bits.enumerated() {
            var c: Character = mode & bit != 0 ? ch : "-"
            if i == 2, mode & 0o4000 != 0 { c = c == "x" ? "s" : "S" }
            if i == 5, mode & 0o2000 != 0 { c = c == "x" ? "s" : "S" }
            if i == 8, mode & 0o1000 != 0 { c = c == "x" ? "t" : "T" }
            s.append(c)
        }
        return s
    }
}
