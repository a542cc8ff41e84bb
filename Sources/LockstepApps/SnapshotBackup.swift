import Foundation
package import LockstepCore

/// What `backup --fs-snapshot` needs besides the stop window.
package struct FileSystemSnapshotCapture: Sendable {
    package var snapshotter: any FileSystemSnapshotter
    package var repository: Repository
    /// The host's file system; the capture reads it through a `RebasedFileSystem`.
    package var liveFileSystem: any SourceFileSystem
    /// An archiver reading `fs` (the same repository, reporter and progress as the window's).
    package var archiver: @Sendable (any SourceFileSystem) -> Archiver
    /// Tells the administrator something that is not an error (a leftover snapshot removed).
    package var notice: @Sendable (String) -> Void

    package init(snapshotter: any FileSystemSnapshotter, repository: Repository, liveFileSystem: any SourceFileSystem,
                 archiver: @escaping @Sendable (any SourceFileSystem) -> Archiver, notice: @escaping @Sendable (String) -> Void) {
        self.snapshotter = snapshotter
        self.repository = repository
        self.liveFileSystem = liveFileSystem
        self.archiver = archiver
        self.notice = notice
    }
}

extension ApplicationBackup {
    /// `--fs-snapshot`: before the stop, the snapshotter's plan (or a refusal, nothing stopped);
    /// in the window, a read-only snapshot of each volume and of each PostgreSQL database, then
    /// the few paths on no volume (the configuration, a key file elsewhere), read the normal way;
    /// after the start, the snapshots are read as the live paths, the databases dumped, and all
    /// merged with the window's capture. The snapshots are deleted on every way out.
    func runFromFileSystemSnapshot(window: StopWindow, setup: FileSystemSnapshotCapture, archiver: Archiver,
                                   request: BackupRequest, databases: [PostgresDatabase], metadata: [String: String]) throws -> Result {
        let roots = try Archiver.normalize(request.paths).map(\.pathString)
        var required = [(path: configuration.dataDir.value, setting: configuration.dataDir.key)]
        if configuration.provider == .sqlite, probe.mode(of: configuration.sqliteDir.value) != nil {
            required.append((configuration.sqliteDir.value, configuration.sqliteDir.key))
        }
        let plan = try setup.snapshotter.plan(paths: roots, required: required, notice: setup.notice)
        var metadata = metadata
        metadata["fs_snapshot"] = setup.snapshotter.kind
        metadata["fs_snapshot_paths"] = plan.snapshottedPaths.joined(separator: ", ")
        if !plan.unsnapshotted.isEmpty { metadata["window_paths"] = plan.unsnapshotted.joined(separator: ", ") }

        var mounts = [SnapshotMount]()
        defer {
            for mount in mounts.reversed() {
                do { try setup.snapshotter.delete(mount) } catch { setup.notice("\(error); delete it by hand") }
            }
        }
        let sqliteDir = configuration.sqliteDir.value
        let sqliteInSnapshot = plan.snapshottedPaths.contains { LexicalPath.contains($0, sqliteDir) }
        var frozenDatabases = [PostgresTools.HeldSnapshot]()
        defer { frozenDatabases.forEach { $0.release() } }
        var windowRequest = request
        windowRequest.paths = plan.unsnapshotted
        var inWindow: Archiver.Captured?
        var frozenAt: Date?
        var times = WindowTimes()
        var serviceDown: LockstepError?
        do {
            times = try window.run {
                let started = clock()
                for volume in plan.volumes { mounts.append(try setup.snapshotter.take(volume)) }
                metadata["fs_snapshot_seconds"] = String(format: "%.3f", clock().timeIntervalSince(started))
                frozenDatabases = try freeze(databases)
                if !windowRequest.paths.isEmpty {
                    let captured = try archiver.capture(windowRequest)
                    metadata["window_files_read"] = String(captured.summary.filesNew + captured.summary.filesChanged)
                    metadata["window_bytes_read"] = String(captured.summary.bytesRead)
                    metadata["window_capture_seconds"] = String(format: "%.3f", captured.summary.durationSeconds)
                    inWindow = captured
                }
                if !sqliteInSnapshot { metadata["sqlite_integrity"] = integrity(in: sqliteDir) }
                frozenAt = started
            }.times
        } catch let down as LockstepError where down.code == .serviceNotStarted && frozenAt != nil {
            serviceDown = down  // the data is frozen: capture and commit it, then page the operator
        }

        let commit = { () throws -> Result in
            let reader = setup.archiver(RebasedFileSystem(base: setup.liveFileSystem, mounts: mounts))
            var fromSnapshot = request
            fromSnapshot.paths = plan.snapshottedPaths
            fromSnapshot.streams = []
            var captured = try reader.capture(fromSnapshot)
            metadata["snapshot_capture_seconds"] = String(format: "%.3f", captured.summary.durationSeconds)
            if sqliteInSnapshot { metadata["sqlite_integrity"] = integrity(in: Self.frozen(sqliteDir, in: mounts)) }
            if let inWindow { captured = try Self.union(captured, inWindow, repository: setup.repository) }
            captured = try addDumps(of: databases, frozen: frozenDatabases, to: captured, archiver: reader, request: request,
                                    metadata: &metadata)
            captured.started = frozenAt ?? captured.started  // the snapshot's time is the moment it was frozen
            metadata.merge(Self.timing(times)) { $1 }
            metadata["consistent"] = "true"
            if serviceDown != nil { metadata["service_restarted"] = "false" }
            let (id, snapshot, summary) = try reader.commit(captured, request: request, metadata: metadata)
            return Result(id: id, snapshot: snapshot, summary: summary, times: times, consistent: true)
        }
        if let serviceDown { throw Self.serviceDown(serviceDown) { try commit().id } }
        return try commit()
    }

    /// The exit-20 error after a complete capture: commits it first, and says whether that worked.
    static func serviceDown(_ down: LockstepError, committing commit: () throws -> BlobID) -> LockstepError {
        let outcome: String
        var committed: BlobID?
        do {
            committed = try commit()
            outcome = "the backup itself is complete: snapshot \(committed!.short)"
        } catch {
            outcome = "and the snapshot could not be committed: \(error)"
        }
        var error = LockstepError(.serviceNotStarted, down.message + "; " + outcome)
        error.committedSnapshot = committed?.hex
        return error
    }

    /// Where the live `path` is in the snapshot of the volume holding it.
    private static func frozen(_ path: String, in mounts: [SnapshotMount]) -> String {
        guard let mount = mounts.filter({ LexicalPath.contains($0.live, path) }).max(by: { $0.live.count < $1.live.count }) else {
            return path
        }
        let rest = path.dropFirst(mount.live == "/" ? 1 : mount.live.count).drop { $0 == "/" }
        return rest.isEmpty ? mount.snapshot : LexicalPath.join(mount.snapshot, String(rest))
    }

    /// One capture holding both (of disjoint paths; `a`'s start time), its tree flushed.
    static func union(_ a: Archiver.Captured, _ b: Archiver.Captured, repository: Repository) throws -> Archiver.Captured {
        var out = a
        let (tree, shared) = try merge(a.tree, b.tree, repository: repository)
        try repository.flush()
        out.tree = tree
        out.summary = add(a.summary, b.summary, sharedDirectories: shared)
        out.paths = try Archiver.normalize(a.paths + b.paths).map(\.pathString)
        return out
    }

    /// One tree holding both: the paths of two captures are disjoint, so only the directories
    /// leading to them can meet, and those are merged (the first capture's metadata kept).
    /// Returns the tree and how many directories both had.
    static func merge(_ a: BlobID, _ b: BlobID, repository: Repository) throws -> (BlobID, shared: Int) {
        var nodes = try repository.loadTree(a).nodes
        var shared = 0
        for node in try repository.loadTree(b).nodes {
            guard let i = nodes.firstIndex(where: { $0.name == node.name }) else {
                nodes.append(node)
                continue
            }
            guard let left = nodes[i].subtree, let right = node.subtree else { continue }
            let (merged, inner) = try merge(left, right, repository: repository)
            nodes[i].subtree = merged
            shared += 1 + inner
        }
        return (try repository.saveTree(Tree(nodes: nodes)).id, shared)
    }

    /// The counts of two captures of disjoint paths, as one.
    static func add(_ a: BackupSummary, _ b: BackupSummary, sharedDirectories: Int) -> BackupSummary {
        var s = a
        s.filesNew += b.filesNew
        s.filesChanged += b.filesChanged
        s.filesUnmodified += b.filesUnmodified
        s.directories += b.directories - sharedDirectories
        s.otherEntries += b.otherEntries
        s.bytesRead += b.bytesRead
        s.bytesAdded += b.bytesAdded
        s.bytesStored += b.bytesStored
        s.totalBytes += b.totalBytes
        s.blobsAdded += b.blobsAdded
        s.errors += b.errors
        s.changedWhileRead += b.changedWhileRead
        s.skippedSockets += b.skippedSockets
        return s
    }
}
