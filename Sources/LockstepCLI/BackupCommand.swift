import ArgumentParser
import Foundation
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

    struct Output: Encodable {
        var snapshotID: String
        var summary: BackupSummary
        var partial: Bool

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(snapshotID, forKey: .snapshotID)
            try c.encode(partial, forKey: .partial)
        }

        enum Keys: String, CodingKey { case snapshotID = "snapshot_id", partial }
    }

    func run() throws {
        try execute {
            guard !paths.isEmpty else {
                throw LockstepError(.usage, "no paths given: `lockstep backup PATH...` (application backups come with --app in a later release)")
            }
            let repository = try global.openRepository()
            let lock = try RepositoryLock.acquire(repository, exclusive: false, host: hostName(), now: Date())
            defer { lock.release() }
            try repository.loadIndex()
            let host = hostName()
            var request = BackupRequest(paths: paths, host: host, program: programVersion)
            request.tags = tag
            if let workers { request.workers = workers }
            if let parent {
                request.parent = try repository.findSnapshot(parent)
            } else if !force {
                let normalized = try Archiver.normalize(paths).map(\.pathString)
                request.parent = try repository.listSnapshots().last { $0.snapshot.host == host && $0.snapshot.paths == normalized }
            }
            let archiver = Archiver(repository: repository, fs: LocalFileSystem(), reporter: ConsoleReporter(verbose: global.verbose))
            let line = ProgressLine(progress: archiver.progress, label: "backup")
            line.start(enabled: global.showProgress)
            let result: (id: BlobID, snapshot: Snapshot, summary: BackupSummary)
            do {
                result = try archiver.run(request)
                line.stop()
            } catch {
                line.stop()
                throw error
            }
            let s = result.summary
            let partial = s.errors > 0
            if global.json {
                try Console.json(Output(snapshotID: result.id.hex, summary: s, partial: partial))
            } else if !global.quiet {
                Console.out("snapshot \(result.id.short) saved")
                Console.out("files: \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnmodified) unmodified; \(s.directories) directories, \(s.otherEntries) other entries")
                Console.out("read \(Console.bytes(s.bytesRead)), added \(Console.bytes(s.bytesAdded)) (\(Console.bytes(s.bytesStored)) stored) in \(String(format: "%.2f", s.durationSeconds)) s")
                if s.changedWhileRead > 0 { Console.out("\(s.changedWhileRead) file(s) changed while read (see warnings)") }
                if s.skippedSockets > 0 { Console.out("\(s.skippedSockets) socket(s) skipped") }
            }
            if partial {
                Console.error("\(s.errors) path(s) could not be read; the snapshot holds everything else (exit 3)")
                return ExitCodes.partial
            }
            return ExitCodes.success
        }
    }
}
