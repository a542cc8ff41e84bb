import ArgumentParser
import Foundation
import LockstepCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Verify the repository's structure, or every byte.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Read and authenticate every byte of every pack.")
    var readData = false

    func run() throws {
        try execute {
            let repository = try global.openRepository()
            let lock = try RepositoryLock.acquire(repository, exclusive: false, host: hostName(), now: Date())
            defer { lock.release() }
            let report = try Checker(repository: repository).run(readData: readData)
            if global.json {
                try Console.json(report)
            } else {
                for note in report.notes where !global.quiet { Console.out("note: \(note)") }
                for problem in report.problems { Console.error(problem) }
                if !global.quiet {
                    Console.out("checked \(report.snapshots) snapshot(s), \(report.trees) tree(s), \(report.blobs) blob(s) in \(report.packs) pack(s)"
                        + (readData ? "; read \(report.packsRead) pack(s), \(Console.bytes(report.bytesRead))" : ""))
                    Console.out(report.healthy ? "no problems found" : "\(report.problems.count) problem(s) found")
                }
            }
            return report.healthy ? ExitCodes.success : ExitCodes.failure
        }
    }
}
