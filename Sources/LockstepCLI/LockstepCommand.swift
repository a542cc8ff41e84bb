package import ArgumentParser
import LockstepHost

/// The `lockstep` command: parses and dispatches; each subcommand calls into the core.
package struct LockstepCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Consistent, verified, deduplicated backups of a server application.",
        version: programVersion,
        subcommands: [InitCommand.self, BackupCommand.self, SnapshotsCommand.self, LsCommand.self,
                      RestoreCommand.self, CheckCommand.self, PlanCommand.self, VerifyCommand.self])

    package init() {}

    /// Parses the command line, runs the command and exits with its status.
    package static func start() {
        ProcessTuning.apply()
        main()
    }
}
