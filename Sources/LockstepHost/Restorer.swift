import Foundation
package import LockstepCore
import Synchronization
import CHostShim
#if canImport(Glibc)
import Glibc
#endif

/// How to restore.
package struct RestoreOptions: Sendable {
    package var target: String
    /// Snapshot paths (as `ls` shows them) to restore; empty: everything.
    package var include: [String] = []
    package var numericOwner = false
    /// Snapshot user/group name → name on this host (`--map-user`, `--map-group`).
    package var userMap: [String: String] = [:]
    package var groupMap: [String: String] = [:]
    package var overwrite = false
    package var workers = max(ProcessInfo.processInfo.activeProcessorCount, 1)
    /// Files of 1 MiB and more without holes are written with O_DIRECT (`DirectWriter`). Off for
    /// a delta restore's staging: what it writes is read back by the verification in the stop
    /// window, and from the page cache that takes no disk read.
    package var directWrites = true

    package init(target: String) { self.target = target }
}

/// One snapshot entry to restore at `components` below the target (`Restorer.run(entries:)`).
package struct RestoreEntry: Sendable {
    package var components: [[UInt8]]
    package var node: Node

    package init(components: [[UInt8]], node: Node) {
        self.components = components
        self.node = node
    }
}

package struct RestoreSummary: Sendable, Codable {
    package var files = 0
    package var directories = 0
    package var otherEntries = 0
    package var hardLinks = 0
    package var bytes: Int64 = 0
    package var errors = 0
    package var refused = 0
    package var durationSeconds = 0.0

    package init() {}

    enum CodingKeys: String, CodingKey {
        case files, directories, otherEntries = "other_entries", hardLinks = "hard_links", bytes, errors, refused
        case durationSeconds = "duration_seconds"
    }
}

/// Restores a snapshot under a target directory and writes nothing outside it: every entry is
/// created relative to an open directory descriptor, names are checked (`..`, `/`, empty and
/// duplicate names are refused), and nothing in the target is ever followed (O_NOFOLLOW,
/// AT_SYMLINK_NOFOLLOW). File content is written by `workers` threads; then owner, xattrs,
/// times, and mode last; a directory's metadata after all its children.
package final class Restorer: Sendable {
    private let repository: Repository
    private let reporter: any ProblemReporter
    package let progress: LiveProgress
    private let owners = OwnerMap()
    private let ownerWarning = Mutex(false)

    package init(repository: Repository, reporter: any ProblemReporter, progress: LiveProgress = LiveProgress()) {
        self.repository = repository
        self.reporter = reporter
        self.progress = progress
    }

    private struct FileJob: Sendable {
        /// The file's directory, kept open until its last file is written.
        var dir: DirectoryHandle
        var name: [UInt8]
        /// The file's path below the target; its display form is made only for messages.
        var components: [[UInt8]]
        var node: Node

        var path: String { Restorer.display(components) }
    }

    private final class WalkState: @unchecked Sendable {
        let rootFD: Int32
        init(rootFD: Int32) { self.rootFD = rootFD }
        var summary = RestoreSummary()
        /// Every restored directory, in creation order; the deferred ones get their metadata at the end.
        var directories: [DirectoryMetadata] = []
        /// Errors applying directory metadata on the walker's or a worker's thread.
        let metadataErrors = Atomic<Int>(0)
        var hardLinks: [String: [[UInt8]]] = [:]
        var pendingLinks: [PendingLink] = []
        /// Read whole packs ahead (a whole snapshot is restored: it needs nearly all of each).
        var readAhead = false
    }

    /// A later name of a hard-linked file: linked once the first name's content is complete.
    private struct PendingLink {
        var source: [[UInt8]]
        var target: [[UInt8]]
    }

    package func run(tree root: BlobID, options: RestoreOptions) throws -> RestoreSummary {
        let includes = IncludeFilter(options.include)
        return try execute(options) { state, queue in
            state.readAhead = options.include.isEmpty
            try self.restoreTree(root, dir: DirectoryHandle(dup(state.rootFD)), components: [], includes: includes,
                                 options: options, state: state, queue: queue)
        }
    }

    /// Restores single snapshot entries (a directory with everything below it) at their paths
    /// below the target, the directories leading to them created `0700` and otherwise left as
    /// they are; the target may hold other entries. Names of a hard-linked file restored by one
    /// call come out linked. A delta restore stages what differs with it.
    package func run(entries: [RestoreEntry], options: RestoreOptions) throws -> RestoreSummary {
        var options = options
        options.overwrite = true
        return try execute(options) { [options] state, queue in
            let everything = IncludeFilter([])
            var parent: (components: [[UInt8]], handle: DirectoryHandle)?
            for entry in entries.sorted(by: { $0.components.lexicographicallyPrecedes($1.components) { $0.lexicographicallyPrecedes($1) } }) {
                let path = self.display(entry.components)
                do {
                    guard let name = entry.components.last, entry.components.allSatisfy(Self.isSafeName) else {
                        throw HostError(call: "restore", path: path, errno: 0, reason: "refused: unsafe name")
                    }
                    let leading = Array(entry.components.dropLast())
                    if parent?.components != leading {
                        var fd = dup(state.rootFD)
                        for (i, component) in leading.enumerated() {
                            let next = try self.makeDirectory(component, in: fd, path: self.display(Array(leading.prefix(i + 1))), options: options)
                            close(fd)
                            fd = next
                        }
                        parent = (leading, DirectoryHandle(fd))
                    }
                    var node = entry.node
                    node.name = name
                    try self.restoreNode(node, in: parent!.handle, components: entry.components, includes: everything,
                                         options: options, state: state, queue: queue)
                } catch {
                    self.reporter.error(path: path, "\(error)")
                    state.summary.errors += 1
                }
            }
        }
    }

    private func execute(_ options: RestoreOptions, walk: @escaping @Sendable (WalkState, JobQueue<FileJob>) throws -> Void) throws -> RestoreSummary {
        let started = Date()
        let rootFD = try openTarget(options)
        defer { close(rootFD) }
        let queue = JobQueue<FileJob>(capacity: 256)
        let state = WalkState(rootFD: rootFD)
        let fatal = Mutex<(any Error)?>(nil)
        let fileSummary = Mutex(RestoreSummary())
        let failedFiles = Mutex(Set<String>())

        let walker = Thread {
            do {
                try walk(state, queue)
            } catch {
                fatal.withLock { if $0 == nil { $0 = error } }
            }
            queue.close()
        }
        walker.stackSize = 8 << 20
        walker.start()
        DispatchQueue.concurrentPerform(iterations: max(options.workers, 1)) { _ in
            let scratch = ZstdDecompressor()
            while let job = queue.next() {
                let ok = self.restoreFile(job, options: options, scratch: scratch)
                fileSummary.withLock {
                    if ok { $0.files += 1; $0.bytes += Int64(job.node.size) } else { $0.errors += 1 }
                }
                if !ok { failedFiles.withLock { _ = $0.insert(job.path) } }
                self.release(job.dir, options: options, state: state)
            }
        }
        queue.waitClosed()
        if let error = fatal.withLock({ $0 }) { throw error }

        linkPending(state, failed: failedFiles.withLock { $0 })
        // Every other directory got its metadata when its last hold was released. Those a hard
        // link's later name was linked into get it now, children before parents (reverse of
        // creation order). Consecutive directories share most of their path: the open chain is
        // kept, not reopened from the root.
        let chain = DirectoryChain(root: rootFD)
        defer { chain.closeAll() }
        for work in state.directories.reversed() where work.deferred.load(ordering: .relaxed) {
            do {
                let fd = try chain.open(work.components)
                try applyMetadata(fd: fd, node: work.node, path: display(work.components), options: options)
            } catch {
                reporter.error(path: display(work.components), "\(error)")
                state.summary.errors += 1
            }
        }
        var summary = state.summary
        summary.errors += state.metadataErrors.load(ordering: .relaxed)
        let files = fileSummary.withLock { $0 }
        summary.files += files.files
        summary.bytes += files.bytes
        summary.errors += files.errors
        summary.durationSeconds = Date().timeIntervalSince(started)
        return summary
    }

    /// Links the later names of hard-linked files, now that the first names are complete; a name
    /// whose first file failed is not created and is reported too.
    private func linkPending(_ state: WalkState, failed: Set<String>) {
        for link in state.pendingLinks {
            let path = display(link.target)
            let source = display(link.source)
            if failed.contains(source) {
                reporter.error(path: path, "not restored: it is a hard link to \(source), which could not be restored")
                state.summary.errors += 1
                continue
            }
            do {
                let sourceDir = try openChain(state.rootFD, Array(link.source.dropLast()))
                defer { close(sourceDir) }
                let targetDir = try openChain(state.rootFD, Array(link.target.dropLast()))
                defer { close(targetDir) }
                let rc = Posix.withCString(link.source.last!) { src in
                    Posix.withCString(link.target.last!) { linkat(sourceDir, src, targetDir, $0, 0) }
                }
                guard rc == 0 else { throw Posix.error("link", Array(path.utf8)) }
                state.summary.hardLinks += 1
            } catch {
                reporter.error(path: path, "\(error)")
                state.summary.errors += 1
            }
        }
    }

    // MARK: - Target

    private func openTarget(_ options: RestoreOptions) throws -> Int32 {
        let target = options.target
        if mkdir(target, 0o700) != 0 && errno != EEXIST {
            throw LockstepError(.failure, "cannot create the restore target \(target): \(String(cString: strerror(errno)))")
        }
        let fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LockstepError(.failure, "cannot open the restore target \(target): \(String(cString: strerror(errno)))")
        }
        if !options.overwrite, let dir = fdopendir(dup(fd)) {
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." {
                    close(fd)
                    throw LockstepError(.failure, "the restore target \(target) is not empty; choose an empty directory or pass --overwrite")
                }
            }
        }
        return fd
    }

    // MARK: - Walking the snapshot

    private func display(_ components: [[UInt8]]) -> String { Self.display(components) }

    fileprivate static func display(_ components: [[UInt8]]) -> String {
        "/" + components.map(\.pathString).joined(separator: "/")
    }

    /// Names a restore creates: not empty, `.` or `..`, and without `/` or NUL.
    package static func isSafeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [46] && name != [46, 46] && !name.contains(47) && !name.contains(0)
    }

    private func restoreTree(_ id: BlobID, dir: DirectoryHandle, components: [[UInt8]], includes: IncludeFilter,
                             options: RestoreOptions, state: WalkState, queue: JobQueue<FileJob>) throws {
        let tree = try repository.loadTree(id)
        var seen = Set<[UInt8]>()
        for node in tree.nodes {
            guard Self.isSafeName(node.name), seen.insert(node.name).inserted else {
                reporter.error(path: display(components + [node.name]), "refused: the repository holds an unsafe or duplicate name \"\(node.displayName)\"; nothing was written for it")
                state.summary.refused += 1
                state.summary.errors += 1
                continue
            }
            let childComponents = components + [node.name]
            guard includes.visits(childComponents, kind: node.kind) else { continue }
            do {
                try restoreNode(node, in: dir, components: childComponents, includes: includes, options: options,
                                state: state, queue: queue)
            } catch {
                // One entry (or a damaged directory listing) fails; the rest still restores.
                reporter.error(path: display(childComponents), "\(error)")
                state.summary.errors += 1
            }
        }
    }

    private func restoreNode(_ node: Node, in dir: DirectoryHandle, components: [[UInt8]], includes: IncludeFilter,
                             options: RestoreOptions, state: WalkState, queue: JobQueue<FileJob>) throws {
        let dirFD = dir.fd
        let name = node.name
        var path: String { display(components) }  // made only where needed: not per file
        switch node.kind {
        case .directory:
            guard let subtree = node.subtree else { throw HostError(call: "restore", path: path, errno: 0, reason: "directory without a tree") }
            let metadata = DirectoryMetadata(components: components, node: node)
            let child = DirectoryHandle(try makeDirectory(name, in: dirFD, path: path, options: options), metadata: metadata)
            state.directories.append(metadata)
            state.summary.directories += 1
            // Listed: the last of its files to be written applies its metadata (or this does).
            defer { release(child, options: options, state: state) }
            try restoreTree(subtree, dir: child, components: components, includes: includes, options: options,
                            state: state, queue: queue)
        case .file:
            let key = "\(node.device):\(node.inode)"
            if node.links > 1, let first = state.hardLinks[key] {
                // Linked after the first name is written whole (see `linkPending`); the link
                // changes the directory, so its metadata waits for that.
                try removeExisting(name, in: dirFD, path: path, options: options)
                state.pendingLinks.append(PendingLink(source: first, target: components))
                dir.metadata?.deferred.store(true, ordering: .relaxed)
                return
            }
            // The worker creates it (see `restoreFile`): file creation is most of a restore's
            // system time, and the one walker thread doing it all held the writers up.
            if node.links > 1 { state.hardLinks[key] = components }
            if state.readAhead { repository.prefetch(blobs: node.content.compactMap { if case .blob(let id, _) = $0 { id } else { nil } }) }
            dir.hold()
            queue.push(FileJob(dir: dir, name: name, components: components, node: node))
        case .symlink:
            try removeExisting(name, in: dirFD, path: path, options: options)
            let rc = Posix.withCString(node.linkTarget) { target in Posix.withCString(name) { symlinkat(target, dirFD, $0) } }
            guard rc == 0 else { throw Posix.error("symlink", Array(path.utf8)) }
            try applyMetadata(at: dirFD, name: name, node: node, path: path, options: options, isSymlink: true)
            state.summary.otherEntries += 1
        case .fifo, .characterDevice, .blockDevice:
            try removeExisting(name, in: dirFD, path: path, options: options)
            let type: UInt32 = node.kind == .fifo ? UInt32(S_IFIFO) : node.kind == .characterDevice ? UInt32(S_IFCHR) : UInt32(S_IFBLK)
            let rc = Posix.withCString(name) { lockstep_mknodat(dirFD, $0, type | 0o600, node.rdev) }
            guard rc == 0 else { throw Posix.error("mknod", Array(path.utf8)) }
            try applyMetadata(at: dirFD, name: name, node: node, path: path, options: options, isSymlink: false)
            state.summary.otherEntries += 1
        }
    }

    /// Drops one hold on `dir` (the walker's once it is listed, or a queued file's once written);
    /// the last applies the directory's metadata through its open descriptor: nothing changes in
    /// it any more, and a directory done early is not opened again by the pass at the end.
    private func release(_ dir: DirectoryHandle, options: RestoreOptions, state: WalkState) {
        guard dir.release(), let metadata = dir.metadata, !metadata.deferred.load(ordering: .relaxed) else { return }
        do {
            try applyMetadata(fd: dir.fd, node: metadata.node, path: display(metadata.components), options: options)
        } catch {
            reporter.error(path: display(metadata.components), "\(error)")
            state.metadataErrors.add(1, ordering: .relaxed)
        }
    }

    /// Opens a directory below `root` one component at a time, never following a symlink.
    /// Consumes nothing: `root` stays open; the result must be closed. With no components, a dup.
    private func openChain(_ root: Int32, _ components: [[UInt8]]) throws -> Int32 {
        var current = dup(root)
        for component in components {
            let next = Posix.withCString(component) { openat(current, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            close(current)
            guard next >= 0 else { throw Posix.error("open", component) }
            current = next
        }
        return current
    }

    private func makeDirectory(_ name: [UInt8], in dirFD: Int32, path: @autoclosure () -> String, options: RestoreOptions) throws -> Int32 {
        if Posix.withCString(name, { mkdirat(dirFD, $0, 0o700) }) != 0 {
            guard errno == EEXIST else { throw Posix.error("mkdir", Array(path().utf8)) }
            // Something is there: use it only if it is a real directory, never through a symlink.
            var fd = Posix.withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd >= 0 { return fd }
            guard options.overwrite else {
                throw HostError(call: "mkdir", path: path(), errno: EEXIST, reason: "refused: exists and is not a directory")
            }
            guard Posix.withCString(name, { unlinkat(dirFD, $0, 0) }) == 0,
                  Posix.withCString(name, { mkdirat(dirFD, $0, 0o700) }) == 0 else { throw Posix.error("mkdir", Array(path().utf8)) }
            fd = Posix.withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw Posix.error("open", Array(path().utf8)) }
            return fd
        }
        let fd = Posix.withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw Posix.error("open", Array(path().utf8)) }
        return fd
    }

    /// With --overwrite, removes a non-directory entry in the way (never what a symlink points to).
    private func removeExisting(_ name: [UInt8], in dirFD: Int32, path: @autoclosure () -> String, options: RestoreOptions) throws {
        guard options.overwrite else { return }
        var st = stat()
        guard Posix.withCString(name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return }
        let isDir = st.st_mode & S_IFMT == S_IFDIR
        guard Posix.withCString(name, { unlinkat(dirFD, $0, isDir ? AT_REMOVEDIR : 0) }) == 0 else {
            throw Posix.error("remove", Array(path().utf8))
        }
    }

    // MARK: - Files

    /// Creates the file (replacing an entry in the way with --overwrite), writes it and applies
    /// its metadata; false when something failed (reported).
    private func restoreFile(_ job: FileJob, options: RestoreOptions, scratch: ZstdDecompressor) -> Bool {
        let fd: Int32
        do {
            if options.overwrite { try removeExisting(job.name, in: job.dir.fd, path: job.path, options: options) }
            fd = Posix.withCString(job.name) { openat(job.dir.fd, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw Posix.error("create", Array(job.path.utf8)) }
        } catch {
            reporter.error(path: job.path, "\(error)")
            return false
        }
        defer { close(fd) }
        return writeFile(job, fd: fd, options: options, scratch: scratch)
    }

    private func writeFile(_ job: FileJob, fd: Int32, options: RestoreOptions, scratch: ZstdDecompressor) -> Bool {
        var offset: Int64 = 0
        /// Where the last write ended: the file's size, since it was created empty.
        var end: Int64 = 0
        // A large file without holes goes to the disk directly (see `DirectWriter`).
        let direct = options.directWrites && job.node.size >= 1 << 20 && !job.node.content.contains { if case .hole = $0 { true } else { false } }
            ? DirectWriter(switching: fd, bufferSize: 1 << 20) : nil
        do {
            for piece in job.node.content {
                switch piece {
                case .hole(let length):
                    offset += Int64(length)
                case .blob(let id, let length):
                    // The blob is decompressed into the worker's buffer and written from there.
                    var wrongLength = false
                    var writeError: Int32 = 0
                    do {
                        try repository.withBlob(id, scratch: scratch) { raw in
                            guard raw.count == length else { wrongLength = true; return }
                            writeError = direct?.append(raw) ?? Self.writeAll(fd, raw, at: offset)
                        }
                    } catch {
                        throw LockstepError(.damaged, "cannot restore \(job.path): \(error)")
                    }
                    if wrongLength {
                        throw LockstepError(.damaged, "cannot restore \(job.path): blob \(id.short) has the wrong length")
                    }
                    if writeError != 0 { throw Posix.error("write", Array(job.path.utf8), writeError) }
                    offset += Int64(length)
                    end = offset
                    progress.bytes.add(Int64(length), ordering: .relaxed)
                }
            }
            if let code = direct?.finish(), code != 0 { throw Posix.error("write", Array(job.path.utf8), code) }
            // Only a trailing hole, or a tail written padded, leaves the size other than the snapshot's.
            if direct != nil || end != Int64(job.node.size), ftruncate(fd, off_t(job.node.size)) != 0 {
                throw Posix.error("truncate", Array(job.path.utf8))
            }
        } catch {
            reporter.error(path: job.path, "\(error)")
            // A file that could not be written whole is not left behind looking complete.
            _ = Posix.withCString(job.name) { unlinkat(job.dir.fd, $0, 0) }
            return false
        }
        // The content is complete: a metadata problem is reported, the file stays.
        do {
            try applyMetadata(fd: fd, node: job.node, path: job.path, options: options)
        } catch {
            reporter.error(path: job.path, "content restored, but \(error)")
            return false
        }
        progress.files.add(1, ordering: .relaxed)
        return true
    }

    /// Writes all of `bytes` at `offset`; the errno of a failure, else 0.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Int32 {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return 0
    }

    // MARK: - Metadata

    /// Without the privilege to give files away (not root), owners stay this user's: said once.
    private func ownersNotRestored() {
        let first = ownerWarning.withLock { warned -> Bool in
            defer { warned = true }
            return !warned
        }
        if first { reporter.warning(path: "", "not running as root: owners are not restored (files belong to this user)") }
    }

    private func owner(_ node: Node, _ options: RestoreOptions) -> (uid: uid_t, gid: gid_t) {
        owners.owner(of: node, options: options)
    }

    private func times(_ node: Node) -> [timespec] {
        let t = timespec(tv_sec: Int(node.mtime.seconds), tv_nsec: Int(node.mtime.nanoseconds))
        return [t, t]
    }

    /// Owner, xattrs, times, then mode last (chown clears setuid/setgid, so mode comes after it).
    /// An owner or mode the entry already has is not set again: each such call dirties the inode
    /// (most restored entries are created with the owner they get, many with their mode).
    private func applyMetadata(fd: Int32, node: Node, path: @autoclosure () -> String, options: RestoreOptions) throws {
        let (uid, gid) = owner(node, options)
        var st = stat()
        let known = fstat(fd, &st) == 0
        let sameOwner = known && st.st_uid == uid && st.st_gid == gid
        if !sameOwner && fchown(fd, uid, gid) != 0 {
            guard errno == EPERM else { throw Posix.error("chown", Array(path().utf8)) }
            ownersNotRestored()
        }
        for x in node.xattrs {
            let rc = x.value.withUnsafeBytes { lockstep_fsetxattr(fd, x.name, $0.baseAddress, x.value.count) }
            if rc != 0 { reporter.warning(path: path(), "cannot set xattr \(x.name): \(String(cString: strerror(errno)))") }
        }
        var ts = times(node)
        if futimens(fd, &ts) != 0 { throw Posix.error("utimens", Array(path().utf8)) }
        // After a chown the mode is set whatever it was: chown may have cleared setuid/setgid.
        if !sameOwner || st.st_mode & 0o7777 != mode_t(node.mode) & 0o7777, fchmod(fd, mode_t(node.mode)) != 0 {
            throw Posix.error("chmod", Array(path().utf8))
        }
    }

    /// Gives the existing entry at `path` (never followed) `node`'s owner, xattrs (removing any
    /// other), times and mode, as a restore would: a delta restore fixes kept entries with it,
    /// and puts their previous metadata back on a rollback.
    package func applyMetadata(_ node: Node, toEntryAt path: [UInt8], options: RestoreOptions) throws {
        let shown = path.pathString
        if node.kind == .file || node.kind == .directory {
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (node.kind == .directory ? O_DIRECTORY : 0)
            let fd = Posix.withCString(path) { open($0, flags) }
            guard fd >= 0 else { throw Posix.error("open", path) }
            defer { close(fd) }
            let wanted = Set(node.xattrs.map(\.name))
            for x in try Posix.listXattrs(path) where !wanted.contains(x.name) && lockstep_fremovexattr(fd, x.name) != 0 {
                reporter.warning(path: shown, "cannot remove xattr \(x.name): \(String(cString: strerror(errno)))")
            }
            try applyMetadata(fd: fd, node: node, path: shown, options: options)
            return
        }
        let slash = path.lastIndex(of: UInt8(ascii: "/")) ?? -1
        let parent = slash <= 0 ? Array("/".utf8) : Array(path[..<slash])
        let dirFD = Posix.withCString(parent) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard dirFD >= 0 else { throw Posix.error("open", parent) }
        defer { close(dirFD) }
        try applyMetadata(at: dirFD, name: Array(path[(slash + 1)...]), node: node, path: shown, options: options,
                          isSymlink: node.kind == .symlink)
    }

    /// The same for an entry that cannot be opened (symlink, FIFO, device), by name in its directory.
    private func applyMetadata(at dirFD: Int32, name: [UInt8], node: Node, path: String, options: RestoreOptions,
                               isSymlink: Bool) throws {
        let (uid, gid) = owner(node, options)
        try Posix.withCString(name) { cname in
            if fchownat(dirFD, cname, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 {
                guard errno == EPERM else { throw Posix.error("chown", Array(path.utf8)) }
                ownersNotRestored()
            }
            if !node.xattrs.isEmpty {
                // lsetxattr through the directory descriptor's /proc link: no path outside the target is walked.
                let procPath = Array("/proc/self/fd/\(dirFD)/".utf8) + name
                for x in node.xattrs {
                    let rc = Posix.withCString(procPath) { p in x.value.withUnsafeBytes { lockstep_lsetxattr(p, x.name, $0.baseAddress, x.value.count) } }
                    if rc != 0 { reporter.warning(path: path, "cannot set xattr \(x.name): \(String(cString: strerror(errno)))") }
                }
            }
            var ts = times(node)
            if utimensat(dirFD, cname, &ts, AT_SYMLINK_NOFOLLOW) != 0 { throw Posix.error("utimens", Array(path.utf8)) }
            if !isSymlink, fchmodat(dirFD, cname, mode_t(node.mode), AT_SYMLINK_NOFOLLOW) != 0 { throw Posix.error("chmod", Array(path.utf8)) }
        }
    }
}

/// The directories on one path below a root, kept open: opening the next path opens only the
/// components it does not share with the last one, each without following a symlink.
private final class DirectoryChain {
    private let root: Int32
    private var names: [[UInt8]] = []
    private var fds: [Int32] = []

    init(root: Int32) { self.root = root }

    /// The directory at `components` (not empty), open until the next call or `closeAll`.
    func open(_ components: [[UInt8]]) throws -> Int32 {
        var shared = 0
        while shared < names.count, shared < components.count, names[shared] == components[shared] { shared += 1 }
        while names.count > shared {
            names.removeLast()
            close(fds.removeLast())
        }
        for component in components[shared...] {
            let parent = fds.last ?? root
            let next = Posix.withCString(component) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard next >= 0 else { throw Posix.error("open", component) }
            names.append(component)
            fds.append(next)
        }
        return fds.last ?? root
    }

    func closeAll() {
        for fd in fds { close(fd) }
        names.removeAll()
        fds.removeAll()
    }
}

/// An open directory, closed when the walker and the last queued file in it are done with it.
/// It counts holds: the walker's until the directory is listed, and one per queued file.
final class DirectoryHandle: Sendable {
    let fd: Int32
    /// What the snapshot records for it; nil for the target and for directories leading to restored entries.
    let metadata: DirectoryMetadata?
    private let holds = Atomic<Int>(1)

    init(_ fd: Int32, metadata: DirectoryMetadata? = nil) {
        self.fd = fd
        self.metadata = metadata
    }

    deinit { close(fd) }

    func hold() { holds.add(1, ordering: .relaxed) }

    /// True for the release that drops the last hold.
    func release() -> Bool { holds.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}

/// A restored directory's snapshot metadata.
final class DirectoryMetadata: Sendable {
    let components: [[UInt8]]
    let node: Node
    /// Set by the walker while it lists the directory, before its hold is released (the release
    /// orders it for the thread that drops the last hold): a hard link's later name is linked
    /// into it at the end, so its metadata waits for that.
    let deferred = Atomic<Bool>(false)

    init(components: [[UInt8]], node: Node) {
        self.components = components
        self.node = node
    }
}

/// Maps user and group names to this host's ids (cached); nil when the name does not exist here.
final class OwnerMap: Sendable {
    /// The owner a restore gives `node` on this host: a mapped name first, then by name when the
    /// name exists here, else (or with `numericOwner`) by number.
    func owner(of node: Node, options: RestoreOptions) -> (uid: uid_t, gid: gid_t) {
        // Called for every restored entry: the maps are looked up only when given.
        let mappedUser = options.userMap.isEmpty ? nil
            : (options.userMap[node.user] ?? options.userMap[String(node.uid)]).flatMap { uid(name: $0) ?? uid_t($0) }
        let mappedGroup = options.groupMap.isEmpty ? nil
            : (options.groupMap[node.group] ?? options.groupMap[String(node.gid)]).flatMap { gid(name: $0) ?? gid_t($0) }
        let numeric = options.numericOwner
        return (mappedUser ?? (numeric ? node.uid : uid(name: node.user) ?? node.uid),
                mappedGroup ?? (numeric ? node.gid : gid(name: node.group) ?? node.gid))
    }

    private let users = Mutex<[String: uid_t?]>([:])
    private let groups = Mutex<[String: gid_t?]>([:])

    func uid(name: String) -> uid_t? {
        guard !name.isEmpty else { return nil }
        if let cached = users.withLock({ $0[name] }) { return cached }
        let found = getpwnam(name).map { $0.pointee.pw_uid }
        users.withLock { $0[name] = .some(found) }
        return found
    }

    func gid(name: String) -> gid_t? {
        guard !name.isEmpty else { return nil }
        if let cached = groups.withLock({ $0[name] }) { return cached }
        let found = getgrnam(name).map { $0.pointee.gr_gid }
        groups.withLock { $0[name] = .some(found) }
        return found
    }
}
