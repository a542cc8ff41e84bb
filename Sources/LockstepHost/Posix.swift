package import LockstepCore
import CHostShim
import Synchronization
#if canImport(Glibc)
package import Glibc
#endif

/// Small helpers over the C calls: errors named by call and path, stat decoding, xattrs.
package enum Posix {
    package static func error(_ call: String, _ path: [UInt8], _ code: Int32 = errno) -> HostError {
        HostError(call: call, path: path.pathString, errno: code, reason: String(cString: strerror(code)))
    }

    package static func withCString<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        // On the stack, not a new array: called for every entry a walk or a restore touches.
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: path.count + 1) { buf in
            path.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
            buf[path.count] = 0
            return try body(buf.baseAddress!)
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
            try readXattrs(shown: path, list: { lockstep_llistxattr(cpath, $0, $1) },
                           get: { lockstep_lgetxattr(cpath, $0, $1, $2) })
        }
    }

    /// Set once the kernel says it lacks listxattrat/getxattrat (before 6.13).
    private static let xattrAtMissing = Atomic(false)

    /// Every xattr of the entry `name` of the open directory `dirFD` (not following a symlink),
    /// sorted by name; by its full `path` on kernels without listxattrat.
    package static func listXattrs(at dirFD: Int32, _ name: [UInt8], path: @autoclosure () -> [UInt8]) throws -> [ExtendedAttribute] {
        if !xattrAtMissing.load(ordering: .relaxed) {
            do {
                return try withCString(name) { cname in
                    try readXattrs(shown: path(), list: { lockstep_llistxattrat(dirFD, cname, $0, $1) },
                                   get: { lockstep_lgetxattrat(dirFD, cname, $0, $1, $2) })
                }
            } catch let error as HostError where error.errno == ENOSYS || error.errno == EPERM {
                // Missing, or refused by a seccomp filter that predates them (EPERM): when the
                // call by path works, the relative calls are not tried again.
                let attributes = try listXattrs(path())
                xattrAtMissing.store(true, ordering: .relaxed)
                return attributes
            }
        }
        return try listXattrs(path())
    }

    private static func readXattrs(shown path: @autoclosure () -> [UInt8], list: (UnsafeMutablePointer<CChar>?, Int) -> Int,
                                   get: (String, UnsafeMutableRawPointer?, Int) -> Int) throws -> [ExtendedAttribute] {
        func failed(_ call: String) -> HostError {
            let code = errno
            return error(call, path(), code)
        }
        var size = list(nil, 0)
        if size < 0 {
            if errno == ENOTSUP || errno == ENODATA { return [] }
            throw failed("llistxattr")
        }
        if size == 0 { return [] }
        var names = [CChar](repeating: 0, count: size)
        size = names.withUnsafeMutableBufferPointer { list($0.baseAddress, $0.count) }
        if size < 0 { throw failed("llistxattr") }
        var out = [ExtendedAttribute]()
        var start = 0
        for i in 0..<size where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            var length = get(name, nil, 0)
            if length < 0 {
                if errno == ENODATA { continue }
                throw failed("lgetxattr \(name)")
            }
            var value = [UInt8](repeating: 0, count: length)
            if length > 0 {
                length = value.withUnsafeMutableBytes { get(name, $0.baseAddress, $0.count) }
                if length < 0 { throw failed("lgetxattr \(name)") }
                value.removeLast(value.count - length)
            }
            out.append(ExtendedAttribute(name: name, value: value))
        }
        return out.sorted { $0.name < $1.name }
    }
}
