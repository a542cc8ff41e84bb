package import Foundation
import Synchronization

/// What to back up and how.
package struct BackupRequest: Sendable {
    package var paths: [String]
    package var host: String
    package var tags: [String] = []
    package var metadata: [String: String] = [:]
    /// The snapshot whose unchanged files are reused without being read; nil: read everything.
    package var parent: StoredSnapshot?
    /// A tree to compare with instead of the parent's (the pre-pass of an application backup);
    /// the snapshot still names `parent` as its parent.
    package var compareWith: BlobID?
    /// A pre-pass: a file that changes while read is not reported (the window reads it again).
    package var isPrePass = false
    package var workers: Int = max(ProcessInfo.processInfo.activeProcessorCount, 1)
    package var program: String
    /// Polled while capturing: when it returns a reason (a signal), the capture stops and throws.
    package var interruption: @Sendable () -> String? = { nil }
    /// Files made while read (database dumps), stored under `Archiver.reservedRoot`; a failing
    /// one fails the capture.
    package var streams: [any StreamSource] = []

    package init(paths: [String], host: String, program: String) {
        self.paths = paths
        self.host = host
        self.program = program
    }
}

/// Takes a snapshot of paths: walks them and reads, chunks, hashes, compresses, encrypts and
/// packs changed files, each on `workers` threads; saves each directory's tree as it completes,
/// flushes packs and index, and writes the snapshot last. A per-file problem is reported and counted;
/// a repository failure throws and nothing is committed.
package final class Archiver: Sendable {
    package let repository: Repository
    private let fs: any SourceFileSystem
    private let reporter: any ProblemReporter
    package let progress: LiveProgress
    private let clock: @Sendable () -> Date

    package init(repository: Repository, fs: any SourceFileSystem, reporter: any ProblemReporter,
                 progress: LiveProgress = LiveProgress(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.repository = repository
        self.fs = fs
        self.reporter = reporter
        self.progress = progress
        self.clock = clock
    }

    // MARK: - The in-memory skeleton

    /// A directory being built: its nodes and where its files' results go. It counts what it
    /// still waits for (its walk, each queued file, each unfinished subdirectory); the thread that
    /// brings the count to zero saves its tree, hands the id to the parent and frees the nodes.
    /// So only the directories on the walker's path and those with files in flight are in
    /// memory, not the whole skeleton (a 140,000-file backup peaked at 396 MiB holding it).
    private final class PendingDir: @unchecked Sendable {
        private let lock = NSLock()
        private var nodes: [Node] = []
        private var dropped: [Int] = []
        private var pending = 1  // the walk of this directory
        let parent: (dir: PendingDir, index: Int)?
        /// Subdirectories created for stream files (found again by name while adding streams).
        var streamDirs: [(name: [UInt8], dir: PendingDir)] = []
        /// The saved tree, once complete (read for the root).
        private(set) var tree: BlobID?
        /// The same directory's tree in the parent snapshot (or pre-pass): when the new nodes equal
        /// its nodes, its id is reused instead of encoding, hashing and looking the tree up again.
        /// Set by the thread that walks the directory, before its walk ends (which publishes it).
        var previous: (id: BlobID, tree: Tree)?

        init(parent: (dir: PendingDir, index: Int)? = nil) {
            self.parent = parent
        }

        /// Adds a node and returns its index.
        func append(_ node: Node) -> Int {
            lock.withLock {
                nodes.append(node)
                return nodes.count - 1
            }
        }

        func setContent(_ index: Int, _ content: [ContentPiece]) { lock.withLock { nodes[index].content = content } }

        /// One more thing to wait for (a queued file, a subdirectory).
        func hold() { lock.withLock { pending += 1 } }

        /// Records a file's result (nil: dropped) or a subdirectory's tree, and says whether the
        /// directory is now complete.
        func finish(_ index: Int, node: Node?? = nil, subtree: BlobID? = nil) -> Bool {
            lock.withLock {
                switch node {
                case .some(.some(let node)): nodes[index] = node
                case .some(.none): dropped.append(index)
                case .none: break
                }
                if let subtree { nodes[index].subtree = subtree }
                pending -= 1
                return pending == 0
            }
        }

        /// Ends the walk of this directory; true when nothing else is outstanding.
        func walkDone() -> Bool { lock.withLock { pending -= 1; return pending == 0 } }

        /// The nodes to save (dropped files left out); the directory keeps only its tree id.
        func takeNodes() -> [Node] {
            lock.withLock {
                defer { nodes = []; dropped = [] }
                guard !dropped.isEmpty else { return nodes }
                let gone = Set(dropped)
                return nodes.indices.filter { !gone.contains($0) }.map { nodes[$0] }
            }
        }

        func setTree(_ id: BlobID) { lock.withLock { tree = id } }
    }

    /// Directories waiting to be walked, shared by the walker threads. Last in, first out: the
    /// walk stays depth-first, so few directories wait at a time. The walk is over when no
    /// directory waits and none is being walked.
    private final class WalkQueue: @unchecked Sendable {
        struct Task {
            var path: [UInt8]
            var dir: PendingDir
            /// The directory's tree in the parent snapshot.
            var previous: BlobID?
        }

        private let condition = NSCondition()
        private var tasks: [Task] = []
        /// Tasks being walked; starts at 1 for the setup that queues the first directories.
        private var busy = 1
        private var failed = false

        func push(_ task: Task) {
            condition.lock()
            tasks.append(task)
            condition.signal()
            condition.unlock()
        }

        /// The next directory to walk; nil once the walk is over (or failed and every walker is idle).
        func next() -> Task? {
            condition.lock()
            defer { condition.unlock() }
            while true {
                if failed { tasks.removeAll() }
                if let task = tasks.popLast() {
                    busy += 1
                    return task
                }
                if busy == 0 { return nil }
                condition.wait()
            }
        }

        /// A task (or the setup) is over.
        func done() {
            condition.lock()
            busy -= 1
            if busy == 0 { condition.broadcast() }
            condition.unlock()
        }

        /// Drops the directories still waiting: the capture failed.
        func fail() {
            condition.lock()
            failed = true
            condition.broadcast()
            condition.unlock()
        }
    }

    private struct FileJob: Sendable {
        var dir: PendingDir
        var index: Int
        var path: [UInt8]
        var node: Node
        var isNew: Bool
        var isPrePass: Bool
        var stream: (any StreamSource)? = nil
    }

    private enum FileOutcome: Sendable {
        case stored(Node, bytesRead: Int64, bytesAdded: Int64, stored: Int64, blobs: Int)
        case dropped
    }

    /// Files queued ahead of the readers: enough to keep them busy, few enough that the walker
    /// cannot run thousands of nodes ahead (back-pressure keeps memory flat).
    private static let queueCapacity = 256
    /// A capture reads on one thread until this many files, or this many bytes of them, wait to
    /// be read; then the other readers start. Each reader holds up to 17 MiB while it reads a
    /// large file (the read buffer, the compressed chunk, its sealed copy), so a backup with few
    /// changes (1% churn: about 40 MB in a few hundred files) keeps one reader's worth of memory.
    private static let backlogFiles = 128
    private static let backlogBytes: Int64 = 256 << 20

    /// A reader's buffer: a whole maximum chunk plus 1 MiB, so every refill reads at least 1 MiB
    /// (5 MiB with the default chunker; it was 2 x maxSize, and moved up to maxSize per refill).
    package static func readBufferSize(_ chunker: ChunkerParameters) -> Int { chunker.maxSize + (1 << 20) }

    private struct Counters {
        var summary = BackupSummary()
    }

    private let counters = Mutex(Counters())
    /// The running capture's interruption check and kind, for the walker.
    /// Held through a class: a closure stored in a generic Mutex is re-wrapped in a
    /// reabstraction thunk on every access, and the walker reads it once per directory (a
    /// no-change backup of 3,500 directories spent two thirds of its time in nested thunks).
    private final class InterruptionCheck: Sendable {
        let check: @Sendable () -> String?
        init(_ check: @escaping @Sendable () -> String?) { self.check = check }
    }
    private let interruption = Mutex(InterruptionCheck({ nil }))
    private let prePass = Mutex(false)
    private var isPrePass: Bool { prePass.withLock { $0 } }

    /// A pre-pass reports nothing: files vanish and change under a running service, and the
    /// window's pass reports what is still wrong.
    private func reportError(path: String, _ message: String) {
        if !isPrePass { reporter.error(path: path, message) }
    }

    private func reportWarning(path: String, _ message: String) {
        if !isPrePass { reporter.warning(path: path, message) }
    }

    // MARK: - Run

    /// What a capture stored: the root tree (durable and indexed) and the counts; no snapshot yet.
    package struct Captured: Sendable {
        package var tree: BlobID
        package var summary: BackupSummary
        package var started: Date
        package var paths: [String]
    }

    /// Captures and commits: `capture`, then `commit`.
    package func run(_ request: BackupRequest) throws -> (id: BlobID, snapshot: Snapshot, summary: BackupSummary) {
        let captured = try capture(request)
        return try commit(captured, request: request)
    }

    /// Writes the snapshot of a capture (the last write of a backup), with `metadata` added to the
    /// request's.
    package func commit(_ captured: Captured, request: BackupRequest, metadata: [String: String] = [:]) throws
        -> (id: BlobID, snapshot: Snapshot, summary: BackupSummary) {
        CrashPoint.pass("before-snapshot")
        var summary = captured.summary
        summary.durationSeconds = clock().timeIntervalSince(captured.started)
        let snapshot = Snapshot(time: captured.started, host: request.host, paths: captured.paths, tags: request.tags,
                                tree: captured.tree, parent: request.parent?.id, summary: summary,
                                program: request.program, metadata: request.metadata.merging(metadata) { $1 })
        let id = try repository.saveSnapshot(snapshot)
        return (id, snapshot, summary)
    }

    /// Reads the paths and stores everything but the snapshot: after it returns, the tree and all
    /// it refers to are durable and indexed.
    package func capture(_ request: BackupRequest) throws -> Captured {
        let started = clock()
        let roots = try Self.normalize(request.paths)
        if !request.streams.isEmpty, let clash = roots.first(where: {
            $0 == Array(Self.reservedRoot.utf8) || $0.starts(with: Array((Self.reservedRoot + "/").utf8)) || $0 == [UInt8(ascii: "/")]
        }) {
            throw LockstepError(.usage, "\(clash.pathString) cannot be backed up with a database dump: lockstep keeps dumps under \(Self.reservedRoot) in the snapshot")
        }
        let parentRoot = try (request.compareWith ?? request.parent.flatMap { $0.snapshot.treeID }).map { try repository.loadTree($0) }

        let queue = JobQueue<FileJob>(capacity: Self.queueCapacity)
        let walks = WalkQueue()
        let fatal = Mutex<(any Error)?>(nil)
        let failed: @Sendable (any Error) -> Void = { error in
            fatal.withLock { if $0 == nil { $0 = error } }
            walks.fail()
        }
        let rootDir = PendingDir()

        // Walkers on their own threads, readers on others: reading starts before the walk ends,
        // and a backup with few changes (mostly walking) walks on every core. This thread reads;
        // the other readers start once enough files wait (`backlogFiles`, `backlogBytes`).
        let interruption = request.interruption
        prePass.withLock { $0 = request.isPrePass }
        counters.withLock { $0 = Counters() }  // each capture counts for itself
        self.interruption.withLock { $0 = InterruptionCheck(interruption) }
        let workers = max(request.workers, 1)
        let read: @Sendable () -> Void = { [self] in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize(repository.config.chunker), alignment: 64)
            defer { buffer.deallocate() }
            while let job = queue.next() {
                if fatal.withLock({ $0 != nil }) { continue }
                if let reason = interruption() {
                    fatal.withLock { if $0 == nil { $0 = Self.interrupted(reason) } }
                    continue
                }
                do {
                    let outcome = try job.stream.map { try self.readStream(job, $0, buffer: buffer, interruption: interruption) }
                        ?? self.readFile(job, buffer: buffer)
                    try self.record(outcome, of: job)
                } catch {
                    fatal.withLock { if $0 == nil { $0 = error } }
                }
            }
        }
        // The other readers start from the walker's push that finds a backlog (before the queue
        // is closed, so the wait below counts them).
        let readers = DispatchGroup()
        if workers > 1 {
            queue.whenBacklogged(.init(items: Self.backlogFiles, weight: Self.backlogBytes) {
                for _ in 1..<workers {
                    readers.enter()
                    Thread {
                        read()
                        readers.leave()
                    }.start()
                }
            })
        }
        for _ in 1..<workers {
            Thread { [self] in self.walk(walks, queue: queue, failed: failed) }.start()
        }
        let walker = Thread { [self] in
            do {
                try self.buildVirtualRoot(roots, into: rootDir, parent: parentRoot, queue: queue, walks: walks)
            } catch {
                failed(error)
            }
            walks.done()
            self.walk(walks, queue: queue, failed: failed)
            // Every directory is walked (or the capture failed and no walker is busy any more).
            if fatal.withLock({ $0 == nil }) {
                do {
                    try self.addStreams(request.streams, into: rootDir, queue: queue, time: started)
                    try self.walked(rootDir)
                } catch {
                    failed(error)
                }
            }
            self.progress.walkDone.store(true, ordering: .relaxed)
            queue.close()
        }
        walker.start()

        read()
        readers.wait()
        queue.waitClosed()
        if let error = fatal.withLock({ $0 }) { throw error }
        if let reason = request.interruption() { throw Self.interrupted(reason) }
        guard let rootTree = rootDir.tree else {
            throw LockstepError(.failure, "internal error: the snapshot's root directory was not completed")
        }
        var summary = counters.withLock { $0.summary }
        try repository.flush()
        summary.durationSeconds = clock().timeIntervalSince(started)
        return Captured(tree: rootTree, summary: summary, started: started, paths: roots.map(\.pathString))
    }

    private static func interrupted(_ reason: String) -> LockstepError {
        LockstepError(.failure, "interrupted by \(reason); nothing was committed")
    }

    // MARK: - Streams

    /// The snapshot directory holding stream files (database dumps); it names no host path.
    package static let reservedRoot = "/.lockstep"

    /// Adds each stream's file, and the directories leading to it, to the root, and queues it.
    private func addStreams(_ streams: [any StreamSource], into root: PendingDir, queue: JobQueue<FileJob>, time: Date) throws {
        let stamp = Timestamp(seconds: Int64(time.timeIntervalSince1970.rounded(.down)), nanoseconds: 0)
        var created = [PendingDir]()
        for stream in streams {
            let parts = stream.path.split(separator: "/").map { Array($0.utf8) }
            guard stream.path.hasPrefix(Self.reservedRoot + "/"), parts.count >= 2 else {
                throw LockstepError(.usage, "stream path \(stream.path) is not under \(Self.reservedRoot)")
            }
            var dir = root
            var path = [UInt8]()
            for name in parts.dropLast() {
                path = (path.isEmpty ? [UInt8(ascii: "/")] : path).appendingPathComponent(name)
                if let existing = dir.streamDirs.first(where: { $0.name == name }) {
                    dir = existing.dir
                    continue
                }
                var node = Node(name: name, kind: .directory)
                node.mode = 0o700
                node.user = fs.userName(0)
                node.group = fs.groupName(0)
                node.mtime = stamp
                let child = PendingDir(parent: (dir, dir.append(node)))
                dir.hold()
                dir.streamDirs.append((name, child))
                created.append(child)
                dir = child
            }
            var node = Node(name: parts.last!, kind: .file)
            node.mode = 0o600
            node.user = fs.userName(0)
            node.group = fs.groupName(0)
            node.mtime = stamp
            let index = dir.append(node)
            dir.hold()
            queue.push(FileJob(dir: dir, index: index, path: Array(stream.path.utf8), node: node, isNew: true,
                               isPrePass: false, stream: stream))
        }
        for dir in created.reversed() { try walked(dir) }
    }

    /// Stores a stream like a file read to its end, then requires its producer to have succeeded.
    private func readStream(_ job: FileJob, _ source: any StreamSource, buffer: UnsafeMutableRawBufferPointer,
                            interruption: @escaping @Sendable () -> String?) throws -> FileOutcome {
        let stream = try source.open()
        var finished = false
        defer { if !finished { stream.cancel() } }
        let file = StreamFile(stream, interruption: interruption)
        let captured = try read(file, size: Int64.max, allocated: Int64.max, buffer: buffer)
        try stream.finish()
        finished = true
        var node = job.node
        node.content = captured.content
        node.size = UInt64(captured.bytesRead)
        return .stored(node, bytesRead: captured.bytesRead, bytesAdded: captured.bytesAdded, stored: captured.stored, blobs: captured.blobs)
    }

    /// A stream seen as a file read front to back (offsets are ignored: reads are sequential).
    private final class StreamFile: SourceFile {
        let stream: any ByteStream
        let interruption: @Sendable () -> String?
        init(_ stream: any ByteStream, interruption: @escaping @Sendable () -> String?) {
            self.stream = stream
            self.interruption = interruption
        }
        func status() throws -> FileStatus { throw LockstepError(.failure, "a stream has no status") }
        func dataRegions(size: Int64) throws -> [Range<Int64>] { [0..<size] }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            if let reason = interruption() { throw Archiver.interrupted(reason) }
            return try stream.read(into: buffer)
        }
        func close() {}
    }

    // MARK: - Paths

    /// Absolute, normalized, deduplicated paths; a path inside another one is dropped.
    package static func normalize(_ paths: [String]) throws -> [[UInt8]] {
        let cwd = FileManager.default.currentDirectoryPath
        var out = [[UInt8]]()
        for raw in paths {
            let absolute = raw.hasPrefix("/") ? raw : cwd + "/" + raw
            var parts = [Substring]()
            for part in absolute.split(separator: "/") {
                if part == "." { continue }
                if part == ".." { _ = parts.popLast(); continue }
                parts.append(part)
            }
            out.append(Array(("/" + parts.joined(separator: "/")).utf8))
        }
        out.sort(by: Bytes.precede)
        var kept = [[UInt8]]()
        for p in out {
            if let last = kept.last, p == last || last == [UInt8(ascii: "/")]
                || (p.starts(with: last) && p[last.count] == UInt8(ascii: "/")) { continue }
            kept.append(p)
        }
        return kept
    }

    /// Builds the root: each backup path appears under its full path, the directories leading to
    /// it captured with their real metadata.
    private func buildVirtualRoot(_ roots: [[UInt8]], into root: PendingDir, parent: Tree?, queue: JobQueue<FileJob>,
                                  walks: WalkQueue) throws {
        if roots == [[UInt8(ascii: "/")]] {
            try walkDirectory([UInt8(ascii: "/")], into: root, parent: parent, queue: queue, walks: walks)
            return
        }
        // Group the paths by their first component, recursively.
        try addPaths(roots.map { $0.split(separator: UInt8(ascii: "/")).map(Array.init) }, prefix: [],
                     into: root, parent: parent, queue: queue, walks: walks)
    }

    private func addPaths(_ paths: [[[UInt8]]], prefix: [UInt8], into dir: PendingDir, parent: Tree?,
                          queue: JobQueue<FileJob>, walks: WalkQueue) throws {
        var groups = [[UInt8]: [[[UInt8]]]]()
        var order = [[UInt8]]()
        for components in paths {
            guard let first = components.first else { continue }
            if groups[first] == nil { order.append(first) }
            groups[first, default: []].append(Array(components.dropFirst()))
        }
        for name in order {
            let path = (prefix.isEmpty ? [UInt8(ascii: "/")] : prefix).appendingPathComponent(name)
            let rest = groups[name]!
            let status: FileStatus
            do { status = try fs.status(path) } catch {
                throw LockstepError(.failure, "cannot back up \(path.pathString): \(error) (check the path)")
            }
            let parentNode = parent?.node(named: name)
            if rest.contains(where: \.isEmpty) {
                // This component is itself a backup path: walk it whole.
                try addEntry(name: name, path: path, status: status, into: dir, parentNode: parentNode, queue: queue,
                             walks: walks, directory: nil)
            } else {
                guard status.type == .directory else {
                    throw LockstepError(.failure, "cannot back up below \(path.pathString): not a directory")
                }
                let node = try makeNode(name: name, path: path, status: status, directory: nil, parentNode: nil)
                let child = PendingDir(parent: (dir, dir.append(node)))
                dir.hold()
                let parentTree = try parentNode?.subtree.map { try repository.loadTree($0) }
                try addPaths(rest, prefix: path, into: child, parent: parentTree, queue: queue, walks: walks)
                try walked(child)
            }
        }
    }

    /// One walker thread: walks queued directories until the walk is over.
    private func walk(_ walks: WalkQueue, queue: JobQueue<FileJob>, failed: @Sendable (any Error) -> Void) {
        while let task = walks.next() {
            do {
                if let id = task.previous, let tree = try? repository.loadTree(id) { task.dir.previous = (id, tree) }
                try walkDirectory(task.path, into: task.dir, parent: task.dir.previous?.tree, queue: queue, walks: walks)
                try walked(task.dir)
            } catch {
                failed(error)
            }
            walks.done()
        }
    }

    /// Adds a directory's entries; its subdirectories are queued for the walkers.
    private func walkDirectory(_ path: [UInt8], into dir: PendingDir, parent: Tree?, queue: JobQueue<FileJob>,
                               walks: WalkQueue) throws {
        let directory: any SourceDirectory
        let names: [[UInt8]]
        do {
            directory = try fs.openDirectory(path)
            names = try directory.entries().sorted(by: Bytes.precede)
        } catch {
            reportError(path: path.pathString, "cannot list directory: \(error)")
            counters.withLock { $0.summary.errors += 1 }
            return
        }
        defer { directory.close() }
        let interrupted = interruption.withLock { $0 }.check
        for name in names {
            if let reason = interrupted() { throw Self.interrupted(reason) }
            let childPath = path.appendingPathComponent(name)
            let status: FileStatus
            do { status = try directory.status(name) } catch {
                reportError(path: childPath.pathString, "\(error)")
                counters.withLock { $0.summary.errors += 1 }
                continue
            }
            try addEntry(name: name, path: childPath, status: status, into: dir, parentNode: parent?.node(named: name),
                         queue: queue, walks: walks, directory: directory)
        }
    }

    /// Adds an entry to its directory: a directory is queued for the walkers, a file whose
    /// metadata matches the parent snapshot's reuses its content, another file is queued for
    /// the readers. `directory` holds the entry (nil: examine it by path).
    private func addEntry(name: [UInt8], path: [UInt8], status: FileStatus, into dir: PendingDir, parentNode: Node?,
                          queue: JobQueue<FileJob>, walks: WalkQueue, directory: (any SourceDirectory)?) throws {
        guard status.type.nodeKind != nil else {
            if status.type == .socket {
                reportWarning(path: path.pathString, "socket skipped (sockets cannot be backed up)")
                counters.withLock { $0.summary.skippedSockets += 1 }
            } else {
                reportError(path: path.pathString, "unknown file type skipped")
                counters.withLock { $0.summary.errors += 1 }
            }
            return
        }
        let node: Node
        do { node = try makeNode(name: name, path: path, status: status, directory: directory, parentNode: parentNode) } catch {
            reportError(path: path.pathString, "\(error)")
            counters.withLock { $0.summary.errors += 1 }
            return
        }
        let index = dir.append(node)
        switch node.kind {
        case .directory:
            let child = PendingDir(parent: (dir, index))
            dir.hold()
            walks.push(WalkQueue.Task(path: path, dir: child, previous: parentNode?.kind == .directory ? parentNode?.subtree : nil))
        case .file:
            progress.totalFiles.add(1, ordering: .relaxed)
            progress.totalBytes.add(Int64(node.size), ordering: .relaxed)
            if let parentNode, node.sameFileMetadata(as: parentNode), allIndexed(parentNode.content) {
                dir.setContent(index, parentNode.content)
                counters.withLock {
                    $0.summary.filesUnmodified += 1
                    $0.summary.totalBytes += Int64(node.size)
                }
                progress.files.add(1, ordering: .relaxed)
                progress.bytes.add(Int64(node.size), ordering: .relaxed)
            } else {
                dir.hold()
                queue.push(FileJob(dir: dir, index: index, path: path, node: node, isNew: parentNode == nil, isPrePass: isPrePass),
                           weight: Int64(node.size))
            }
        default:
            counters.withLock { $0.summary.otherEntries += 1 }
        }
    }

    private func allIndexed(_ content: [ContentPiece]) -> Bool {
        for piece in content {
            if case .blob(let id, _) = piece, !repository.hasBlob(id) { return false }
        }
        return true
    }

    /// The node of an entry. A file whose metadata (ctime included) equals its node in the parent
    /// snapshot keeps that node's xattrs unread: setting an xattr or ACL moves ctime, and a
    /// file read within ctime's granularity was stored with a zero ctime, which matches nothing.
    private func makeNode(name: [UInt8], path: [UInt8], status: FileStatus, directory: (any SourceDirectory)?,
                          parentNode: Node?) throws -> Node {
        var node = Node(name: name, kind: status.type.nodeKind ?? .file)
        Self.apply(status, to: &node)
        node.user = fs.userName(status.uid)
        node.group = fs.groupName(status.gid)
        if node.kind == .symlink { node.linkTarget = try directory?.readLink(name) ?? fs.readLink(path) }
        if node.kind != .file { node.size = 0 }
        if node.kind == .file, let parentNode, node.sameFileMetadata(as: parentNode) {
            node.xattrs = parentNode.xattrs
        } else {
            node.xattrs = try directory?.extendedAttributes(name) ?? fs.extendedAttributes(path)
        }
        return node
    }

    private static func apply(_ status: FileStatus, to node: inout Node) {
        node.mode = status.mode & 0o7777
        node.uid = status.uid
        node.gid = status.gid
        node.size = UInt64(max(status.size, 0))
        node.mtime = status.mtime
        node.ctime = status.ctime
        node.inode = status.inode
        node.device = status.device
        node.links = status.links
        node.rdev = (status.type == .characterDevice || status.type == .blockDevice) ? status.rdev : 0
    }

    // MARK: - Reading a file

    private struct FileRead {
        var content: [ContentPiece] = []
        var bytesRead: Int64 = 0
        var bytesAdded: Int64 = 0
        var stored: Int64 = 0
        var blobs = 0
    }

    private func readFile(_ job: FileJob, buffer: UnsafeMutableRawBufferPointer) throws -> FileOutcome {
        let path = job.path.pathString
        let file: any SourceFile
        do { file = try fs.open(job.path) } catch {
            reportError(path: path, "\(error)")
            counters.withLock { $0.summary.errors += 1 }
            return .dropped
        }
        defer { file.close() }
        var attempt = 0
        while true {
            attempt += 1
            let before: FileStatus
            let captured: FileRead
            let after: FileStatus
            let readStart = clock()
            do {
                before = try file.status()
                guard before.type == .regular else {
                    reportError(path: path, "is no longer a regular file")
                    counters.withLock { $0.summary.errors += 1 }
                    return .dropped
                }
                captured = try read(file, size: before.size, allocated: before.allocated, buffer: buffer)
                after = try file.status()
            } catch let error as HostError {
                reportError(path: path, "\(error)")
                counters.withLock { $0.summary.errors += 1 }
                return .dropped
            }
            if after.contentMayDiffer(from: before) {
                if attempt < 2 && !job.isPrePass { continue }
                if !job.isPrePass {
                    reportWarning(path: path, "changed while it was read; stored as read (it may be inconsistent)")
                    counters.withLock { $0.summary.changedWhileRead += 1 }
                }
            }
            var node = job.node
            Self.apply(before, to: &node)
            if before.ctime != job.node.ctime, let current = try? fs.extendedAttributes(job.path) {
                // Changed since the walk listed its xattrs: keep ones at least as new as the ctime
                // recorded, since a later backup trusts them while the ctime stays the same.
                node.xattrs = current
            }
            // Racy: a write within the file system's timestamp granularity of the read may not
            // move mtime or ctime. Such a file is never reused unread: a zero ctime matches nothing.
            let racyLimit = Int64(readStart.timeIntervalSince1970) - 1
            if node.mtime.seconds >= racyLimit || node.ctime.seconds >= racyLimit {
                node.ctime = Timestamp(seconds: 0, nanoseconds: 0)
            }
            node.content = captured.content
            node.size = UInt64(captured.content.reduce(0) { $0 + $1.length })
            return .stored(node, bytesRead: captured.bytesRead, bytesAdded: captured.bytesAdded,
                           stored: captured.stored, blobs: captured.blobs)
        }
    }

    /// Chunks and stores the data regions of a file; holes become hole pieces.
    private func read(_ file: any SourceFile, size: Int64, allocated: Int64, buffer: UnsafeMutableRawBufferPointer) throws -> FileRead {
        var out = FileRead()
        guard size > 0 else { return out }
        let regions = allocated < size ? try file.dataRegions(size: size) : [0..<size]
        var position: Int64 = 0
        var shrank = false
        let maxSize = repository.config.chunker.maxSize
        for region in regions {
            if region.lowerBound > position { out.content.append(.hole(length: Int(region.lowerBound - position))) }
            var offset = region.lowerBound
            var start = 0, filled = 0
            var eof = false
            /// Bytes after `start` already scanned without finding a boundary.
            var scanned = 0
            while true {
                let available = filled - start
                let window = UnsafeRawBufferPointer(rebasing: buffer[start..<filled])
                let length = available > 0 ? repository.chunker.cut(window, resumingAfter: scanned) : 0
                if length == available && available < maxSize && !eof && offset < region.upperBound {
                    // No boundary in what is buffered: read on. Only the partial chunk moves to
                    // the front, once the buffer's end is reached (it is shorter than maxSize, so
                    // at least the buffer's last MiB is read each time).
                    scanned = max(available - 1, 0)  // a boundary right at the end is checked again
                    if filled == buffer.count {
                        (buffer.baseAddress! + 0).copyMemory(from: buffer.baseAddress! + start, byteCount: available)
                        filled = available
                        start = 0
                    }
                    while filled < buffer.count && offset < region.upperBound {
                        let want = Int(min(Int64(buffer.count - filled), region.upperBound - offset))
                        let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + want)]), at: offset)
                        if n == 0 { eof = true; break }
                        filled += n
                        offset += Int64(n)
                    }
                    continue
                }
                if available == 0 { break }
                scanned = 0
                let chunk = UnsafeRawBufferPointer(rebasing: window[0..<length])
                let id = repository.keys.blobID(of: chunk)
                if !repository.hasBlob(id) {
                    let result = try repository.saveBlob(.data, bytes: chunk, id: id)
                    if result.added {
                        out.bytesAdded += Int64(length)
                        out.stored += Int64(result.storedBytes)
                        out.blobs += 1
                    }
                }
                out.content.append(.blob(id, length: length))
                out.bytesRead += Int64(length)
                progress.bytes.add(Int64(length), ordering: .relaxed)
                start += length
            }
            position = offset
            if eof { shrank = true; break }
        }
        if !shrank && position < size { out.content.append(.hole(length: Int(size - position))) }
        progress.files.add(1, ordering: .relaxed)
        return out
    }

    // MARK: - Trees

    /// Records a read file's result in its directory (completing it if it was the last).
    private func record(_ outcome: FileOutcome, of job: FileJob) throws {
        switch outcome {
        case .stored(let node, let read, let added, let stored, let blobs):
            counters.withLock {
                $0.summary.bytesRead += read
                $0.summary.bytesAdded += added
                $0.summary.bytesStored += stored
                $0.summary.blobsAdded += blobs
                if job.isNew { $0.summary.filesNew += 1 } else { $0.summary.filesChanged += 1 }
                $0.summary.totalBytes += Int64(node.size)
            }
            if job.dir.finish(job.index, node: .some(node)) { try complete(job.dir) }
        case .dropped:
            if job.dir.finish(job.index, node: .some(nil)) { try complete(job.dir) }
        }
    }

    /// The walk of a directory is over (its entries are listed, its subdirectories walked).
    private func walked(_ dir: PendingDir) throws {
        if dir.walkDone() { try complete(dir) }
    }

    /// Saves a complete directory's tree, then its parent's if that was the last thing the parent
    /// waited for, and so on up.
    private func complete(_ dir: PendingDir) throws {
        var current = dir
        while true {
            let tree = Tree(nodes: current.takeNodes())
            let id: BlobID
            if let previous = current.previous, previous.tree == tree, repository.hasBlob(previous.id) {
                id = previous.id
            } else {
                id = try repository.saveTree(tree).id
            }
            guard let (parent, index) = current.parent else {
                current.setTree(id)
                return
            }
            counters.withLock { $0.summary.directories += 1 }
            guard parent.finish(index, subtree: id) else { return }
            current = parent
        }
    }
}
