import Foundation
import LockstepApps
import LockstepCore
import LockstepHost
#if canImport(Glibc)
import Glibc
#endif

/// `restore SNAPSHOT --in-place`: the documented restore procedure for an application snapshot.
///
/// Everything slow happens while the service still runs, into places it never reads: each
/// captured path is compared with the snapshot and what differs is staged beside it (same file
/// system, `DeltaRestore`), each PostgreSQL dump is restored into a new database. Then, in the
/// stop window: a safety snapshot of the current state, a second comparison (what the service
/// changed since is staged too), the switch (the differing entries renamed aside, the staged
/// ones into place, metadata fixed; the databases renamed), a verification against the snapshot
/// of what the switch changed, and the start. A failure before the switch changes nothing; a failure during it
/// or in the verification puts the old entries, metadata and databases back. The service is
/// started again on every path out of the window.
struct InPlaceRestore {
    struct Options {
        var force = false
        var safetySnapshot = true
        var clean = false
        var numericOwner = false
        var userMap: [String: String] = [:]
        var groupMap: [String: String] = [:]
        var workers: Int?
    }

    struct Summary: Encodable {
        var snapshotID: String
        var safetySnapshotID: String?
        var paths: [String]
        var databases: [String]
        var keptDatabases: [String]
        /// Files written (rewritten or created) and their bytes.
        var files: Int
        var bytes: Int64
        /// Entries the snapshot lacks, removed (a directory counts once).
        var removed: Int
        /// Kept entries whose metadata (owner, mode, times, xattrs) was fixed; directories included.
        var metadataFixed: Int
        /// Entries left exactly as they were.
        var keptUnchanged: Int
        var downtimeSeconds: Double?
        /// Seconds of each step: `plan`, `stage`, `databases` (while the service runs);
        /// `safety_snapshot`, `refresh`, `switch`, `verify` (in the window); `cleanup` (the
        /// previous entries removed, after the start).
        var phaseSeconds: [String: Double]
        var forcedProblems: [String]

        enum CodingKeys: String, CodingKey {
            case snapshotID = "snapshot_id", safetySnapshotID = "safety_snapshot_id", paths, databases
            case keptDatabases = "kept_databases", files = "files_rewritten", bytes = "bytes_written"
            case removed = "entries_removed", metadataFixed = "metadata_fixed", keptUnchanged = "kept_unchanged"
            case downtimeSeconds = "downtime_seconds", phaseSeconds = "phase_seconds", forcedProblems = "forced_problems"
        }
    }

    var repository: Repository
    var found: StoredSnapshot
    var root: BlobID
    var options: Options
    var window: StopWindow
    var postgres: PostgresTools
    var host: String
    var interruption: @Sendable () -> String?
    /// Progress lines for the administrator (not printed with --json/--quiet).
    var say: (String) -> Void

    private var id8: String { found.id.short }
    private var reader: SnapshotReader { SnapshotReader(repository: repository, root: root) }

    // MARK: - The whole procedure

    func run() throws -> Summary {
        let meta = found.snapshot.metadata
        guard let application = meta["application"], let configPath = meta["config_path"] else {
            throw LockstepError(.usage, "snapshot \(id8) is not an application snapshot (it was taken with paths); restore it with --target DIR")
        }
        var forced = [String]()
        if meta["consistent"] != "true" {
            let why = "snapshot \(id8) was taken while \(application) ran (\(meta["inconsistent_reason"] ?? "not marked consistent"))"
            guard options.force else { throw LockstepError(.failure, "\(why); an in-place restore refuses it (pass --force to restore it anyway)") }
            forced.append(why)
        }
        let configuration = try snapshotConfiguration(configPath, application: ApplicationKind(rawValue: application) ?? .connect)
        let captureSet = try CaptureSet(configuration: configuration)
        let roots = found.snapshot.paths.filter { $0 != Archiver.reservedRoot && !$0.hasPrefix(Archiver.reservedRoot + "/") }
        let databases = try captureSet.databases.map { try DatabaseRestore(database: $0, snapshot: found, reader: reader, id8: id8) }

        var phases = [String: Double]()
        /// Runs `body`, adding its seconds to `phase`.
        func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { phases[phase, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }

        // 1. Compare each path with the snapshot and preflight: nothing has changed yet.
        let restorer = Restorer(repository: repository, reporter: ConsoleReporter(verbose: false))
        var deltas = [DeltaRestore]()
        for path in roots {
            guard let node = try reader.node(at: path) else { continue }  // the preflight names it
            let delta = try DeltaRestore(path: path, node: node, id8: id8, snapshotTime: found.snapshot.time,
                                         repository: repository, restorer: restorer, options: restoreOptions())
            try timed("plan") { try delta.planChanges() }
            deltas.append(delta)
        }
        let problems = try preflight(roots: roots, deltas: deltas, configuration: configuration, databases: databases)
        if !problems.isEmpty {
            guard options.force else {
                throw LockstepError(.failure, "the restore of \(id8) was refused before anything changed: " + problems.joined(separator: "; ")
                                    + " (fix these, or pass --force)")
            }
            forced += problems
        }

        // 2. Stage what differs while the service runs.
        var createdDatabases = [DatabaseRestore]()
        var committed = false
        var keepOld = false
        defer {
            if !committed {
                for d in deltas { d.discard(keepingOld: keepOld) }
                for d in createdDatabases { d.dropNew(postgres) }
            }
        }
        try timed("stage") { for d in deltas { try d.stageChanges() } }
        say("compared \(deltas.count) path(s) with the snapshot: " + describe(deltas.map(\.plan)) + " (staged)")
        if !options.clean {
            for d in databases {
                try timed("databases") { try d.createAndLoad(postgres, reader: reader) }
                createdDatabases.append(d)
                say("restored the \(d.role) database into \(d.newName) (the current one is untouched)")
            }
        }
        if let reason = interruption() { throw LockstepError(.failure, "interrupted by \(reason) before the service was stopped; nothing was changed") }

        // 3. The window: safety snapshot, switch, verify; the service starts again whatever happens.
        var safetyID: String?
        var kept = [String]()
        let outcome: StopWindow.Result
        do {
          outcome = try window.run {
            if options.safetySnapshot {
                safetyID = try timed("safety_snapshot") {
                    try takeSafetySnapshot(application: application, configuration: configuration, captureSet: captureSet)
                }
                say("safety snapshot \(safetyID!.prefix(8)) holds the state before this restore (restore it to undo)")
            }
            var switched = [DeltaRestore]()
            var renamed = [DatabaseRestore]()
            do {
                // The service may have written since the comparison: compare again, stage what changed.
                try timed("refresh") { for d in deltas { try d.refresh() } }
                say("in the window: " + describe(deltas.map(\.plan)))
                try timed("switch") {
                    for d in deltas {
                        switched.append(d)
                        try d.apply()
                    }
                    for d in databases {
                        if options.clean {
                            try d.restoreClean(postgres, reader: reader)
                        } else {
                            try d.switchIn(postgres)
                            renamed.append(d)
                        }
                    }
                }
                TestHook.pass("before-verify")
                // What the switch touched against the snapshot, the content of every file written.
                let differences = try timed("verify") { try deltas.flatMap { try $0.verify() } }
                if !differences.isEmpty {
                    throw LockstepError(.failure, "the restored paths differ from the snapshot: " + differences.prefix(5).joined(separator: "; "))
                }
            } catch {
                for d in renamed.reversed() { d.switchBack(postgres) }
                var stuck = [String]()
                for d in switched.reversed() { stuck += d.rollback() }
                if !stuck.isEmpty {
                    keepOld = true
                    throw LockstepError(.failure, "\(error); putting the previous state back failed too: " + stuck.joined(separator: "; ")
                                        + " (the previous entries are under " + deltas.map(\.old).joined(separator: ", ") + ")")
                }
                let undo = safetyID.map { "; safety snapshot \($0.prefix(8)) holds it too" } ?? ""
                let cleaned = options.clean && !databases.isEmpty
                    ? " (except the database(s) restored over with --clean: restore the safety snapshot for them)" : ""
                throw LockstepError(.failure, "\(error); the previous paths and databases were put back\(cleaned)\(undo)")
            }
            committed = true
            kept = renamed.map(\.oldName)
          }
        } catch let down as LockstepError where down.code == .serviceNotStarted && committed {
            throw LockstepError(.serviceNotStarted, "snapshot \(id8) was restored in place"
                                + (safetyID.map { " (safety snapshot \($0.prefix(8)))" } ?? "") + ", but " + down.message)
        }
        timed("cleanup") { for d in deltas { d.discard() } }
        let plans = deltas.map(\.plan)
        DeltaRestore.release(&deltas)
        return Summary(snapshotID: found.id.hex, safetySnapshotID: safetyID, paths: roots,
                       databases: databases.map(\.name), keptDatabases: kept,
                       files: plans.reduce(0) { $0 + $1.files }, bytes: plans.reduce(0) { $0 + $1.bytes },
                       removed: plans.reduce(0) { $0 + $1.remove.count },
                       metadataFixed: plans.reduce(0) { $0 + $1.metadata.count + $1.directories.count },
                       keptUnchanged: plans.reduce(0) { $0 + $1.kept },
                       downtimeSeconds: outcome.times.downtime, phaseSeconds: phases, forcedProblems: forced)
    }

    // MARK: - Configuration and preflight

    private func snapshotConfiguration(_ path: String, application: ApplicationKind) throws -> ConnectConfiguration {
        guard let node = try reader.node(at: path), node.kind == .file else {
            throw LockstepError(.damaged, "the configuration \(path) is not in snapshot \(id8)")
        }
        let text = String(decoding: try reader.contents(of: node), as: UTF8.self)
        // Environment overrides (CONNECT_POSTGRES_PASSWORD…) of this host apply, as they will for the service.
        return try ConnectConfiguration(document: try GcfgParser.parse(text, path: path), environment: ProcessInfo.processInfo.environment,
                                        application: application)
    }

    private func preflight(roots: [String], deltas: [DeltaRestore], configuration: ConnectConfiguration,
                           databases: [DatabaseRestore]) throws -> [String] {
        var problems = [String]()
        for path in roots where !deltas.contains(where: { $0.path == path }) {
            problems.append("\(path) is listed in the snapshot but has no entry")
        }
        var needed = [UInt64: (path: String, bytes: Int64)]()
        var users = [String: UInt32](), groups = [String: UInt32]()
        for d in deltas {
            users.merge(d.plan.users) { a, _ in a }
            groups.merge(d.plan.groups) { a, _ in a }
            let parent = existingAncestor(of: d.path)
            var st = stat()
            if stat(parent, &st) == 0 {
                let device = UInt64(st.st_dev)
                needed[device] = (needed[device]?.path ?? parent, (needed[device]?.bytes ?? 0) + d.plan.bytes)
            }
        }
        for (user, uid) in users.sorted(by: { $0.key < $1.key }) where !user.isEmpty {
            if options.userMap[user] == nil && options.userMap[String(uid)] == nil && getpwnam(user) == nil && !options.numericOwner {
                problems.append("user \(user) (uid \(uid)) owns files in the snapshot but does not exist here (create it, or pass --map-user \(user)=NAME)")
            }
        }
        for (group, gid) in groups.sorted(by: { $0.key < $1.key }) where !group.isEmpty {
            if options.groupMap[group] == nil && options.groupMap[String(gid)] == nil && getgrnam(group) == nil && !options.numericOwner {
                problems.append("group \(group) (gid \(gid)) owns files in the snapshot but does not exist here (create it, or pass --map-group \(group)=NAME)")
            }
        }
        for (_, need) in needed {
            var fs = statvfs()
            if statvfs(need.path, &fs) == 0 {
                let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
                let margin: Int64 = 64 << 20
                if free < need.bytes + margin {
                    problems.append("not enough free space on the file system of \(need.path): the staged files need \(Console.bytes(need.bytes + margin)), \(Console.bytes(free)) is free")
                }
            }
        }
        problems += ApplicationPlan.missingExecutables(configuration, probe: LocalHostProbe())
        if !databases.isEmpty {
            do { _ = try postgres.launcher.run("pg_restore", ["--version"], environment: [:], timeout: 30) } catch {
                problems.append("\(error)")
            }
        }
        for d in databases {
            do {
                try d.preflight(postgres, clean: options.clean)
            } catch {
                problems.append("\(error)")
            }
        }
        return problems
    }

    private func existingAncestor(of path: String) -> String {
        var current = (path as NSString).deletingLastPathComponent
        while !FileManager.default.fileExists(atPath: current) && current != "/" {
            current = (current as NSString).deletingLastPathComponent
        }
        return current
    }

    // MARK: - Files

    /// "12 files (3.4 MB) to write, 2 entries to remove, 5 to fix, 139876 unchanged".
    private func describe(_ plans: [DeltaRestore.Plan]) -> String {
        let files = plans.reduce(0) { $0 + $1.files }, bytes = plans.reduce(0) { $0 + $1.bytes }
        let removed = plans.reduce(0) { $0 + $1.remove.count }, kept = plans.reduce(0) { $0 + $1.kept }
        let fixed = plans.reduce(0) { $0 + $1.metadata.count + $1.directories.count }
        return "\(files) file(s) (\(Console.bytes(bytes))) to write, \(removed) entr\(removed == 1 ? "y" : "ies") to remove, "
            + "\(fixed) to fix (metadata), \(kept) unchanged"
    }

    private func restoreOptions() -> RestoreOptions {
        var o = RestoreOptions(target: "/")
        o.numericOwner = options.numericOwner
        o.userMap = options.userMap
        o.groupMap = options.groupMap
        o.overwrite = true
        if let workers = options.workers { o.workers = workers }
        return o
    }

    private func takeSafetySnapshot(application: String, configuration: ConnectConfiguration, captureSet: CaptureSet) throws -> String {
        let paths = found.snapshot.paths.filter { FileManager.default.fileExists(atPath: $0) && !$0.hasPrefix(Archiver.reservedRoot) }
        var request = BackupRequest(paths: paths, host: host, program: programVersion)
        request.tags = ["safety"]
        request.interruption = interruption
        request.parent = try repository.listSnapshots().last { $0.snapshot.host == host && $0.snapshot.metadata["application"] == application }
        request.metadata = [
            "application": application, "provider": configuration.provider.rawValue, "config_path": configuration.configPath,
            "consistent": "true", "safety_before_restore_of": found.id.hex,
        ]
        request.streams = captureSet.databases.map { ApplicationBackup.dump($0, tools: postgres, metadata: &request.metadata) }
        let archiver = Archiver(repository: repository, fs: LocalFileSystem(), reporter: ConsoleReporter(verbose: false))
        let (id, _, summary) = try archiver.run(request)
        if summary.errors > 0 {
            say("warning: \(summary.errors) path(s) could not be read into the safety snapshot (named above)")
        }
        return id.hex
    }
}

/// One PostgreSQL database: restored into `<name>_lockstep_<id>` while the service runs, then
/// renamed into place in the window (the current one is kept as `<name>_before_<id>`); or, with
/// `--clean`, restored over the current one in a single transaction.
struct DatabaseRestore {
    let role: String
    let name: String
    let newName: String
    let oldName: String
    let connection: PostgresConnection
    let maintenance: PostgresConnection
    let shown: String
    let dump: Node

    init(database: PostgresDatabase, snapshot: StoredSnapshot, reader: SnapshotReader, id8: String) throws {
        role = database.role.rawValue
        connection = PostgresConnection(database)
        guard let name = connection.databaseName else {
            throw LockstepError(.failure, "\(database.url.key) names no database (\(database.redactedURL)); an in-place restore needs it")
        }
        self.name = name
        newName = "\(name)_lockstep_\(id8)"
        oldName = "\(name)_before_\(id8)"
        maintenance = connection.with(database: "postgres")
        shown = "\(role) database \(database.redactedURL)"
        let path = snapshot.snapshot.metadata["postgres_\(role)_dump"] ?? ApplicationBackup.dumpPath(database.role)
        guard let dump = try reader.node(at: path), dump.kind == .file else {
            throw LockstepError(.damaged, "the \(role) database dump \(path) is not in snapshot \(id8)")
        }
        self.dump = dump
    }

    private static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    func preflight(_ tools: PostgresTools, clean: Bool) throws {
        _ = try tools.serverVersion(maintenance, shownAs: shown + " (through its postgres database)")
        if !clean {
            let may = try tools.query("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user", on: maintenance, shownAs: shown)
            if may != "t" {
                throw LockstepError(.failure, "the role of \(shown) may not create databases; grant it CREATEDB, or pass --clean to restore over the current database")
            }
        }
    }

    func createAndLoad(_ tools: PostgresTools, reader: SnapshotReader) throws {
        _ = try tools.query("DROP DATABASE IF EXISTS \(Self.quoted(newName))", on: maintenance, shownAs: shown)
        _ = try tools.query("CREATE DATABASE \(Self.quoted(newName))", on: maintenance, shownAs: shown)
        do {
            try load(tools, into: connection.with(database: newName), reader: reader, clean: false)
        } catch {
            dropNew(tools)
            throw error
        }
    }

    func restoreClean(_ tools: PostgresTools, reader: SnapshotReader) throws {
        try load(tools, into: connection, reader: reader, clean: true)
    }

    private func load(_ tools: PostgresTools, into target: PostgresConnection, reader: SnapshotReader, clean: Bool) throws {
        let content = reader.reader(of: dump)
        let result = try tools.restore(into: target, clean: clean, input: { try content.read(into: $0) })
        guard result.status == 0 else {
            throw LockstepError(.failure, "pg_restore into \(shown) failed (exit \(result.status)): \(result.lastLine)")
        }
    }

    func switchIn(_ tools: PostgresTools) throws {
        _ = try tools.query("ALTER DATABASE \(Self.quoted(name)) RENAME TO \(Self.quoted(oldName))", on: maintenance, shownAs: shown)
        do {
            _ = try tools.query("ALTER DATABASE \(Self.quoted(newName)) RENAME TO \(Self.quoted(name))", on: maintenance, shownAs: shown)
        } catch {
            _ = try? tools.query("ALTER DATABASE \(Self.quoted(oldName)) RENAME TO \(Self.quoted(name))", on: maintenance, shownAs: shown)
            throw error
        }
    }

    func switchBack(_ tools: PostgresTools) {
        _ = try? tools.query("ALTER DATABASE \(Self.quoted(name)) RENAME TO \(Self.quoted(newName))", on: maintenance, shownAs: shown)
        _ = try? tools.query("ALTER DATABASE \(Self.quoted(oldName)) RENAME TO \(Self.quoted(name))", on: maintenance, shownAs: shown)
    }

    func dropNew(_ tools: PostgresTools) {
        _ = try? tools.query("DROP DATABASE IF EXISTS \(Self.quoted(newName))", on: maintenance, shownAs: shown)
    }
}
