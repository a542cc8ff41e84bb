import ArgumentParser
import Foundation
import LockstepCore
import LockstepStorage
#if canImport(Glibc)
import Glibc
#endif

/// Options every repository command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Repository location: a path (or set LOCKSTEP_REPOSITORY).")
    var repo: String?

    @Option(name: .long, help: "File holding the repository password (or set LOCKSTEP_PASSWORD_FILE).")
    var passwordFile: String?

    @Flag(name: .long, help: "Print one JSON document on stdout.")
    var json = false

    @Flag(name: .long, help: "Print nothing but errors.")
    var quiet = false

    @Flag(name: .long, help: "Print more detail.")
    var verbose = false

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func storage() throws -> any Storage {
        guard let location = repo ?? environment["LOCKSTEP_REPOSITORY"], !location.isEmpty else {
            throw LockstepError(.noRepository, "no repository given: pass --repo PATH or set LOCKSTEP_REPOSITORY")
        }
        if location.hasPrefix("s3:") {
            throw LockstepError(.failure, "S3 repositories are not supported by this build yet; use a local path")
        }
        return LocalStorage(path: location)
    }

    /// The password: from the password file, else asked on the terminal, else none.
    func password(confirm: Bool = false) throws -> [UInt8]? {
        if let file = passwordFile ?? environment["LOCKSTEP_PASSWORD_FILE"] {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LockstepError(.failure, "cannot read the password file \(file); check the path and its permissions")
            }
            var bytes = Array(data)
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            guard !bytes.isEmpty else { throw LockstepError(.failure, "the password file \(file) is empty; put the password in it") }
            return bytes
        }
        guard isatty(0) == 1 else { return nil }
        guard let first = readPassword("enter repository password: "), !first.isEmpty else { return nil }
        if confirm {
            guard readPassword("enter it again: ") == first else {
                throw LockstepError(.failure, "the passwords do not match; nothing was created")
            }
        }
        return first
    }

    private func readPassword(_ prompt: String) -> [UInt8]? {
        guard let raw = getpass(prompt) else { return nil }
        return Array(String(cString: raw).utf8)
    }

    func openRepository() throws -> Repository {
        let storage = try storage()
        // Report a missing repository before asking for a password.
        guard try storage.exists() else { return try Repository.open(storage: storage, password: nil) }
        return try Repository.open(storage: storage, password: try password())
    }

    var showProgress: Bool { !quiet && !json && Console.stderrIsTerminal }
}

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

let programVersion = "lockstep 0.1.0"

extension Repository {
    /// Loads the index and resolves a snapshot reference to the snapshot and its root tree.
    func indexedSnapshot(_ reference: String) throws -> (StoredSnapshot, BlobID) {
        try loadIndex()
        let found = try findSnapshot(reference)
        guard let root = found.snapshot.treeID else { throw LockstepError(.damaged, "snapshot \(found.id.short) has no tree") }
        return (found, root)
    }
}
