import ArgumentParser
import Foundation
import LockstepCore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a repository.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Create a repository without a password (its content is still sealed, with a key stored in the clear).")
    var insecureNoPassword = false

    func run() throws {
        try execute {
            let storage = try global.storage()
            if try storage.exists() {
                throw LockstepError(.repositoryExists, "a repository already exists at \(storage.location); nothing was changed")
            }
            var password: [UInt8]?
            if !insecureNoPassword {
                password = try global.password(confirm: true)
                guard password != nil else {
                    throw LockstepError(.usage, "no password given: pass --password-file FILE (or LOCKSTEP_PASSWORD_FILE), or --insecure-no-password")
                }
            }
            let repository = try Repository.initialize(storage: storage, password: password, host: hostName(), now: Date())
            if global.json {
                try Console.json(["id": repository.config.id, "location": storage.location])
            } else if !global.quiet {
                Console.out("created repository \(repository.config.id) at \(storage.location)")
            }
            return ExitCodes.success
        }
    }
}
