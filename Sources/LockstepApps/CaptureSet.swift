import LockstepCore

/// What a Connect backup captures, computed from the configuration alone (no file system
/// access): the paths to back up whole and the PostgreSQL databases to dump, each with why.
///
/// Paths, in this order before merging: the data directory; the database directory; the
/// SQLite directory (with the sqlite provider); the configuration file; its
/// `<name>-migration.gcfg` sibling (optional); the encryption key file; every referenced
/// path of the configuration. The same path named twice becomes one entry with both reasons;
/// a path inside another entry moves to `covered` (it is captured with that directory), so
/// with the defaults the database directory, the SQLite directory and the key file are all
/// covered by the data directory.
///
/// Databases (with the postgres provider only): the main database, and the instrumentation
/// database when its URL differs from the main one.
package struct CaptureSet: Sendable, Equatable, CustomStringConvertible {
    /// The paths to capture, none inside another.
    package let entries: [CaptureEntry]
    /// Paths the configuration names that lie inside an entry, with the entry holding them.
    package let covered: [CaptureEntry]
    package let databases: [PostgresDatabase]

    /// The sibling Connect's migration tool keeps beside the configuration:
    /// `/etc/rstudio-connect/rstudio-connect.gcfg` → `/etc/rstudio-connect/rstudio-connect-migration.gcfg`.
    package static func migrationPath(forConfig configPath: String) -> String {
        var name = LexicalPath.lastComponent(of: configPath)
        if name.hasSuffix(".gcfg") { name.removeLast(".gcfg".count) }
        return LexicalPath.join(LexicalPath.parent(of: configPath), name + "-migration.gcfg")
    }

    /// The capture set of `configuration`, read from `configPath` (by default the file the
    /// configuration was read from), which must be absolute.
    package init(configuration: ConnectConfiguration, configPath: String? = nil) throws {
        let configPath = configPath ?? configuration.configPath
        guard LexicalPath.isAbsolute(configPath) else {
            throw LockstepError(.usage, "the configuration path \(configPath) is relative; give it as an absolute path")
        }
        let config = LexicalPath.normalize(configPath)

        var candidates: [CaptureEntry] = []
        func add(_ setting: ConnectSetting, _ kind: ReferencedPath.Kind, _ purpose: String) {
            candidates.append(CaptureEntry(path: setting.value, kind: kind, reasons: [CaptureReason(purpose: purpose, from: setting)]))
        }
        add(configuration.dataDir, .directory, "variable data directory")
        add(configuration.databaseDir, .directory, "auxiliary database directory (encryption key)")
        if configuration.provider == .sqlite {
            add(configuration.sqliteDir, .directory, "SQLite database directory")
        }
        candidates.append(CaptureEntry(path: config, kind: .file, reasons: [CaptureReason(purpose: "\(configuration.application.displayName) configuration file")]))
        candidates.append(CaptureEntry(path: Self.migrationPath(forConfig: config), kind: .file,
                                       reasons: [CaptureReason(purpose: "configuration migration file beside the configuration")],
                                       isOptional: true))
        add(configuration.encryptionKeyFile, .file, "encryption key file")
        for referenced in configuration.referencedPaths {
            add(referenced.setting, referenced.kind, referenced.purpose)
        }

        var merged: [CaptureEntry] = []
        for candidate in candidates {
            if let at = merged.firstIndex(where: { $0.path == candidate.path }) {
                merged[at].reasons += candidate.reasons
                merged[at].isOptional = merged[at].isOptional && candidate.isOptional
                if candidate.kind == .directory { merged[at].kind = .directory }
            } else {
                merged.append(candidate)
            }
        }
        var entries: [CaptureEntry] = []
        var covered: [CaptureEntry] = []
        for var entry in merged {
            let holders = merged.filter { $0.path != entry.path && LexicalPath.contains($0.path, entry.path) }
            if let outermost = holders.min(by: { $0.path.count < $1.path.count }) {
                entry.coveredBy = outermost.path
                covered.append(entry)
            } else {
                entries.append(entry)
            }
        }
        self.entries = entries
        self.covered = covered

        var databases: [PostgresDatabase] = []
        if configuration.provider == .postgres, let main = configuration.postgresURL {
            databases.append(PostgresDatabase(role: .main, url: main, password: configuration.postgresPassword,
                                              reasons: [CaptureReason(purpose: "\(configuration.application.displayName) database", setting: main.key, origin: main.origin)]))
            if let instrumentation = configuration.instrumentationURL, instrumentation.unredacted != main.unredacted {
                databases.append(PostgresDatabase(
                    role: .instrumentation, url: instrumentation, password: configuration.instrumentationPassword,
                    reasons: [CaptureReason(purpose: configuration.application == .connect ? "Connect instrumentation database" : "\(configuration.application.displayName) usage data database", setting: instrumentation.key,
                                            origin: instrumentation.origin)]))
            }
        }
        self.databases = databases
    }

    /// The paths to back up, in order.
    package var paths: [String] { entries.map(\.path) }

    package var description: String {
        var lines = ["capture:"]
        lines += entries.map { "  \($0)" }
        if !covered.isEmpty {
            lines.append("already inside a captured directory:")
            lines += covered.map { "  \($0)" }
        }
        if !databases.isEmpty {
            lines.append("databases to dump:")
            lines += databases.map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
