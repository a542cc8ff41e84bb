package import Foundation
package import LockstepCore

/// An application backup: the capture set of the configuration, taken inside the stop window
/// (or, with `--no-stop`, with the service already stopped by the administrator), with the facts
/// a restore needs recorded in the snapshot: application, consistency, database provider, the
/// configuration's digest, the key file's fingerprint, SQLite integrity, stop and start times and
/// the downtime. The snapshot is committed after the service runs again; if the service cannot
/// be started, a complete capture is still committed and the exit-20 error follows.
package struct ApplicationBackup {
    package enum Mode: Sendable {
        /// Stop the service, capture, start it: the documented procedure.
        case stopWindow(StopWindow)
        /// The administrator stopped the service; refuse if it runs, unless `live`.
        case alreadyStopped(any ServiceControl, live: Bool)
        /// `--fs-snapshot`: stop, snapshot the file system, start; capture from the snapshot
        /// while the service runs (see `SnapshotBackup.swift`).
        case fileSystemSnapshot(StopWindow, FileSystemSnapshotCapture)
    }

    package var application: String
    package var configuration: ConnectConfiguration
    package var captureSet: CaptureSet
    package var mode: Mode
    package var probe: any HostProbe
    /// `PRAGMA integrity_check` of a SQLite file: "ok" or the problems.
    package var sqliteIntegrity: @Sendable (String) -> String
    package var readFile: @Sendable (String) -> Data?
    package var listDirectory: @Sendable (String) -> [String]
    package var clock: @Sendable () -> Date = { Date() }
    /// `pg_dump` and `psql`, for the postgres provider.
    package var postgres: PostgresTools?
    /// Seconds the snapshot export in the window waits for a table lock another session holds.
    package var lockTimeout = 10

    package init(application: String, configuration: ConnectConfiguration, captureSet: CaptureSet, mode: Mode,
                 probe: any HostProbe, sqliteIntegrity: @escaping @Sendable (String) -> String,
                 readFile: @escaping @Sendable (String) -> Data?, listDirectory: @escaping @Sendable (String) -> [String]) {
        self.application = application
        self.configuration = configuration
        self.captureSet = captureSet
        self.mode = mode
        self.probe = probe
        self.sqliteIntegrity = sqliteIntegrity
        self.readFile = readFile
        self.listDirectory = listDirectory
    }

    package struct Result: Sendable {
        package var id: BlobID
        package var snapshot: Snapshot
        package var summary: BackupSummary
        package var times: WindowTimes
        package var consistent: Bool
    }

    /// Runs the backup. `request.paths` is ignored: the capture set decides.
    package func run(archiver: Archiver, request: BackupRequest) throws -> Result {
        var request = request
        request.paths = captureSet.entries.filter { !$0.isOptional || probe.mode(of: $0.path) != nil }.map(\.path)
        for missing in captureSet.entries where !missing.isOptional && probe.mode(of: missing.path) == nil {
            throw LockstepError(.failure, "\(missing.path) does not exist (\(missing.reasons.first?.description ?? "named by the configuration")); fix the configuration or the path (see `lockstep plan`); nothing was stopped")
        }
        var metadata = [
            "application": application,
            "provider": configuration.provider.rawValue,
            "config_path": configuration.configPath,
        ]
        if let config = readFile(configuration.configPath) { metadata["config_sha256"] = storageID(of: config).hex }
        if let key = readFile(configuration.encryptionKeyFile.value) { metadata["key_sha256"] = storageID(of: key).hex }
        // PostgreSQL: everything that can be checked is checked before the service is stopped.
        let databases = try prepareDumps(metadata: &metadata)

        let integrity = { () -> String in self.integrity(in: configuration.sqliteDir.value) }

        switch mode {
        case .fileSystemSnapshot(let window, let setup):
            return try runFromFileSystemSnapshot(window: window, setup: setup, archiver: archiver, request: request,
                                                 databases: databases, metadata: metadata)

        case .alreadyStopped(let control, let live):
            let state = (try? control.state()) ?? .unknown("status command failed")
            let running = state != .stopped
            if running && !live {
                throw LockstepError(.failure, "\(control.summary) is still running (\(state)); stop it first, or drop --no-stop to let lockstep stop and start it (--live takes an inconsistent snapshot)")
            }
            var times = WindowTimes()
            var request = request
            request.streams = databases.map { dump($0) }
            let captured = try archiver.capture(request)
            metadata["sqlite_integrity"] = integrity()
            metadata["consistent"] = running ? "false" : "true"
            if running { metadata["inconsistent_reason"] = "taken with --live while the service ran" }
            times.stopped = captured.started
            let (id, snapshot, summary) = try archiver.commit(captured, request: request, metadata: metadata)
            return Result(id: id, snapshot: snapshot, summary: summary, times: times, consistent: !running)

        case .stopWindow(let window):
            // The pre-pass: while the service runs, store the data (no snapshot). The window then
            // re-reads only what changed since — a file whose size, times, inode, mode or owner moved
            // (its ctime included) is read again, never trusted.
            var preRequest = request
            preRequest.isPrePass = true
            let prePass = try archiver.capture(preRequest)
            var windowRequest = request
            windowRequest.compareWith = prePass.tree
            var captured: Archiver.Captured?
            var frozen = [PostgresTools.HeldSnapshot]()
            defer { frozen.forEach { $0.release() } }
            var windowMetadata = metadata
            windowMetadata["pre_pass_seconds"] = String(format: "%.3f", prePass.summary.durationSeconds)
            var times: WindowTimes?
            var down: LockstepError?
            do {
                times = try window.run {
                    // Each database's state at this moment, dumped after the service runs again.
                    frozen = try freeze(databases)
                    var inWindow = try archiver.capture(windowRequest)
                    windowMetadata["window_files_read"] = String(inWindow.summary.filesNew + inWindow.summary.filesChanged)
                    windowMetadata["window_bytes_read"] = String(inWindow.summary.bytesRead)
                    windowMetadata["window_capture_seconds"] = String(format: "%.3f", inWindow.summary.durationSeconds)
                    inWindow.summary = Self.combine(prePass: prePass.summary, window: inWindow.summary)
                    captured = inWindow
                    windowMetadata["sqlite_integrity"] = integrity()
                }.times
            } catch let error as LockstepError where error.code == .serviceNotStarted && captured != nil {
                down = error  // the capture is complete and consistent: keep it, then page the operator
            }
            let commit = { () throws -> Result in
                let all = try addDumps(of: databases, frozen: frozen, to: captured!, archiver: archiver, request: request,
                                       metadata: &windowMetadata)
                if let times { windowMetadata.merge(Self.timing(times)) { $1 } }
                windowMetadata["consistent"] = "true"
                if down != nil { windowMetadata["service_restarted"] = "false" }
                let (id, snapshot, summary) = try archiver.commit(all, request: request, metadata: windowMetadata)
                return Result(id: id, snapshot: snapshot, summary: summary, times: times ?? WindowTimes(), consistent: true)
            }
            if let down { throw Self.serviceDown(down) { try commit().id } }
            return try commit()
        }
    }

    /// `PRAGMA integrity_check` of each `*.db` in `dir`, as `name: result; …`.
    func integrity(in dir: String) -> String {
        let databases = listDirectory(dir).filter { $0.hasSuffix(".db") }.sorted()
        return databases.map { "\($0): \(sqliteIntegrity(dir + "/" + $0))" }.joined(separator: "; ")
    }

    /// Where a database's dump is kept in the snapshot.
    package static func dumpPath(_ role: PostgresDatabase.Role) -> String {
        "\(Archiver.reservedRoot)/postgres/\(role.rawValue).pgdump"
    }

    /// With the postgres provider: proves each database reachable with its credentials and
    /// `pg_dump` present, records the versions and where each dump goes, and returns the
    /// databases to dump.
    func prepareDumps(metadata: inout [String: String]) throws -> [PostgresDatabase] {
        guard configuration.provider == .postgres else { return [] }
        guard let postgres else { throw LockstepError(.failure, "PostgreSQL tools are not available") }
        let dumpVersion: String
        do { dumpVersion = try postgres.dumpVersion() } catch {
            throw LockstepError(.failure, "\(error); nothing was stopped")
        }
        metadata["pg_dump_version"] = dumpVersion
        for database in captureSet.databases {
            let connection = PostgresConnection(database)
            let version: String
            do { version = try postgres.serverVersion(connection, shownAs: Self.shownName(database)) } catch let error as LockstepError {
                throw LockstepError(.failure, "cannot reach the \(error.message); check \(database.url.key) and its password, then run `lockstep plan`; nothing was stopped")
            }
            metadata["postgres_\(database.role.rawValue)_server_version"] = version
            Self.record(database, in: &metadata)
        }
        return captureSet.databases
    }

    /// Inside the window, with the service stopped: a snapshot of each database exported and held
    /// (see `PostgresTools.exportSnapshot`), so the dumps can run after the service is started.
    func freeze(_ databases: [PostgresDatabase]) throws -> [PostgresTools.HeldSnapshot] {
        guard let postgres, !databases.isEmpty else { return [] }
        var held = [PostgresTools.HeldSnapshot]()
        do {
            for database in databases {
                held.append(try postgres.exportSnapshot(PostgresConnection(database), shownAs: Self.shownName(database),
                                                       lockTimeout: lockTimeout))
            }
        } catch {
            held.forEach { $0.release() }
            throw error
        }
        return held
    }

    /// After the window: `captured` with the dumps of the snapshots `frozen` in it added (read
    /// while the service runs; they hold the state of the stop moment). `postgres_dump_seconds`
    /// goes to `metadata`. A failed dump fails the whole backup: nothing is committed.
    func addDumps(of databases: [PostgresDatabase], frozen: [PostgresTools.HeldSnapshot], to captured: Archiver.Captured,
                  archiver: Archiver, request: BackupRequest, metadata: inout [String: String]) throws -> Archiver.Captured {
        guard !databases.isEmpty else { return captured }
        precondition(frozen.count == databases.count)
        var dumpRequest = request
        dumpRequest.paths = []
        dumpRequest.compareWith = nil
        dumpRequest.streams = zip(databases, frozen).map { dump($0, snapshot: $1) }
        let dumped = try archiver.capture(dumpRequest)
        metadata["postgres_dump_seconds"] = String(format: "%.3f", dumped.summary.durationSeconds)
        metadata["postgres_snapshot"] = "exported in the window, dumped after the start"
        return try Self.union(captured, dumped, repository: archiver.repository)
    }

    /// The stream file of one database's dump (of `snapshot` when given).
    func dump(_ database: PostgresDatabase, snapshot: PostgresTools.HeldSnapshot? = nil) -> any StreamSource {
        Self.dumpSource(database, tools: postgres!, snapshot: snapshot)
    }

    private static func dumpSource(_ database: PostgresDatabase, tools: PostgresTools,
                                   snapshot: PostgresTools.HeldSnapshot? = nil) -> any StreamSource {
        tools.dump(PostgresConnection(database), to: dumpPath(database.role), shownAs: shownName(database), snapshot: snapshot)
    }

    private static func shownName(_ database: PostgresDatabase) -> String {
        "\(database.role.rawValue) database \(database.redactedURL)"
    }

    /// A database's facts in a snapshot: `postgres_ROLE_url` (redacted) and `postgres_ROLE_dump`.
    private static func record(_ database: PostgresDatabase, in metadata: inout [String: String]) {
        let role = database.role.rawValue
        metadata["postgres_\(role)_url"] = database.redactedURL
        metadata["postgres_\(role)_dump"] = dumpPath(database.role)
    }

    /// The stream file of one database's dump, and its facts added to `metadata`.
    package static func dump(_ database: PostgresDatabase, tools: PostgresTools, metadata: inout [String: String]) -> any StreamSource {
        record(database, in: &metadata)
        return dumpSource(database, tools: tools)
    }

    /// Counts as the administrator reads them: what changed since the parent snapshot (the
    /// pre-pass saw it), plus what the window itself had to read and store.
    private static func combine(prePass: BackupSummary, window: BackupSummary) -> BackupSummary {
        var s = window
        s.filesNew = prePass.filesNew + window.filesNew
        s.filesChanged = prePass.filesChanged
        s.filesUnmodified = prePass.filesUnmodified
        s.bytesRead = prePass.bytesRead + window.bytesRead
        s.bytesAdded = prePass.bytesAdded + window.bytesAdded
        s.bytesStored = prePass.bytesStored + window.bytesStored
        s.blobsAdded = prePass.blobsAdded + window.blobsAdded
        s.changedWhileRead = window.changedWhileRead
        return s
    }

    static func timing(_ times: WindowTimes) -> [String: String] {
        var out = [String: String]()
        if let t = times.stopRequested { out["stop_requested"] = Snapshot.formatTime(t) }
        if let t = times.stopped { out["stopped"] = Snapshot.formatTime(t) }
        if let t = times.startRequested { out["start_requested"] = Snapshot.formatTime(t) }
        if let t = times.running { out["running"] = Snapshot.formatTime(t) }
        if let d = times.downtime { out["downtime_seconds"] = String(format: "%.3f", d) }
        return out
    }
}
