import ArgumentParser
import Foundation
import LockstepApps
import LockstepCore
import LockstepHost

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Back up paths into a new snapshot.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Paths to back up.")
    var paths: [String] = []

    @Option(name: .long, help: "A tag for the snapshot (repeatable).")
    var tag: [String] = []

    @Flag(name: .long, help: "Read every file, ignoring the parent snapshot.")
    var force = false

    @Option(name: .long, help: "Snapshot to compare with for unchanged files (default: the latest one of the same host and paths).")
    var parent: String?

    @Option(name: .long, help: "Reading threads (default: the number of cores).")
    var workers: Int?

    @OptionGroup(title: "Application backups (no PATH given)")
    var application: ApplicationOptions

    @Flag(name: .long, help: "Do not stop the service: it must already be stopped (see --live).")
    var noStop = false

    @Flag(name: .long, help: "With --no-stop: back up while the service runs; the snapshot is marked inconsistent.")
    var live = false

    @Flag(name: .long, help: "Leave the service stopped after the backup (for a migration).")
    var leaveStopped = false

    @Option(name: .long, help: "Seconds to wait for the service to stop, and to start (and for each service command).")
    var serviceTimeout: Double = 120

    @Option(name: .long, help: ArgumentHelp("Freeze the data in a file-system snapshot in the stop window and back it up while the service runs again.", valueName: "btrfs"))
    var fsSnapshot: String?

    @Option(name: .long, help: ArgumentHelp("PostgreSQL: seconds the snapshot export in the stop window waits for a table lock another session holds, then gives up (the service is started again, nothing committed).", valueName: "seconds"))
    var pgLockTimeout: Int = 10

    struct Output: Encodable {
        var snapshotID: String
        var summary: BackupSummary
        var partial: Bool
        var consistent: Bool?
        var downtimeSeconds: Double?
        var application: String?
        /// The phases an application backup timed (`pre_pass`, `fs_snapshot`, `window_capture`,
        /// `snapshot_capture`, `postgres_dump`), in seconds.
        var phaseSeconds: [String: Double]?

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(snapshotID, forKey: .snapshotID)
            try c.encode(partial, forKey: .partial)
            try c.encodeIfPresent(consistent, forKey: .consistent)
            try c.encodeIfPresent(downtimeSeconds, forKey: .downtimeSeconds)
            try c.encodeIfPresent(application, forKey: .application)
            try c.encodeIfPresent(phaseSeconds, forKey: .phaseSeconds)
        }

        enum Keys: String, CodingKey {
            case snapshotID = "snapshot_id", partial, consistent, downtimeSeconds = "downtime_seconds", application
            case phaseSeconds = "phase_seconds"
        }
    }

    /// `--json` on exit 20: the service is down; the snapshot, when it was committed.
    struct ServiceDownOutput: Encodable {
        var snapshotID: String?
        var serviceStarted = false
        var error: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(snapshotID, forKey: .snapshotID)  // null when the commit failed too
            try c.encode(serviceStarted, forKey: .serviceStarted)
            try c.encode(error, forKey: .error)
        }

        enum Keys: String, CodingKey { case snapshotID = "snapshot_id", serviceStarted = "service_started", error }
    }

    func run() throws {
        try execute {
            if live && !noStop {
                throw LockstepError(.usage, "--live goes with --no-stop (lockstep never captures a running service it stopped itself)")
            }
            guard pgLockTimeout >= 1 else {
                throw LockstepError(.usage, "--pg-lock-timeout takes whole seconds, at least 1 (not \(pgLockTimeout))")
            }
            if let fsSnapshot {
                guard fsSnapshot == "btrfs" else {
                    throw LockstepError(.usage, "--fs-snapshot takes btrfs (the only file system supported), not '\(fsSnapshot)'")
                }
                guard paths.isEmpty else { throw LockstepError(.usage, "--fs-snapshot goes with an application backup: give no PATH (see --app-config)") }
                guard !noStop else { throw LockstepError(.usage, "--fs-snapshot stops and starts the service itself: drop --no-stop") }
            }
            let repository = try global.openRepository()
            let lock = try RepositoryLock.acquire(repository, exclusive: false, host: hostName(), now: Date())
            defer { lock.release() }
            try repository.loadIndex()
            ProcessTuning.releaseFreeMemory()
            let host = hostName()
            var request = BackupRequest(paths: paths, host: host, program: programVersion)
            request.tags = tag
            if let workers { request.workers = workers }
            if let parent {
                request.parent = try repository.findSnapshot(parent)
            } else if !force && paths.isEmpty {
                request.parent = try repository.listSnapshots().last {
                    $0.snapshot.host == host && $0.snapshot.metadata["application"] == application.app
                }
            } else if !force {
                let normalized = try Archiver.normalize(paths).map(\.pathString)
                request.parent = try repository.listSnapshots().last { $0.snapshot.host == host && $0.snapshot.paths == normalized }
            }
            let archiver = Archiver(repository: repository, fs: LocalFileSystem(), reporter: ConsoleReporter(verbose: global.verbose))
            let line = ProgressLine(progress: archiver.progress, label: "backup")
            line.start(enabled: global.showProgress)
            let result: (id: BlobID, snapshot: Snapshot, summary: BackupSummary)
            var appResult: ApplicationBackup.Result?
            do {
                if paths.isEmpty {
                    appResult = try applicationBackup(archiver: archiver, request: request, repository: repository)
                    result = (appResult!.id, appResult!.snapshot, appResult!.summary)
                } else {
                    result = try archiver.run(request)
                }
                line.stop()
            } catch let down as LockstepError where down.code == .serviceNotStarted {
                line.stop()
                if global.json {
                    // Monitoring reads stdout: say what was committed, then exit 20 as documented.
                    try Console.json(ServiceDownOutput(snapshotID: down.committedSnapshot, error: down.message))
                }
                throw down
            } catch {
                line.stop()
                throw error
            }
            let s = result.summary
            let partial = s.errors > 0
            if global.json {
                try Console.json(Output(snapshotID: result.id.hex, summary: s, partial: partial, consistent: appResult?.consistent,
                                        downtimeSeconds: appResult?.times.downtime, application: appResult.map { _ in application.app },
                                        phaseSeconds: appResult.map { Self.phases($0.snapshot.metadata) }))
            } else if !global.quiet {
                if let appResult {
                    let downtime = appResult.times.downtime.map { String(format: "%.2f s", $0) } ?? "not measured (--no-stop)"
                    Console.out("\(application.app) backup: service downtime \(downtime); snapshot \(appResult.consistent ? "consistent" : "INCONSISTENT (taken while the service ran)")")
                    let facts = appResult.snapshot.metadata
                    if let kind = facts["fs_snapshot"] {
                        Console.out("from the \(kind) snapshot: \(facts["fs_snapshot_paths"] ?? "")")
                        if let window = facts["window_paths"] { Console.out("read in the window: \(window)") }
                    }
                }
                Console.out("snapshot \(result.id.short) saved")
                Console.out("files: \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnmodified) unmodified; \(s.directories) directories, \(s.otherEntries) other entries")
                Console.out("read \(Console.bytes(s.bytesRead)), added \(Console.bytes(s.bytesAdded)) (\(Console.bytes(s.bytesStored)) stored) in \(String(format: "%.2f", s.durationSeconds)) s")
                if s.changedWhileRead > 0 { Console.out("\(s.changedWhileRead) file(s) changed while read (see warnings)") }
                if s.skippedSockets > 0 { Console.out("\(s.skippedSockets) socket(s) skipped") }
            }
            if let integrity = appResult?.snapshot.metadata["sqlite_integrity"],
               integrity.split(separator: ";").contains(where: { !$0.hasSuffix(": ok") }) {
                Console.error("the snapshot was committed, but a SQLite database failed integrity_check: \(integrity); it was already damaged on this host")
                return ExitCodes.failure
            }
            if partial {
                Console.error("\(s.errors) path(s) could not be read; the snapshot holds everything else (exit 3)")
                return ExitCodes.partial
            }
            return ExitCodes.success
        }
    }
}

extension BackupCommand {
    /// The timed phases in a snapshot's metadata (`<phase>_seconds`), downtime aside.
    static func phases(_ metadata: [String: String]) -> [String: Double] {
        let names = ["pre_pass", "fs_snapshot", "window_capture", "snapshot_capture", "postgres_dump"]
        return Dictionary(uniqueKeysWithValues: names.compactMap { name in
            metadata[name + "_seconds"].flatMap(Double.init).map { (name, $0) }
        })
    }

    /// The application procedure: plan from the configuration, then the stop window (or the
    /// administrator's own stop), then the snapshot with its facts.
    fileprivate func applicationBackup(archiver: Archiver, request: BackupRequest, repository: Repository) throws -> ApplicationBackup.Result {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try application.configuration(environment: environment)
        let captureSet = try CaptureSet(configuration: configuration)
        let trap = SignalTrap()
        trap.install()
        var request = request
        request.interruption = { trap.pending }
        let (control, stopWindow) = try application.stopWindow(timeout: serviceTimeout, trap: trap)
        let mode: ApplicationBackup.Mode
        if noStop {
            mode = .alreadyStopped(control, live: live)
        } else if fsSnapshot != nil {
            var window = stopWindow
            window.leaveStopped = leaveStopped
            let reporter = ConsoleReporter(verbose: global.verbose)
            let progress = archiver.progress
            mode = .fileSystemSnapshot(window, FileSystemSnapshotCapture(
                snapshotter: BtrfsSnapshotter(launcher: SpawnLauncher(), timeout: serviceTimeout), repository: repository,
                liveFileSystem: LocalFileSystem(),
                archiver: { Archiver(repository: repository, fs: $0, reporter: reporter, progress: progress) },
                notice: { Console.error($0) }))
        } else {
            var window = stopWindow
            window.leaveStopped = leaveStopped
            mode = .stopWindow(window)
        }
        var backup = ApplicationBackup(
            application: application.app, configuration: configuration, captureSet: captureSet, mode: mode,
            probe: LocalHostProbe(), sqliteIntegrity: { SQLiteCheck.integrity(of: $0) },
            readFile: { FileManager.default.contents(atPath: $0) },
            listDirectory: { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] })
        backup.postgres = PostgresTools(launcher: SpawnLauncher())
        backup.lockTimeout = pgLockTimeout
        return try backup.run(archiver: archiver, request: request)
    }
}
