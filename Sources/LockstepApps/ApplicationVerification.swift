package import Foundation
package import LockstepCore

/// `lockstep verify SNAPSHOT`: application-level consistency of one snapshot, read from the
/// repository (nothing restored in place): it was taken consistent; its configuration parses;
/// every path the configuration says to capture is in it; the key file is there, mode 0600,
/// with the fingerprint recorded at backup; every SQLite database passes `integrity_check`.
package struct ApplicationVerification {
    package var reader: SnapshotReader
    package var snapshot: Snapshot
    /// `PRAGMA integrity_check` of a database given as bytes, with its `-wal` companion if the
    /// snapshot has one (the caller writes them somewhere private).
    package var sqliteIntegrity: (_ database: Data, _ wal: Data?) throws -> String
    /// `pg_restore --list` of a dump in the snapshot.
    package var postgresList: ((ContentReader) throws -> ProgramResult)?

    package init(reader: SnapshotReader, snapshot: Snapshot, sqliteIntegrity: @escaping (Data, Data?) throws -> String) {
        self.reader = reader
        self.snapshot = snapshot
        self.sqliteIntegrity = sqliteIntegrity
    }

    /// The problems found, one line each; empty when the snapshot is fit to restore.
    package func run() throws -> (checked: [String], problems: [String]) {
        var checked = [String](), problems = [String]()
        let meta = snapshot.metadata
        guard let application = meta["application"], let configPath = meta["config_path"] else {
            return ([], ["this snapshot is not an application snapshot (it was taken with paths); nothing to verify at the application level"])
        }
        if meta["consistent"] == "true" {
            checked.append("taken with the service stopped")
        } else {
            problems.append("taken while \(application) ran (\(meta["inconsistent_reason"] ?? "not marked consistent")); do not restore it in place")
        }

        guard let configNode = try reader.node(at: configPath), configNode.kind == .file else {
            problems.append("the configuration \(configPath) is not in the snapshot")
            return (checked, problems)
        }
        let configuration: ConnectConfiguration
        do {
            let text = String(decoding: try reader.contents(of: configNode), as: UTF8.self)
            configuration = try ConnectConfiguration(document: try GcfgParser.parse(text, path: configPath), environment: [:],
                                                     application: ApplicationKind(rawValue: application) ?? .connect)
            checked.append("configuration \(configPath) parses")
        } catch {
            problems.append("the configuration in the snapshot does not parse: \(error)")
            return (checked, problems)
        }

        let captureSet = try CaptureSet(configuration: configuration)
        for entry in captureSet.entries + captureSet.covered where !entry.isOptional {
            if try reader.node(at: entry.path) == nil {
                problems.append("\(entry.path) is not in the snapshot (\(entry.reasons.first?.description ?? "named by the configuration"))")
            }
        }
        checked.append("every path the configuration names is captured")

        let keyPath = configuration.encryptionKeyFile.value
        if let key = try reader.node(at: keyPath), key.kind == .file {
            if key.mode & 0o777 != 0o600 {
                problems.append("the key file \(keyPath) has mode \(String(key.mode, radix: 8)) in the snapshot; \(configuration.application.displayName) refuses to start unless it is 0600")
            }
            let fingerprint = storageID(of: try reader.contents(of: key)).hex
            if let recorded = meta["key_sha256"], recorded != fingerprint {
                problems.append("the key file's fingerprint differs from the one recorded at backup")
            } else {
                checked.append("key file \(keyPath) present, mode 0600, fingerprint as recorded")
            }
        } else {
            problems.append("the key file \(keyPath) is not in the snapshot: the database cannot be decrypted without it")
        }

        if configuration.provider == .sqlite {
            let dir = configuration.sqliteDir.value
            let databases = (try reader.list(dir) ?? []).filter { $0.kind == .file && $0.displayName.hasSuffix(".db") }
            if databases.isEmpty { problems.append("no SQLite database (*.db) in \(dir) in the snapshot") }
            for db in databases {
                let path = dir + "/" + db.displayName
                let wal = try reader.node(at: path + "-wal").map { try reader.contents(of: $0) }
                let result = try sqliteIntegrity(try reader.contents(of: db), wal)
                if result == "ok" {
                    checked.append("SQLite \(path): integrity_check ok")
                } else {
                    problems.append("SQLite \(path): integrity_check: \(result)")
                }
            }
        }
        if configuration.provider == .postgres {
            for database in captureSet.databases {
                let role = database.role.rawValue
                let path = meta["postgres_\(role)_dump"] ?? ApplicationBackup.dumpPath(database.role)
                guard let dump = try reader.node(at: path), dump.kind == .file else {
                    problems.append("the \(role) database dump \(path) is not in the snapshot")
                    continue
                }
                guard let postgresList else { continue }
                let result = try postgresList(reader.reader(of: dump))
                if result.status == 0 {
                    let entries = result.output.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }.count
                    checked.append("PostgreSQL \(role) dump: pg_restore --list reads \(entries) entries")
                } else {
                    problems.append("PostgreSQL \(role) dump \(path): pg_restore --list failed: \(result.lastLine)")
                }
            }
        }
        return (checked, problems)
    }
}
