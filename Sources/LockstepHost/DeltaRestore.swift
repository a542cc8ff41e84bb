package import Foundation
package import LockstepCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A delta restore of one captured path `P` in place: only what differs from the snapshot is
/// written.
///
/// `plan()` walks the live `P` against the snapshot node (metadata only, never writing): an entry
/// whose kind, size, mtime, mode, owner (after the maps), symlink target, device and xattrs match
/// is kept. A regular file of the same size with another mtime has its content compared (each
/// snapshot piece re-hashed, both cores): the same content only needs metadata. Anything else
/// the snapshot has — a file, a symlink, a whole missing directory — is *replaced*: staged with
/// `Restorer` under `dirname(P)/.lockstep-restore-<id8>-<name>/<name>/…` (same file system,
/// mirroring relative paths) and renamed into place in the window; an entry the snapshot lacks is
/// *removed*. Names of a hard-linked file stay linked: unless every name is the same live inode
/// with the snapshot's link count, all its names are replaced together.
///
/// In the window `refresh()` plans again (contents already compared are trusted while their
/// lstat is unchanged) and stages what the service changed since; `apply()` moves each replaced
/// or removed entry aside into `dirname(P)/.lockstep-old-<id8>-<name>/<name>/…` (a rename),
/// renames the staged entries in, then fixes metadata (directories last, deepest first);
/// `rollback()` undoes it to the state before, metadata included.
package final class DeltaRestore {
    /// One snapshot entry at a path relative to `P` (`[]` is `P` itself).
    package struct Item: Sendable {
        package var components: [[UInt8]]
        package var node: Node
    }

    package struct Plan: Sendable {
        /// Staged, then renamed over (or into) the live path.
        package var replace: [Item] = []
        package var remove: [[[UInt8]]] = []
        /// Kept entries whose metadata is fixed; directories (also those whose entries change) deepest first.
        package var metadata: [Item] = []
        package var directories: [Item] = []
        package var kept = 0
        /// Regular files (and their bytes) written by the replacements.
        package var files = 0
        package var bytes: Int64 = 0
        /// Owners of every snapshot entry under `P`, for the preflight.
        package var users: [String: UInt32] = [:]
        package var groups: [String: UInt32] = [:]
        /// Replacements holding a hard-linked file (its other names must be staged in the same run).
        fileprivate var linked: Set<[UInt8]> = []
    }

    package let path: String
    package let staging: String
    package let old: String
    private let name: [UInt8]
    private let root: Node
    private let repository: Repository
    private let restorer: Restorer
    private let options: RestoreOptions
    /// Seconds: an entry whose ctime (and inode) is still the one recorded and older than this
    /// was not touched since the backup read it (see `Walker.unchangedSinceBackup`).
    private let backedUpAfter: Int64
    private let fs = LocalFileSystem()
    private let owners = OwnerMap()

    /// Content verdicts, trusted while the file's lstat is the one recorded when it was compared.
    private var compared: [[UInt8]: (status: FileStatus, same: Bool)] = [:]
    /// Relative paths (keys) staged whole, and whether a staged one holds hard-linked files.
    private var staged: Set<[UInt8]> = []
    package private(set) var plan = Plan()
    /// The files the planned replacements write.
    private var written: [Item] = []
    private var confirmed: [UInt64: Timestamp] = [:]
    /// Names of each hard-link group under `P` (the last whole walk), for a scoped verification.
    private var linkNames: [String: Int] = [:]
    private var listings: [UInt64: Listing] = [:]
    /// The snapshot's trees under `P`, decoded once for the three walks.
    private let trees = TreeCache()
    private var applied: [Step] = []
    private var saved: [(path: [UInt8], depth: Int, node: Node)] = []

    private enum Step {
        case movedAside([[UInt8]])
        case movedIn([[UInt8]])
    }

    /// `options` as for a restore (maps, numeric owners, workers); its target is unused.
    /// `snapshotTime`: when the snapshot's capture started.
    package init(path: String, node: Node, id8: String, snapshotTime: Date, repository: Repository, restorer: Restorer,
                 options: RestoreOptions) throws {
        self.path = path
        let parent = (path as NSString).deletingLastPathComponent
        let last = (path as NSString).lastPathComponent
        name = Array(last.utf8)
        staging = parent + "/.lockstep-restore-\(id8)-\(last)"
        old = parent + "/.lockstep-old-\(id8)-\(last)"
        root = node
        self.repository = repository
        self.restorer = restorer
        self.options = options
        backedUpAfter = Int64(snapshotTime.timeIntervalSince1970.rounded(.down)) - 1
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        for leftover in [staging, old] where FileManager.default.fileExists(atPath: leftover) {
            throw LockstepError(.failure, "\(leftover) exists (left by an interrupted restore?); look at it and remove it, then restore again")
        }
    }

    // MARK: - Paths

    fileprivate static func key(_ components: [[UInt8]]) -> [UInt8] { Array(components.joined(separator: [0])) }

    private func live(_ components: [[UInt8]]) -> [UInt8] {
        components.reduce(Array(path.utf8)) { $0.appendingPathComponent($1) }
    }

    private func mirror(_ base: String, _ components: [[UInt8]]) -> [UInt8] {
        ([name] + components).reduce(Array(base.utf8)) { $0.appendingPathComponent($1) }
    }

    /// How the verifier names an entry (`ls` style, absolute).
    package func shown(_ components: [[UInt8]]) -> String { live(components).pathString }

    // MARK: - Planning (reads only)

    /// One worker's findings; merged when the walk is done.
    fileprivate final class Walk {
        var plan = Plan()
        var directories: [(item: Item, differs: Bool)] = []
        /// Files whose content must be compared: their plan is decided afterwards.
        var pending: [(item: Item, status: FileStatus, linked: Bool)] = []
        /// Hard-link groups (snapshot device:inode) → names, their live status, and whether each
        /// may be kept (true), needs its metadata only (false) or must be written (nil; with no
        /// status: inside a replaced directory).
        var groups: [String: [(item: Item, status: FileStatus?, keep: Bool?)]] = [:]
        /// Every file a replacement writes (content verification after the switch).
        var written: [Item] = []
        /// Inode → ctime of entries whose metadata, xattrs included, matched the snapshot.
        var confirmed: [UInt64: Timestamp] = [:]
        var listings: [UInt64: Listing] = [:]
        /// The owner names last recorded in `plan.users`/`groups`: most entries share them, and
        /// hashing the names for every entry cost more than the comparison.
        var lastUser: String?
        var lastGroup: String?

        /// The last owner looked up, and this host's ids for it: most entries share it, and the
        /// shared map takes two locks per lookup.
        var lastOwner: (user: String, uid: UInt32, group: String, gid: UInt32, ids: (uid: uid_t, gid: gid_t))?

        func owner(of node: Node, owners: OwnerMap, options: RestoreOptions) -> (uid: uid_t, gid: gid_t) {
            if let last = lastOwner, last.uid == node.uid, last.gid == node.gid, last.user == node.user, last.group == node.group {
                return last.ids
            }
            let ids = owners.owner(of: node, options: options)
            lastOwner = (node.user, node.uid, node.group, node.gid, ids)
            return ids
        }

        func noteOwner(_ node: Node) {
            if node.user != lastUser {
                plan.users[node.user] = node.uid
                lastUser = node.user
            }
            if node.group != lastGroup {
                plan.groups[node.group] = node.gid
                lastGroup = node.group
            }
        }
    }

    /// A directory's entry names (sorted bytewise, as tree nodes are) and its lstat before they
    /// were read: while its lstat is the same (an entry added, removed or renamed changes mtime
    /// and ctime), so are the names.
    fileprivate struct Listing: Sendable {
        var status: FileStatus
        var names: [[UInt8]]
    }

    /// What the walkers share (read-only).
    fileprivate struct Walker: Sendable {
        let path: [UInt8]
        let repository: Repository
        let fs: LocalFileSystem
        let owners: OwnerMap
        let options: RestoreOptions
        let compared: [[UInt8]: (status: FileStatus, same: Bool)]
        let staged: Set<[UInt8]>
        /// From the walks before: an entry with this ctime still has the xattrs it had then.
        let confirmed: [UInt64: Timestamp]
        let listings: [UInt64: Listing]
        let trees: TreeCache
        /// Seconds: an entry changed at or after this may change again within the same ctime tick.
        let racy: Int64
        /// Seconds: the snapshot's capture started after this.
        let backedUpAfter: Int64
        /// Verifying: the directories to compare (keys) — those holding an entry the switch
        /// touched and their ancestors; below a `whole` job everything. Nil: all.
        let scope: Set<[UInt8]>?
        /// Verifying: entries written whole (their subtrees are compared whole).
        let replaced: Set<[UInt8]>

        /// Whether what was read of an entry with this lstat may be trusted while its ctime stays.
        func settled(_ status: FileStatus) -> Bool { status.ctime.seconds < racy }
    }

    /// A directory to compare: the live one matched the snapshot's.
    fileprivate struct DirectoryJob: Sendable {
        var item: Item
        var status: FileStatus
        /// Compare everything below (a replaced directory, or not verifying).
        var whole = true
    }

    /// Plans (again in the window; `verifying`: after the switch, only the directories the
    /// switch touched). Writes nothing. The walk runs on `workers` threads, a directory at a time.
    private func makePlan(verifying: Bool = false) throws -> (plan: Plan, written: [Item]) {
        var scope: Set<[UInt8]>?
        var replaced = Set<[UInt8]>()
        if verifying {
            // What the switch touched: replaced and removed entries (their directory's listing
            // changed), entries whose metadata was fixed; every directory on the way to them.
            replaced = Set(plan.replace.map { Self.key($0.components) })
            var directories: Set<[UInt8]> = [[]]
            for components in plan.replace.map(\.components) + plan.remove + (plan.metadata + plan.directories).map(\.components) {
                for depth in 0..<components.count { directories.insert(Self.key(Array(components[..<depth]))) }
            }
            scope = directories
        }
        let walker = Walker(path: Array(path.utf8), repository: repository, fs: fs, owners: owners, options: options,
                            compared: compared, staged: verifying ? [] : staged, confirmed: confirmed, listings: listings, trees: trees,
                            racy: Int64(Date().timeIntervalSince1970) - 1, backedUpAfter: backedUpAfter, scope: scope, replaced: replaced)
        let rootWalk = Walk()
        let queue = JobQueue<DirectoryJob>()
        let outstanding = Atomic(0)
        if var job = try walker.visit([], node: root, status: try? fs.status(walker.path), walk: rootWalk,
                                       livePath: { walker.path }) {
            job.whole = scope == nil
            outstanding.add(1, ordering: .relaxed)
            queue.push(job)
        } else {
            queue.close()
        }
        // Cold, the walk waits on the disk more than on the processors: more threads than cores.
        let workers = max(options.workers, 1) * 4
        let walks = (0..<workers).map { _ in Walk() }
        let fatal = Mutex<(any Error)?>(nil)
        let box = UncheckedBox(walks)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let walk = box.value[worker]
            while let job = queue.next() {
                do {
                    for child in try walker.compareDirectory(job, walk: walk) {
                        outstanding.add(1, ordering: .relaxed)
                        queue.push(child)
                    }
                } catch {
                    fatal.withLock { if $0 == nil { $0 = error } }
                }
                if outstanding.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { queue.close() }
            }
        }
        if let error = fatal.withLock({ $0 }) { throw error }
        let all = [rootWalk] + walks
        let walk = merge(all)
        for w in all {
            confirmed.merge(w.confirmed) { $1 }
            listings.merge(w.listings) { $1 }
        }
        try compareContents(walk, walker: walker)
        if !verifying { linkNames = walk.groups.mapValues(\.count) }
        resolveLinks(walk, seenAll: !verifying)
        var plan = walk.plan
        plan.replace.sort { Self.key($0.components).lexicographicallyPrecedes(Self.key($1.components)) }
        plan.remove.sort { Self.key($0).lexicographicallyPrecedes(Self.key($1)) }
        // A directory gets its metadata again when it differs or when entries in it change.
        let touched = Set((plan.replace.map(\.components) + plan.remove).filter { !$0.isEmpty }.map { Self.key(Array($0.dropLast())) })
        plan.directories = walk.directories
            .filter { $0.differs || touched.contains(Self.key($0.item.components)) }
            .map(\.item)
            .sorted { $0.components.count > $1.components.count }
        return (plan, walk.written)
    }

    private func merge(_ walks: [Walk]) -> Walk {
        let all = Walk()
        for w in walks {
            all.plan.replace += w.plan.replace
            all.plan.remove += w.plan.remove
            all.plan.metadata += w.plan.metadata
            all.plan.kept += w.plan.kept
            all.plan.files += w.plan.files
            all.plan.bytes += w.plan.bytes
            all.plan.users.merge(w.plan.users) { a, _ in a }
            all.plan.groups.merge(w.plan.groups) { a, _ in a }
            all.plan.linked.formUnion(w.plan.linked)
            all.directories += w.directories
            all.pending += w.pending
            all.groups.merge(w.groups) { $0 + $1 }
            all.written += w.written
        }
        return all
    }

    /// Compares the pending files' content with the snapshot on every core.
    private func compareContents(_ walk: Walk, walker: Walker) throws {
        let jobs = walk.pending
        let same = contentDiffers(jobs.map(\.item)).map { $0 == nil }
        for (job, same) in zip(jobs, same) {
            if walker.settled(job.status) { compared[Self.key(job.item.components)] = (job.status, same) }
            if job.linked {
                walker.addMember(job.item, status: job.status, keep: same ? false : nil, walk: walk)
            } else if same {
                walker.keep(job.item, same: false, walk: walk)
            } else {
                try walker.replace(job.item, walk: walk)
            }
        }
    }

    /// For each item (a regular file), nil when the live file holds the snapshot's content, else
    /// what differs; on `workers` threads.
    private func contentDiffers(_ items: [Item]) -> [String?] {
        guard !items.isEmpty else { return [] }
        let results = Mutex([String?](repeating: nil, count: items.count))
        let paths = items.map { live($0.components) }
        let (repository, fs) = (self.repository, self.fs)
        let next = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: max(options.workers, 1)) { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < items.count else { return }
                let problem = RestoreVerifier.compareContent(items[i].node, path: paths[i], fs: fs, repository: repository)
                results.withLock { $0[i] = problem }
            }
        }
        return results.withLock { $0 }
    }

    /// A hard-linked file stays only if all its names are one live inode with exactly these
    /// names, each of the snapshot's content; otherwise every name is written, linked again.
    /// `seenAll` false (a scoped verification): a group with names in directories the walk left
    /// out is checked for the names it saw (one inode), not for its link count.
    private func resolveLinks(_ walk: Walk, seenAll: Bool) {
        for group in walk.groups.keys.sorted() {
            let members = walk.groups[group]!.sorted { Self.key($0.item.components).lexicographicallyPrecedes(Self.key($1.item.components)) }
            let inodes = Set(members.map { $0.status.map { "\($0.device):\($0.inode)" } ?? "" })
            let complete = seenAll || members.count >= linkNames[group] ?? 0
            let intact = inodes.count == 1 && !inodes.contains("") && members.allSatisfy { $0.keep != nil }
                && (!complete || members.first!.status!.links == UInt64(members.count))
            if intact {
                let first = members.first!
                if first.keep == true { walk.plan.kept += members.count } else {
                    walk.plan.metadata.append(first.item)
                    walk.plan.kept += members.count - 1
                }
                continue
            }
            for member in members where member.status != nil || member.keep != nil {
                // Not already inside a replaced directory: replaced by itself.
                walk.plan.replace.append(member.item)
                walk.plan.linked.insert(Self.key(member.item.components))
                walk.plan.files += 1
                walk.plan.bytes += Int64(member.item.node.size)
                walk.written.append(member.item)
            }
        }
    }

    /// After `apply`: the delta between the live path and the snapshot is empty (every entry's
    /// kind, metadata, symlink target and link structure as in the snapshot, nothing extra), and
    /// every file written holds the snapshot's content. The differences, one line each.
    /// Compared again are the directories the switch changed something in (each whole: every
    /// entry's metadata, nothing extra), their ancestors and everything it wrote; the rest was
    /// found equal to the snapshot by `refresh` in the same window, with the service stopped,
    /// and the switch did not touch it.
    package func verify() throws -> [String] {
        let (check, _) = try makePlan(verifying: true)
        var problems = check.replace.map { "\(shown($0.components)): differs from the snapshot" }
        problems += check.remove.map { "\(shown($0)): not in the snapshot" }
        problems += (check.metadata + check.directories).map { "\(shown($0.components)): metadata differs" }
        for (item, problem) in zip(written, contentDiffers(written)) {
            if let problem { problems.append("\(shown(item.components)): \(problem)") }
        }
        return problems
    }

    // MARK: - Staging (service running, or in the window for what changed since)

    /// Plans while the service runs. Writes nothing.
    package func planChanges() throws { (plan, written) = try makePlan() }

    /// Stages the planned replacements while the service runs. Writes only under `staging`.
    package func stageChanges() throws { try stage(plan.replace) }

    /// In the window: plans again and stages what the service changed since `prepare`.
    package func refresh() throws {
        (plan, written) = try makePlan()
        let new = plan.replace.filter { !staged.contains(Self.key($0.components)) }
        guard !new.isEmpty else { return }
        if new.contains(where: { plan.linked.contains(Self.key($0.components)) }) {
            // Names of a hard-linked file are linked only within one staging run: stage all again.
            try? FileManager.default.removeItem(atPath: staging)
            staged = []
            try stage(plan.replace)
        } else {
            try stage(new)
        }
    }

    private func stage(_ items: [Item]) throws {
        guard !items.isEmpty else { return }
        var o = options
        o.target = staging
        o.directWrites = false
        let entries = items.map { RestoreEntry(components: [name] + $0.components, node: $0.node) }
        let summary = try restorer.run(entries: entries, options: o)
        if summary.errors > 0 || summary.refused > 0 {
            let n = summary.errors + summary.refused
            throw LockstepError(.failure, "\(n) entr\(n == 1 ? "y" : "ies") of \(path) could not be staged (named above)")
        }
        for item in items { staged.insert(Self.key(item.components)) }
    }

    // MARK: - The switch (in the window)

    /// Moves what is replaced or removed aside, the staged entries in, then fixes metadata.
    /// On a throw, call `rollback()`.
    package func apply() throws {
        let moved = plan.remove + plan.replace.map(\.components)
        // Remember the metadata this changes, to put it back on a rollback.
        for components in plan.metadata.map(\.components) + plan.directories.map(\.components) + moved {
            let p = live(components)
            if let node = metadata(of: p) { saved.append((p, components.count, node)) }
        }
        for components in moved {
            var st = stat()
            let from = live(components)
            guard Posix.withCString(from, { lstat($0, &st) }) == 0 else { continue }
            let to = mirror(old, components)
            let parent = Array(to[..<to.lastIndex(of: UInt8(ascii: "/"))!])
            try FileManager.default.createDirectory(atPath: parent.pathString, withIntermediateDirectories: true)
            try rename(from, to, "move \(from.pathString) aside")
            applied.append(.movedAside(components))
        }
        for item in plan.replace {
            try rename(mirror(staging, item.components), live(item.components), "move the restored \(shown(item.components)) into place")
            applied.append(.movedIn(item.components))
        }
        for item in plan.metadata + plan.directories {
            try restorer.applyMetadata(item.node, toEntryAt: live(item.components), options: options)
        }
    }

    /// Puts back what `apply` changed: staged entries back to staging, the previous ones back,
    /// then their previous metadata (deepest first). Returns what could not be put back (an
    /// entry not moved back is still under `old`).
    package func rollback() -> [String] {
        var failures = [String]()
        for step in applied.reversed() {
            do {
                switch step {
                case .movedIn(let components):
                    try rename(live(components), mirror(staging, components), "take \(shown(components)) out again")
                case .movedAside(let components):
                    try rename(mirror(old, components), live(components), "put \(shown(components)) back from \(mirror(old, components).pathString)")
                }
            } catch {
                failures.append("\(error)")
            }
        }
        applied = []
        var previous = options
        previous.numericOwner = true
        previous.userMap = [:]
        previous.groupMap = [:]
        for entry in saved.sorted(by: { $0.depth > $1.depth }) where metadata(of: entry.path) != entry.node {
            do { try restorer.applyMetadata(entry.node, toEntryAt: entry.path, options: previous) } catch {
                failures.append("cannot put the metadata of \(entry.path.pathString) back: \(error)")
            }
        }
        saved = []
        return failures
    }

    /// What `apply` may change of an entry (and a rollback puts back), as a node to apply again.
    private func metadata(of path: [UInt8]) -> Node? {
        guard let status = try? fs.status(path), let kind = status.type.nodeKind else { return nil }
        let xattrs = kind == .symlink ? [] : (try? fs.extendedAttributes(path)) ?? []
        return Node(name: [], kind: kind, mode: status.mode, uid: status.uid, gid: status.gid, mtime: status.mtime, xattrs: xattrs)
    }

    private func rename(_ from: [UInt8], _ to: [UInt8], _ what: String) throws {
        let rc = Posix.withCString(from) { f in Posix.withCString(to) { Glibc.rename(f, $0) } }
        guard rc == 0 else { throw LockstepError(.failure, "cannot \(what): \(String(cString: strerror(errno)))") }
    }

    /// Drops `deltas` on a thread of its own: freeing what the walks decoded (every snapshot
    /// node under the paths) took a tenth of a second on 170,000 entries, and the command is
    /// done with them; the process may exit before that thread ends.
    package static func release(_ deltas: inout [DeltaRestore]) {
        final class Held: @unchecked Sendable {  // touched by the releasing thread only, once created
            var deltas: [DeltaRestore]?
            init(_ deltas: [DeltaRestore]) { self.deltas = deltas }
        }
        let held = Held(deltas)
        deltas = []
        Thread.detachNewThread { held.deltas = nil }
    }

    /// Removes the staged entries, and the previous ones (after a commit, once the service runs
    /// again; after a rollback only when everything was moved back).
    package func discard(keepingOld: Bool = false) {
        try? FileManager.default.removeItem(atPath: staging)
        if !keepingOld { try? FileManager.default.removeItem(atPath: old) }
    }
}

fileprivate extension DeltaRestore.Walker {
    typealias Item = DeltaRestore.Item

    private func live(_ components: [[UInt8]]) -> [UInt8] {
        components.reduce(path) { $0.appendingPathComponent($1) }
    }

    /// Compares one entry; a directory matched by a live directory is returned, to be compared
    /// by a worker. `components` and `livePath` are built only when needed: for most entries (a
    /// file kept as it is) never; building them for every entry cost a fifth of a walk.
    func visit(_ components: @autoclosure () -> [[UInt8]], node: Node, status: FileStatus?, walk: DeltaRestore.Walk,
               livePath: () -> [UInt8], in dirFD: Int32? = nil) throws -> DeltaRestore.DirectoryJob? {
        walk.noteOwner(node)
        var item: Item { Item(components: components(), node: node) }
        var key: [UInt8] { DeltaRestore.key(components()) }
        guard let status, status.type.nodeKind == node.kind,
              !(node.kind == .directory && !staged.isEmpty && staged.contains(key)) else {
            try replace(item, walk: walk)
            return nil
        }
        switch node.kind {
        case .directory:
            let item = item
            walk.directories.append((item, !sameMetadata(status, node, path: livePath(), in: dirFD, walk: walk)))
            return DeltaRestore.DirectoryJob(item: item, status: status)
        case .file:
            let linked = node.links > 1
            if status.links > 1 && !linked || UInt64(status.size) != node.size {
                linked ? addMember(item, status: status, keep: nil, walk: walk) : try replace(item, walk: walk)
            } else if status.mtime == node.mtime {
                let same = sameMetadata(status, node, path: livePath(), in: dirFD, walk: walk)
                linked ? addMember(item, status: status, keep: same, walk: walk) : keep(item, same: same, walk: walk)
            } else if let known = compared[key], !known.status.contentMayDiffer(from: status) {
                if linked {
                    addMember(item, status: status, keep: known.same ? false : nil, walk: walk)
                } else if known.same {
                    keep(item, same: false, walk: walk)
                } else {
                    try replace(item, walk: walk)
                }
            } else {
                walk.pending.append((item, status, linked))
            }
        case .symlink:
            guard (try? fs.readLink(livePath())) == node.linkTarget else { try replace(item, walk: walk); return nil }
            keep(item, same: sameMetadata(status, node, path: livePath(), in: dirFD, walk: walk), walk: walk)
        case .fifo, .characterDevice, .blockDevice:
            guard node.kind == .fifo || UInt64(status.rdev) == node.rdev else { try replace(item, walk: walk); return nil }
            keep(item, same: sameMetadata(status, node, path: livePath(), in: dirFD, walk: walk), walk: walk)
        }
        return nil
    }

    /// The entries of a live directory against its snapshot tree: each compared (`fstatat`
    /// relative to the open directory), those the snapshot lacks removed. Returns subdirectories.
    func compareDirectory(_ job: DeltaRestore.DirectoryJob, walk: DeltaRestore.Walk) throws -> [DeltaRestore.DirectoryJob] {
        let item = job.item
        let livePath = live(item.components)
        let fd = Posix.withCString(livePath) { open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        var entries: [[UInt8]]?
        if let known = listings[job.status.inode], known.status == job.status {
            entries = known.names
        } else if fd >= 0, var names = try? LocalDirectory.entries(of: fd, path: livePath) {
            names.sort(by: Bytes.precede)
            entries = names
            if settled(job.status) { walk.listings[job.status.inode] = DeltaRestore.Listing(status: job.status, names: names) }
        }
        guard fd >= 0, let entries, let subtree = item.node.subtree else {
            if fd >= 0 { close(fd) }
            // Gone or unreadable since it was seen: replaced whole.
            walk.directories.removeAll { DeltaRestore.key($0.item.components) == DeltaRestore.key(item.components) }
            try replace(item, walk: walk)
            return []
        }
        defer { close(fd) }
        var jobs = [DeltaRestore.DirectoryJob]()
        // Both lists are sorted bytewise: one merge pass pairs them. A name the live directory
        // has and the snapshot lacks (or holds only under an unsafe name) is removed; of names
        // a damaged tree repeats, the first counts.
        var live = 0
        var previous: [UInt8]?
        for child in try trees.nodes(subtree, repository) where Restorer.isSafeName(child.name) && child.name != previous {
            previous = child.name
            while live < entries.count && Bytes.precede(entries[live], child.name) {
                walk.plan.remove.append(item.components + [entries[live]])
                live += 1
            }
            var present = false
            if live < entries.count && entries[live] == child.name {
                present = true
                live += 1
            }
            var st = stat()
            let status = present && Posix.withCString(child.name, { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0
                ? Posix.status(from: st) : nil
            if var next = try visit(item.components + [child.name], node: child, status: status, walk: walk,
                                    livePath: { livePath.appendingPathComponent(child.name) }, in: fd) {
                if let scope {
                    let key = DeltaRestore.key(next.item.components)
                    next.whole = job.whole || replaced.contains(key)
                    guard next.whole || scope.contains(key) else { continue }
                }
                jobs.append(next)
            }
        }
        for extra in entries[live...] {
            walk.plan.remove.append(item.components + [extra])
        }
        return jobs
    }

    func keep(_ item: @autoclosure () -> Item, same: Bool, walk: DeltaRestore.Walk) {
        if same { walk.plan.kept += 1 } else { walk.plan.metadata.append(item()) }
    }

    func addMember(_ item: Item, status: FileStatus?, keep: Bool?, walk: DeltaRestore.Walk) {
        walk.groups["\(item.node.device):\(item.node.inode)", default: []].append((item, status, keep))
    }

    /// The snapshot's entry replaces the live one (or is created): counted, its subtree walked
    /// for its owners, its files and its hard-linked names.
    func replace(_ item: Item, walk: DeltaRestore.Walk) throws {
        walk.plan.replace.append(item)
        try count(item, in: DeltaRestore.key(item.components), walk: walk)
    }

    private func count(_ item: Item, in replaced: [UInt8], walk: DeltaRestore.Walk) throws {
        let node = item.node
        walk.noteOwner(node)
        switch node.kind {
        case .file:
            walk.plan.files += 1
            walk.plan.bytes += Int64(node.size)
            walk.written.append(item)
            if node.links > 1 {
                walk.plan.linked.insert(replaced)
                addMember(item, status: nil, keep: nil, walk: walk)
            }
        case .directory:
            guard let subtree = node.subtree else { return }
            for child in try trees.nodes(subtree, repository) where Restorer.isSafeName(child.name) {
                try count(Item(components: item.components + [child.name], node: child), in: replaced, walk: walk)
            }
        default:
            break
        }
    }

    /// `dirFD`: the open directory holding the entry (its xattrs are read relative to it).
    private func sameMetadata(_ status: FileStatus, _ node: Node, path: @autoclosure () -> [UInt8], in dirFD: Int32?,
                              walk: DeltaRestore.Walk) -> Bool {
        let (uid, gid) = walk.owner(of: node, owners: owners, options: options)
        guard status.uid == uid, status.gid == gid, status.mtime == node.mtime else { return false }
        if node.kind == .symlink { return true }
        guard status.mode == node.mode else { return false }
        if unchangedSinceBackup(status, node) || confirmed[status.inode] == status.ctime { return true }
        let xattrs = try? dirFD.map { try Posix.listXattrs(at: $0, node.name, path: path()) } ?? fs.extendedAttributes(path())
        guard xattrs == node.xattrs else { return false }
        if settled(status) { walk.confirmed[status.inode] = status.ctime }
        return true
    }
}

fileprivate extension DeltaRestore.Walker {
    /// The live entry is the one the backup read and nothing changed it since: the same inode
    /// with the ctime recorded, which every change of content, mode, owner or xattrs moves. The
    /// ctime must be older than the capture by more than its granularity (a change within the
    /// same tick after the read would keep it), and never zero (the backup's mark for a file it
    /// read while it changed). Spares the xattr reads of a walk on the host the snapshot came from.
    func unchangedSinceBackup(_ status: FileStatus, _ node: Node) -> Bool {
        status.inode == node.inode && status.ctime == node.ctime && node.ctime.seconds > 0 && node.ctime.seconds < backedUpAfter
    }
}

/// Decoded trees, shared by the walkers.
final class TreeCache: Sendable {
    private let trees = Mutex<[BlobID: [Node]]>([:])

    func nodes(_ id: BlobID, _ repository: Repository) throws -> [Node] {
        if let known = trees.withLock({ $0[id] }) { return known }
        let nodes = try repository.loadTree(id).nodes
        trees.withLock { $0[id] = nodes }
        return nodes
    }
}

/// Hands per-worker state to `concurrentPerform`: each worker touches only its own element.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
