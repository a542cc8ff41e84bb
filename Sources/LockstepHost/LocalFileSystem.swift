package import LockstepCore
import CHostShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The host's file system as a backup source: lstat, readdir, readlink, xattrs (ACLs included),
/// and files opened with O_NOFOLLOW (and lockstep_O_NOATIME where permitted).
package final class LocalFileSystem: SourceFileSystem {
    private let users = Mutex<[UInt32: String]>([:])
    private let groups = Mutex<[UInt32: String]>([:])

    package init() {}

    package func status(_ path: [UInt8]) throws -> FileStatus {
        var st = stat()
        let rc = Posix.withCString(path) { lstat($0, &st) }
        guard rc == 0 else { throw Posix.error("lstat", path) }
        return Posix.status(from: st)
    }

    package func directoryEntries(_ path: [UInt8]) throws -> [[UInt8]] {
        let directory = try openDirectory(path)
        defer { directory.close() }
        return try directory.entries()
    }

    package func openDirectory(_ path: [UInt8]) throws -> any SourceDirectory {
        let fd = Posix.withCString(path) { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw Posix.error("opendir", path) }
        return LocalDirectory(fd: fd, path: path)
    }

    package func readLink(_ path: [UInt8]) throws -> [UInt8] {
        try Self.readLink(at: AT_FDCWD, path, shown: path)
    }

    /// `readlinkat`; errors name `shown`.
    fileprivate static func readLink(at dirFD: Int32, _ name: [UInt8], shown: @autoclosure () -> [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = Posix.withCString(name) { cname in
            buffer.withUnsafeMutableBytes { readlinkat(dirFD, cname, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) }
        }
        guard n >= 0 else {
            let code = errno
            throw Posix.error("readlink", shown(), code)
        }
        return Array(buffer[0..<n])
    }

    package func extendedAttributes(_ path: [UInt8]) throws -> [ExtendedAttribute] {
        try Posix.listXattrs(path)
    }

    package func userName(_ uid: UInt32) -> String {
        if let known = users.withLock({ $0[uid] }) { return known }
        var name = ""
        if let pw = getpwuid(uid) { name = String(cString: pw.pointee.pw_name) }
        users.withLock { $0[uid] = name }
        return name
    }

    package func groupName(_ gid: UInt32) -> String {
        if let known = groups.withLock({ $0[gid] }) { return known }
        var name = ""
        if let gr = getgrgid(gid) { name = String(cString: gr.pointee.gr_name) }
        groups.withLock { $0[gid] = name }
        return name
    }

    package func open(_ path: [UInt8]) throws -> any SourceFile {
        var fd = Posix.withCString(path) { Glibc.open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | lockstep_O_NOATIME | O_NONBLOCK) }
        if fd < 0 && errno == EPERM {
            fd = Posix.withCString(path) { Glibc.open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        }
        guard fd >= 0 else { throw Posix.error("open", path) }
        return LocalSourceFile(fd: fd, path: path)
    }
}

/// A directory open by descriptor: entries are examined with `fstatat`/`readlinkat` relative to it.
final class LocalDirectory: SourceDirectory {
    private var fd: Int32
    private let path: [UInt8]

    init(fd: Int32, path: [UInt8]) {
        self.fd = fd
        self.path = path
    }

    deinit { close() }

    func entries() throws -> [[UInt8]] {
        try Self.entries(of: fd, path: path)
    }

    /// The names in an open directory, "." and ".." left out, read with getdents64 from the
    /// descriptor's position (a fresh descriptor: all of them), which it leaves at the end. No
    /// duplicate descriptor and `DIR` stream as with readdir: three system calls per directory fewer.
    /// Errors name `path`.
    static func entries(of fd: Int32, path: @autoclosure () -> [UInt8]) throws -> [[UInt8]] {
        var out = [[UInt8]]()
        try withUnsafeTemporaryAllocation(byteCount: 32 * 1024, alignment: 8) { buffer in
            while true {
                let n = lockstep_getdents64(fd, buffer.baseAddress, buffer.count)
                if n == 0 { return }
                guard n > 0 else { throw Posix.error("readdir", path()) }
                var offset = 0
                while offset < n {
                    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
                    let record = buffer.baseAddress! + offset
                    let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                    let name = UnsafeRawBufferPointer(start: UnsafeRawPointer(record + 19), count: length - 19)
                    let count = name.firstIndex(of: 0) ?? name.count
                    if !(count == 1 && name[0] == 46) && !(count == 2 && name[0] == 46 && name[1] == 46) {
                        out.append(Array(name[0..<count]))
                    }
                    offset += length
                }
            }
        }
        return out
    }

    func status(_ name: [UInt8]) throws -> FileStatus {
        var st = stat()
        let rc = Posix.withCString(name) { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }
        guard rc == 0 else {
            let code = errno
            throw Posix.error("lstat", path.appendingPathComponent(name), code)
        }
        return Posix.status(from: st)
    }

    func readLink(_ name: [UInt8]) throws -> [UInt8] {
        try LocalFileSystem.readLink(at: fd, name, shown: path.appendingPathComponent(name))
    }

    func extendedAttributes(_ name: [UInt8]) throws -> [ExtendedAttribute] {
        try Posix.listXattrs(at: fd, name, path: path.appendingPathComponent(name))
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

final class LocalSourceFile: SourceFile {
    private var fd: Int32
    private let path: [UInt8]

    init(fd: Int32, path: [UInt8]) {
        self.fd = fd
        self.path = path
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    func status() throws -> FileStatus {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Posix.error("fstat", path) }
        return Posix.status(from: st)
    }

    func dataRegions(size: Int64) throws -> [Range<Int64>] {
        var regions = [Range<Int64>]()
        var offset: Int64 = 0
        while offset < size {
            let data = lseek(fd, off_t(offset), lockstep_SEEK_DATA)
            if data < 0 {
                if errno == ENXIO { break }  // only a hole remains
                if errno == EINVAL || errno == ENOTSUP { return [0..<size] }
                throw Posix.error("lseek", path)
            }
            if Int64(data) >= size { break }
            var hole = Int64(lseek(fd, data, lockstep_SEEK_HOLE))
            if hole < 0 { hole = size }
            hole = min(hole, size)
            regions.append(Int64(data)..<hole)
            offset = hole
        }
        return regions
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw Posix.error("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
