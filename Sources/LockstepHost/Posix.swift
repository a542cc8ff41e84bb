package import LockstepCore
import CHostShim
#if canImport(Glibc)
package import Glibc
#endif

/// Small helpers over the C calls: errors named by call and path, stat decoding, xattrs.
package enum Posix {
    package static func error(_ call: String, _ path: [UInt8], _ code: Int32 = errno) -> HostError {
        HostError(call: call, path: path.pathString, errno: code, reason: String(cString: strerror(code)))
    }

    package static func withCString<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (path + [0]).withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    package static func status(from st: stat) -> FileStatus {
        let type: FileType
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = .regular
        case S_IFDIR: type = .directory
        case S_IFLNK: type = .symlink
        case S_IFIFO: type = .fifo
        case S_IFCHR: type = .characterDevice
        case S_IFBLK: type = .blockDevice
        case S_IFSOCK: type = .socket
        default: type = .unknown
        }
        return FileStatus(
            type: type, mode: UInt32(st.st_mode) & 0o7777, uid: st.st_uid, gid: st.st_gid, size: Int64(st.st_size),
            allocated: Int64(st.st_blocks) * 512,
            mtime: Timestamp(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int32(st.st_mtim.tv_nsec)),
            ctime: Timestamp(seconds: Int64(st.st_ctim.tv_sec), nanoseconds: Int32(st.st_ctim.tv_nsec)),
            inode: UInt64(st.st_ino), device: UInt64(st.st_dev), links: UInt64(st.st_nlink), rdev: UInt64(st.st_rdev))
    }

    /// Every xattr of `path` (not following a symlink), sorted by name.
    package static func listXattrs(_ path: [UInt8]) throws -> [ExtendedAttribute] {
        try withCString(path) { cpath in
            var size = lockstep_llistxattr(cpath, nil, 0)
            if size < 0 {
                if errno == ENOTSUP || errno == ENODATA { return [] }
                throw error("llistxattr", path)
            }
            if size == 0 { return [] }
            var names = [CChar](repeating: 0, count: size)
            size = lockstep_llistxattr(cpath, &names, names.count)
            if size < 0 { throw error("llistxattr", path) }
            var out = [ExtendedAttribute]()
            var start = 0
            for i in 0..<size where names[i] == 0 {
                let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                start = i + 1
                var length = lockstep_lgetxattr(cpath, name, nil, 0)
                if length < 0 {
                    if errno == ENODATA { continue }
                    throw error("lgetxattr \(name)", path)
                }
                var value = [UInt8](repeating: 0, count: length)
                if length > 0 {
                    length = lockstep_lgetxattr(cpath, name, &value, value.count)
                    if length < 0 { throw error("lgetxattr \(name)", path) }
                    value.removeLast(value.count - length)
                }
                out.append(ExtendedAttribute(name: name, value: value))
            }
            return out.sorted { $0.name < $1.name }
        }
    }
}
