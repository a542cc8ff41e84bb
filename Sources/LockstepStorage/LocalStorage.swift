package import Foundation
import Synchronization
import LockstepHost
package import LockstepCore
#if canImport(Glibc)
import Glibc
#endif

/// A repository in a local directory: `config`, `keys/`, `data/XX/` (packs spread over 256
/// folders by their first two hex digits), `index/`, `snapshots/`, `locks/`.
/// Saves write a temporary file, fsync it, rename it into place and fsync the folder, so an
/// object is either absent or complete, whatever happens to the process or the machine.
package struct LocalStorage: Storage {
    package let root: String
    /// Open pack files kept for ranged loads (restore and check read many blobs per pack).
    private let packFiles = DescriptorCache(capacity: 64)
    /// Writes packs in the background while the backup goes on (8 buffers of 256 KiB at most).
    private let writeBehind = WriteBehind()

    package init(path: String) { self.root = path }

    package var location: String { root }

    fileprivate func folder(_ handle: Handle) -> String {
        switch handle.kind {
        case .config: root
        case .data: "\(root)/data/\(handle.name.prefix(2))"
        default: "\(root)/\(handle.kind.rawValue)"
        }
    }

    private func path(_ handle: Handle) -> String { "\(folder(handle))/\(handle.name)" }

    fileprivate func fail(_ call: String, _ handle: Handle?, _ code: Int32 = errno) -> StorageError {
        let kind: StorageErrorKind = code == ENOENT ? .notFound : (code == EINTR || code == EAGAIN ? .transient : .permanent)
        return StorageError(kind, handle, "\(call): \(String(cString: strerror(code)))")
    }

    package func save(_ handle: Handle, _ data: Data) throws {
        let dir = folder(handle)
        if handle.kind != .locks, handle.kind != .config, access(path(handle), F_OK) == 0 {
            // Content-addressed: an object of this name already holds these bytes.
            return
        }
        try makeDirectories(dir)
        let temp = "\(dir)/.tmp-\(handle.name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("create \(temp)", handle) }
        do {
            try data.withUnsafeBytes { try writeAll(fd, $0, handle) }
        } catch {
            Glibc.close(fd)
            unlink(temp)
            throw error
        }
        try install(temp: temp, fd: fd, as: handle)
    }

    /// A pack written straight into a temporary file under `data/`, renamed into place on commit.
    package func beginObject() throws -> any PendingObject {
        let dir = "\(root)/data"
        try makeDirectories(dir)
        let temp = "\(dir)/.tmp-pack-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | DirectWriter.openFlag, 0o600)
        var writer: DirectWriter?
        if fd >= 0 {
            writer = DirectWriter(fd: fd, behind: writeBehind)
        } else if errno == EINVAL {  // a file system without O_DIRECT (tmpfs)
            fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw fail("create \(temp)", nil) }
        return LocalPendingObject(storage: self, fd: fd, temp: temp, writer: writer)
    }

    fileprivate func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, _ handle: Handle?) throws {
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write", handle)
            }
            done += n
        }
    }

    /// Makes a written temporary file the object `handle` (its folder exists): fsync, rename
    /// (link for `config`, which is never replaced), fsync the folder. Closes `fd`; removes
    /// `temp` on failure.
    fileprivate func install(temp: String, fd: Int32, as handle: Handle) throws {
        let dir = folder(handle)
        let final = path(handle)
        var ok = false
        defer {
            Glibc.close(fd)
            if !ok { unlink(temp) }
        }
        guard fsync(fd) == 0 else { throw fail("fsync", handle) }
        if handle.kind == .config {
            // The config marks a repository: never replace one (two `init`s racing).
            guard link(temp, final) == 0 else {
                if errno == EEXIST { throw StorageError(.permanent, handle, "already exists") }
                throw fail("link", handle)
            }
            unlink(temp)
        } else {
            guard rename(temp, final) == 0 else { throw fail("rename", handle) }
        }
        ok = true
        guard syncFolder(dir) else { throw fail("fsync \(dir)", handle) }
    }

    /// Creates a folder and its missing parents, fsyncing each parent so the new entry is durable.
    fileprivate func makeDirectories(_ dir: String) throws {
        let parent = (dir as NSString).deletingLastPathComponent
        if mkdir(dir, 0o700) == 0 {
            syncFolder(parent)
            return
        }
        if errno == EEXIST { return }
        if errno == ENOENT, parent != dir {
            try makeDirectories(parent)
            if mkdir(dir, 0o700) == 0 {
                syncFolder(parent)
                return
            }
            if errno == EEXIST { return }
        }
        throw fail("mkdir \(dir)", nil)
    }

    @discardableResult
    private func syncFolder(_ dir: String) -> Bool {
        let fd = Glibc.open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return fsync(fd) == 0
    }

    /// An open descriptor of the object; packs' are kept (`packFiles`) for the next read.
    private func descriptor(_ handle: Handle) throws -> Descriptor {
        if handle.kind == .data, let cached = packFiles.get(handle.name) { return cached }
        let opened = Glibc.open(path(handle), O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { throw fail("open", handle) }
        let descriptor = Descriptor(opened)
        if handle.kind == .data { packFiles.put(handle.name, descriptor) }
        return descriptor
    }

    package func load(_ handle: Handle, offset: Int, length: Int?) throws -> Data {
        let descriptor = try descriptor(handle)
        let fd = descriptor.fd
        let count: Int
        if let length {
            count = length
        } else {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw fail("fstat", handle) }
            guard offset <= Int(st.st_size) else {
                throw StorageError(.permanent, handle, "offset \(offset) is past the end (\(st.st_size) bytes)")
            }
            count = Int(st.st_size) - offset
        }
        var data = Data(count: count)
        let got = try data.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("read", handle)
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        guard got == count else {
            throw StorageError(.permanent, handle, "short read: wanted \(count) bytes at \(offset), got \(got)")
        }
        return data
    }

    /// Starts the kernel reading the whole file into the page cache (POSIX_FADV_WILLNEED
    /// returns at once; the reads proceed while the caller works).
    package func prefetch(_ handle: Handle) {
        let fd = Glibc.open(path(handle), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED)
        Glibc.close(fd)
    }

    package func size(_ handle: Handle) throws -> Int {
        var st = stat()
        guard stat(path(handle), &st) == 0 else { throw fail("stat", handle) }
        return Int(st.st_size)
    }

    package func list(_ kind: ObjectKind) throws -> [String] {
        switch kind {
        case .config:
            return access("\(root)/config", F_OK) == 0 ? ["config"] : []
        case .data:
            var out = [String]()
            for sub in try entries("\(root)/data") where sub.count == 2 {
                out += try entries("\(root)/data/\(sub)").filter { !$0.hasPrefix(".") }
            }
            return out
        default:
            return try entries("\(root)/\(kind.rawValue)").filter { !$0.hasPrefix(".") }
        }
    }

    private func entries(_ dir: String) throws -> [String] {
        guard let d = opendir(dir) else {
            if errno == ENOENT { return [] }
            throw fail("opendir \(dir)", nil)
        }
        defer { closedir(d) }
        var out = [String]()
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    package func remove(_ handle: Handle) throws {
        if handle.kind == .data { packFiles.drop(handle.name) }
        guard unlink(path(handle)) == 0 else { throw fail("remove", handle) }
    }

    package func exists() throws -> Bool {
        access("\(root)/config", F_OK) == 0
    }
}

/// An open file descriptor, closed when the last user lets go of it.
final class Descriptor: Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }
}

/// A small bounded cache of open descriptors; the oldest is let go when it is full.
final class DescriptorCache: Sendable {
    private struct State {
        var entries: [String: Descriptor] = [:]
        var order: [String] = []
    }
    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    func get(_ name: String) -> Descriptor? { state.withLock { $0.entries[name] } }

    func put(_ name: String, _ descriptor: Descriptor) {
        state.withLock { s in
            guard s.entries[name] == nil else { return }
            s.entries[name] = descriptor
            s.order.append(name)
            if s.order.count > capacity { s.entries.removeValue(forKey: s.order.removeFirst()) }
        }
    }

    func drop(_ name: String) {
        state.withLock { s in
            s.entries.removeValue(forKey: name)
            s.order.removeAll { $0 == name }
        }
    }
}

/// A pack being written to a temporary file of a `LocalStorage`: through a `DirectWriter`
/// writing in the background where the file system takes O_DIRECT, else through the page cache.
private final class LocalPendingObject: PendingObject, @unchecked Sendable {
    private let storage: LocalStorage
    private let fd: Int32
    private let temp: String
    private let writer: DirectWriter?
    /// Used by one thread at a time (the repository's writer lock); guards against a double end.
    private let ended = Mutex(false)

    init(storage: LocalStorage, fd: Int32, temp: String, writer: DirectWriter?) {
        self.storage = storage
        self.fd = fd
        self.temp = temp
        self.writer = writer
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let writer else { return try storage.writeAll(fd, bytes, nil) }
        let code = writer.append(bytes)
        if code != 0 { throw storage.fail("write", nil, code) }
    }

    func commit(as handle: Handle) throws {
        guard ended.withLock({ e in defer { e = true }; return !e }) else { return }
        do {
            if let writer {
                let code = writer.finish()
                if code != 0 { throw storage.fail("write", handle, code) }
                guard ftruncate(fd, off_t(writer.length)) == 0 else { throw storage.fail("ftruncate", handle) }
            }
            try storage.makeDirectories(storage.folder(handle))
        } catch {
            Glibc.close(fd)
            unlink(temp)
            throw error
        }
        try storage.install(temp: temp, fd: fd, as: handle)
    }

    func discard() {
        guard ended.withLock({ e in defer { e = true }; return !e }) else { return }
        writer?.drain()
        Glibc.close(fd)
        unlink(temp)
    }

    deinit { discard() }
}
