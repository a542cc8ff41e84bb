import ArgumentParser
import Foundation
import LockstepApps
import LockstepCore
import Synchronization
import LockstepHost

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a snapshot under a target directory.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Snapshot id, unique prefix, or `latest`.")
    var snapshot: String

    @Option(name: .long, help: "Directory to restore into; nothing is written outside it.")
    var target: String?

    @Option(name: .long, help: "Restore only this snapshot path and what is below it (repeatable).")
    var include: [String] = []

    @Flag(name: .long, help: "Restore owners by number, never by name.")
    var numericOwner = false

    @Flag(name: .long, help: "Allow a non-empty target; entries in the way are replaced.")
    var overwrite = false

    @Flag(name: .long, help: "Re-read what was restored and compare it with the snapshot.")
    var verify = false

    @Option(name: .long, help: "Writing threads (default: the number of cores).")
    var workers: Int?

    @OptionGroup(title: "In-place restores of an application snapshot")
    var application: ApplicationOptions

    @Flag(name: .long, help: "Restore an application snapshot to its original paths and databases (the documented procedure).")
    var inPlace = false

    @Flag(name: .long, help: "With --in-place: go on despite preflight problems or an inconsistent snapshot.")
    var force = false

    @Flag(name: .long, help: "With --in-place: do not take a safety snapshot of the current state first.")
    var noSafetySnapshot = false

    @Flag(name: .long, help: "With --in-place: restore PostgreSQL over the current database instead of into a new one.")
    var clean = false

    @Option(name: .long, help: "With --in-place: give files of snapshot user OLD to user NEW here (OLD=NEW, repeatable).")
    var mapUser: [String] = []

    @Option(name: .long, help: "With --in-place: give files of snapshot group OLD to group NEW here (OLD=NEW, repeatable).")
    var mapGroup: [String] = []

    @Option(name: .long, help: "Seconds to wait for the service to stop, and to start (and for each service command).")
    var serviceTimeout: Double = 120

    struct Output: Encodable {
        var snapshotID: String
        var target: String
        var summary: RestoreSummary
        var verified: Bool?
        var verifyProblems: [String]

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(snapshotID, forKey: .snapshotID)
            try c.encode(target, forKey: .target)
            try c.encodeIfPresent(verified, forKey: .verified)
            try c.encode(verifyProblems, forKey: .verifyProblems)
        }

        enum Keys: String, CodingKey { case snapshotID = "snapshot_id", target, verified, verifyProblems = "verify_problems" }
    }

    func run() throws {
        try execute {
            if inPlace {
                guard target == nil else { throw LockstepError(.usage, "--in-place and --target exclude each other: choose one") }
                return try restoreInPlace()
            }
            guard let target else {
                throw LockstepError(.usage, "no target given: pass --target DIR (or --in-place for an application snapshot)")
            }
            let repository = try global.openRepository()
            let lock = try RepositoryLock.acquire(repository, exclusive: false, host: hostName(), now: Date())
            defer { lock.release() }
            let (found, root) = try repository.indexedSnapshot(snapshot)
            var options = RestoreOptions(target: target)
            options.include = include
            options.numericOwner = numericOwner
            options.overwrite = overwrite
            if let workers { options.workers = workers }
            let progress = LiveProgress()
            progress.totalBytes.store(found.snapshot.summary.totalBytes, ordering: .relaxed)
            progress.walkDone.store(true, ordering: .relaxed)
            let restorer = Restorer(repository: repository, reporter: ConsoleReporter(verbose: global.verbose), progress: progress)
            let line = ProgressLine(progress: progress, label: "restore")
            line.start(enabled: global.showProgress)
            let summary: RestoreSummary
            do {
                summary = try restorer.run(tree: root, options: options)
                line.stop()
            } catch {
                line.stop()
                throw error
            }
            if !include.isEmpty && summary.files + summary.directories + summary.otherEntries + summary.hardLinks == 0 {
                throw LockstepError(.failure, "nothing in snapshot \(found.id.short) matches --include \(include.joined(separator: ", ")) (see `lockstep ls \(found.id.short)`)")
            }
            var problems = [String]()
            if verify {
                problems = try RestoreVerifier(repository: repository).run(tree: root, options: options)
                for p in problems { Console.error("verify: \(p)") }
            }
            if global.json {
                try Console.json(Output(snapshotID: found.id.hex, target: target, summary: summary,
                                        verified: verify ? problems.isEmpty : nil, verifyProblems: problems))
            } else if !global.quiet {
                Console.out("restored snapshot \(found.id.short) to \(target): \(summary.files) files, \(summary.directories) directories, \(summary.otherEntries) other entries, \(summary.hardLinks) hard links, \(Console.bytes(summary.bytes)) in \(String(format: "%.2f", summary.durationSeconds)) s")
                if verify && problems.isEmpty { Console.out("verified: the restored tree matches the snapshot") }
            }
            if summary.errors > 0 {
                Console.error("\(summary.errors) entr\(summary.errors == 1 ? "y" : "ies") could not be restored (named above); everything else was restored")
                return ExitCodes.failure
            }
            if !problems.isEmpty {
                Console.error("verification found \(problems.count) difference(s) between the snapshot and \(target)")
                return ExitCodes.failure
            }
            return ExitCodes.success
        }
    }
}

extension RestoreCommand {
    struct InPlaceOutput: Encodable {
        var summary: InPlaceRestore.Summary
        var inPlace = true
        enum CodingKeys: String, CodingKey { case summary, inPlace = "in_place" }
    }

    private static func pairs(_ values: [String], option: String) throws -> [String: String] {
        var out = [String: String]()
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw LockstepError(.usage, "\(option) \(value): expected OLD=NEW, e.g. \(option) rstudio-connect=connect")
            }
            out[parts[0]] = parts[1]
        }
        return out
    }

    fileprivate func restoreInPlace() throws -> Int32 {
        if !include.isEmpty { throw LockstepError(.usage, "--include does not go with --in-place (an in-place restore is whole)") }
        var options = InPlaceRestore.Options()
        options.force = force
        options.safetySnapshot = !noSafetySnapshot
        options.clean = clean
        options.numericOwner = numericOwner
        options.userMap = try Self.pairs(mapUser, option: "--map-user")
        options.groupMap = try Self.pairs(mapGroup, option: "--map-group")
        options.workers = workers
        let repository = try global.openRepository()
        let lock = try RepositoryLock.acquire(repository, exclusive: false, host: hostName(), now: Date())
        defer { lock.release() }
        let (found, root) = try repository.indexedSnapshot(snapshot)
        let trap = SignalTrap()
        trap.install()
        let window = try application.stopWindow(timeout: serviceTimeout, trap: trap).window
        let quiet = global.quiet || global.json
        let restore = InPlaceRestore(repository: repository, found: found, root: root, options: options, window: window,
                                     postgres: PostgresTools(launcher: SpawnLauncher()), host: hostName(),
                                     interruption: { trap.pending }, say: { if !quiet { Console.out($0) } })
        let summary = try restore.run()
        if global.json {
            try Console.json(InPlaceOutput(summary: summary))
        } else if !global.quiet {
            for problem in summary.forcedProblems { Console.error("forced past: \(problem)") }
            let downtime = summary.downtimeSeconds.map { String(format: "%.2f s", $0) } ?? "unknown"
            Console.out("restored snapshot \(found.id.short) in place: \(summary.paths.count) path(s), \(summary.files) files, \(Console.bytes(summary.bytes))"
                        + (summary.databases.isEmpty ? "" : ", database(s) \(summary.databases.joined(separator: ", "))")
                        + "; verified; service downtime \(downtime)")
            for old in summary.keptDatabases { Console.out("the previous database is kept as \(old); drop it once you are satisfied") }
            if let safety = summary.safetySnapshotID { Console.out("to undo: lockstep restore \(safety.prefix(8)) --in-place") }
        }
        return ExitCodes.success
    }
}
