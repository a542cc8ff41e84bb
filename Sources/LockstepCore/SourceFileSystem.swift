/// The type of a file system entry as `lstat` reports it.
package enum FileType: Sendable, Equatable {
    case regular, directory, symlink, fifo, characterDevice, blockDevice, socket, unknown

    package var nodeKind: NodeKind? {
        switch self {
        case .regular: .file
        case .directory: .directory
        case .symlink: .symlink
        case .fifo: .fifo
        case .characterDevice: .characterDevice
        case .blockDevice: .blockDevice
        case .socket, .unknown: nil
        }
    }
}

/// What `lstat`/`fstat` say about an entry.
package struct FileStatus: Sendable, Equatable {
    package var type: FileType
    package var mode: UInt32
    package var uid: UInt32
    package var gid: UInt32
    package var size: Int64
    /// Bytes allocated on disk; fewer than `size` suggests holes.
    package var allocated: Int64
    package var mtime: Timestamp
    package var ctime: Timestamp
    package var inode: UInt64
    package var device: UInt64
    package var links: UInt64
    package var rdev: UInt64

    package init(type: FileType, mode: UInt32, uid: UInt32, gid: UInt32, size: Int64, allocated: Int64,
                 mtime: Timestamp, ctime: Timestamp, inode: UInt64, device: UInt64, links: UInt64, rdev: UInt64) {
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.allocated = allocated
        self.mtime = mtime
        self.ctime = ctime
        self.inode = inode
        self.device = device
        self.links = links
        self.rdev = rdev
    }

    /// Whether content may have changed between two observations of the same file.
    package func contentMayDiffer(from other: FileStatus) -> Bool {
        size != other.size || mtime != other.mtime || ctime != other.ctime || inode != other.inode
    }
}

/// Read access to the tree being backed up. Paths are raw bytes (names need not be UTF-8).
/// Errors thrown are `HostError`s naming the path and the failing call.
package protocol SourceFileSystem: Sendable {
    /// `lstat`: never follows a final symlink.
    func status(_ path: [UInt8]) throws -> FileStatus
    /// Entry names of a directory, without `.` and `..`, in no particular order.
    func directoryEntries(_ path: [UInt8]) throws -> [[UInt8]]
    func readLink(_ path: [UInt8]) throws -> [UInt8]
    /// Every extended attribute (including POSIX ACLs), sorted by name; never follows a symlink.
    func extendedAttributes(_ path: [UInt8]) throws -> [ExtendedAttribute]
    func userName(_ uid: UInt32) -> String
    func groupName(_ gid: UInt32) -> String
    /// Opens a regular file for reading without following a symlink.
    func open(_ path: [UInt8]) throws -> any SourceFile
    /// Opens a directory for listing; its entries are then examined relative to it.
    func openDirectory(_ path: [UInt8]) throws -> any SourceDirectory
}

/// A directory being listed. The walk examines thousands of entries per second through it:
/// relative to an open directory, `lstat` of an entry does not walk the whole path again.
/// Used by one thread at a time; errors name the entry's full path.
package protocol SourceDirectory: AnyObject {
    /// Entry names, without `.` and `..`, in no particular order.
    func entries() throws -> [[UInt8]]
    /// `lstat` of an entry.
    func status(_ name: [UInt8]) throws -> FileStatus
    func readLink(_ name: [UInt8]) throws -> [UInt8]
    /// Every extended attribute of an entry (including POSIX ACLs), sorted by name; never
    /// follows a symlink.
    func extendedAttributes(_ name: [UInt8]) throws -> [ExtendedAttribute]
    func close()
}

package extension SourceFileSystem {
    /// By path: every call on an entry resolves its whole path.
    func openDirectory(_ path: [UInt8]) throws -> any SourceDirectory { PathDirectory(fs: self, path: path) }
}

/// A directory examined by full paths, for file systems without a faster way.
private final class PathDirectory: SourceDirectory {
    private let fs: any SourceFileSystem
    private let path: [UInt8]

    init(fs: any SourceFileSystem, path: [UInt8]) {
        self.fs = fs
        self.path = path
    }

    func entries() throws -> [[UInt8]] { try fs.directoryEntries(path) }
    func status(_ name: [UInt8]) throws -> FileStatus { try fs.status(path.appendingPathComponent(name)) }
    func readLink(_ name: [UInt8]) throws -> [UInt8] { try fs.readLink(path.appendingPathComponent(name)) }
    func extendedAttributes(_ name: [UInt8]) throws -> [ExtendedAttribute] {
        try fs.extendedAttributes(path.appendingPathComponent(name))
    }
    func close() {}
}

/// An open regular file. Used by one thread at a time.
package protocol SourceFile: AnyObject {
    func status() throws -> FileStatus
    /// The ranges holding data; the rest up to `size` are holes. A file without holes is one range.
    func dataRegions(size: Int64) throws -> [Range<Int64>]
    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    func close()
}

/// A failed system call on a path.
package struct HostError: Error, CustomStringConvertible, Sendable {
    package var call: String
    package var path: String
    package var errno: Int32
    package var reason: String

    package init(call: String, path: String, errno: Int32, reason: String) {
        self.call = call
        self.path = path
        self.errno = errno
        self.reason = reason
    }

    package var description: String { "\(call) \(path): \(reason)" }
}

package extension Array where Element == UInt8 {
    /// `self` + "/" + `name`, treating "/" as the root.
    func appendingPathComponent(_ name: [UInt8]) -> [UInt8] {
        var out = self
        if out.last != UInt8(ascii: "/") { out.append(UInt8(ascii: "/")) }
        out.append(contentsOf: name)
        return out
    }

    var pathString: String { String(decoding: self, as: UTF8.self) }
}
