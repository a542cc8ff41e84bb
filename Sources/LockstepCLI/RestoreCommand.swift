import ArgumentParser
import Foundation
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
            guard let target else {
                throw LockstepError(.usage, "no target given: pass --target DIR")
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
