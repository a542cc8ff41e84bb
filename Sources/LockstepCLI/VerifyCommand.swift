import ArgumentParser
import Foundation
import LockstepApps
import LockstepCore
import LockstepHost

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check that an application snapshot is consistent and fit to restore.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Snapshot id, unique prefix, or `latest`.")
    var snapshot: String

    struct Output: Encodable {
        var snapshotID: String
        var checked: [String]
        var problems: [String]
        var ok: Bool

        enum CodingKeys: String, CodingKey { case snapshotID = "snapshot_id", checked, problems, ok }
    }

    func run() throws {
        try execute {
            let repository = try global.openRepository()
            let (found, root) = try repository.indexedSnapshot(snapshot)
            var verification = ApplicationVerification(
                reader: SnapshotReader(repository: repository, root: root), snapshot: found.snapshot,
                sqliteIntegrity: { database, wal in try Self.integrity(of: database, wal: wal) })
            let postgres = PostgresTools(launcher: SpawnLauncher())
            verification.postgresList = { dump in try postgres.list(input: { try dump.read(into: $0) }) }
            let (checked, problems) = try verification.run()
            if global.json {
                try Console.json(Output(snapshotID: found.id.hex, checked: checked, problems: problems, ok: problems.isEmpty))
            } else {
                if !global.quiet { for line in checked { Console.out("ok: \(line)") } }
                for problem in problems { Console.error(problem) }
                if !global.quiet {
                    Console.out(problems.isEmpty ? "snapshot \(found.id.short) verified" : "snapshot \(found.id.short): \(problems.count) problem(s)")
                }
            }
            return problems.isEmpty ? ExitCodes.success : ExitCodes.failure
        }
    }

    /// Writes the database (and its WAL) to a private temporary folder, removed after, and checks it there.
    private static func integrity(of bytes: Data, wal: Data?) throws -> String {
        let dir = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                              appropriateFor: URL(fileURLWithPath: "/var/tmp"), create: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("verify.db")
        guard FileManager.default.createFile(atPath: file.path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
            throw LockstepError(.failure, "cannot write a temporary copy of the database under \(dir.path)")
        }
        if let wal {
            _ = FileManager.default.createFile(atPath: file.path + "-wal", contents: wal, attributes: [.posixPermissions: 0o600])
        }
        return SQLiteCheck.integrity(of: file.path)
    }
}
