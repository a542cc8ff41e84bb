import Foundation
import LockstepCore

/// Posit Connect's effective configuration, as far as a backup needs it: the gcfg file with
/// `CONNECT_<SECTION>_<KEY>` environment overrides applied (an override wins over the file; for
/// multi-valued keys its comma-separated items are added after the file's), and the documented
/// defaults filled in:
///
/// - `Server.DataDir` = `/var/lib/rstudio-connect`; `Database.Provider` = `sqlite`;
///   `Database.Dir` and `SQLite.Dir` = `<DataDir>/db`;
///   `Server.EncryptionKeyFile` = `<Database.Dir>/secret.key`.
///
/// Every value remembers where it came from. Paths are normalized and must be absolute.
/// Database URLs and passwords are held as `DatabaseURL` / `ConnectSecret`, which print
/// redacted, and `description` never shows a secret. A value Connect would refuse (an
/// unknown provider, `postgres` without `Postgres.URL`, a relative path, a bare name where a
/// value is needed) throws a `LockstepError` naming the file and line, or the variable.
/// An empty value (`DataDir =`, or an empty variable) counts as unset.
///
/// The environment is a parameter: nothing here reads the process environment.
package struct ConnectConfiguration: Sendable, CustomStringConvertible {
    package static let defaultConfigPath = ApplicationKind.connect.defaultConfigPath

    /// Connect, or Package Manager (same shape; its own paths, names and environment prefix).
    package let application: ApplicationKind
    /// The configuration file the settings were read from.
    package let configPath: String
    package let provider: DatabaseProvider
    /// `Database.Provider` with its origin (the default when unset).
    package let providerSetting: ConnectSetting
    package let dataDir: ConnectSetting
    package let databaseDir: ConnectSetting
    package let sqliteDir: ConnectSetting
    package let encryptionKeyFile: ConnectSetting
    package let postgresURL: DatabaseURL?
    package let postgresPassword: ConnectSecret?
    package let instrumentationURL: DatabaseURL?
    package let instrumentationPassword: ConnectSecret?
    /// `Python.Executable`, `Quarto.Executable`, `R.Executable`: every value in order. They are
    /// not backed up; they must exist on a host a backup is restored to.
    package let pythonExecutables: [ConnectSetting]
    package let quartoExecutables: [ConnectSetting]
    package let rExecutables: [ConnectSetting]
    /// Every other file or directory the configuration points at, in a fixed order: HTTPS,
    /// LDAP, SAML, OAuth2, Launcher, `Server.LandingDir`, `Metrics.DataPath`.
    package let referencedPaths: [ReferencedPath]

    /// Reads and interprets the configuration file at `path`.
    package static func load(path: String = defaultConfigPath, environment: [String: String],
                             application: ApplicationKind = .connect) throws -> ConnectConfiguration {
        try ConnectConfiguration(document: GcfgParser.parse(contentsOf: path), environment: environment, application: application)
    }

    package init(document: GcfgDocument, environment: [String: String], application: ApplicationKind = .connect) throws {
        let settings = Settings(document: document,
                                environment: GcfgEnvironment(prefix: application.environmentPrefix, environment: environment))
        self.application = application
        configPath = document.path

        let providerSetting = try settings.string("Database", "Provider")
            ?? ConnectSetting(key: "Database.Provider", value: DatabaseProvider.sqlite.rawValue, origin: .defaultValue("default"))
        guard let provider = DatabaseProvider(rawValue: providerSetting.value.lowercased()) else {
            throw LockstepError(.failure, "\(providerSetting.origin.location): Database.Provider is \"\(providerSetting.value)\"; \(application.displayName) knows sqlite and postgres")
        }
        self.provider = provider
        self.providerSetting = providerSetting

        let dataDir = try settings.path("Server", "DataDir")
            ?? ConnectSetting(key: "Server.DataDir", value: application.defaultDataDir, origin: .defaultValue("default"))
        let databaseDir = try settings.path("Database", "Dir")
            ?? ConnectSetting(key: "Database.Dir", value: LexicalPath.join(dataDir.value, "db"),
                              origin: .defaultValue("default: Server.DataDir/db"))
        self.dataDir = dataDir
        self.databaseDir = databaseDir
        sqliteDir = try settings.path("SQLite", "Dir")
            ?? ConnectSetting(key: "SQLite.Dir", value: LexicalPath.join(dataDir.value, "db"),
                              origin: .defaultValue("default: Server.DataDir/db"))
        let defaultKey = application.defaultKeyFile(dataDir: dataDir.value, databaseDir: databaseDir.value)
        encryptionKeyFile = try settings.path("Server", "EncryptionKeyFile")
            ?? ConnectSetting(key: "Server.EncryptionKeyFile", value: defaultKey.path, origin: .defaultValue(defaultKey.origin))

        postgresURL = try settings.string("Postgres", "URL").map {
            DatabaseURL(key: $0.key, unredacted: $0.value, origin: $0.origin)
        }
        postgresPassword = try settings.string("Postgres", "Password").map {
            ConnectSecret(key: $0.key, revealed: $0.value, origin: $0.origin)
        }
        let second = application.secondDatabaseKeys
        instrumentationURL = try settings.string("Postgres", second.url).map {
            DatabaseURL(key: $0.key, unredacted: $0.value, origin: $0.origin)
        }
        instrumentationPassword = try settings.string("Postgres", second.password).map {
            ConnectSecret(key: $0.key, revealed: $0.value, origin: $0.origin)
        }
        if provider == .postgres && postgresURL == nil {
            throw LockstepError(.failure, "\(providerSetting.origin.location): Database.Provider is postgres but Postgres.URL is not set; set URL under [Postgres] or \(application.environmentPrefix)_POSTGRES_URL")
        }

        pythonExecutables = settings.list("Python", "Executable")
        quartoExecutables = settings.list("Quarto", "Executable")
        rExecutables = settings.list("R", "Executable")
        referencedPaths = try settings.referencedPaths()
    }

    package var description: String {
        var lines = [
            "\(application.displayName) configuration \(configPath)",
            "  \(providerSetting)",
            "  \(dataDir)",
            "  \(databaseDir)",
            "  \(sqliteDir)",
            "  \(encryptionKeyFile)",
        ]
        for url in [postgresURL, instrumentationURL].compactMap({ $0 }) { lines.append("  \(url)") }
        for secret in [postgresPassword, instrumentationPassword].compactMap({ $0 }) { lines.append("  \(secret)") }
        for executable in pythonExecutables + quartoExecutables + rExecutables { lines.append("  \(executable)") }
        for referenced in referencedPaths { lines.append("  \(referenced.setting) — \(referenced.purpose)") }
        return lines.joined(separator: "\n")
    }
}

/// The effective-value rules over a document and its environment overrides.
private struct Settings {
    let document: GcfgDocument
    let environment: GcfgEnvironment

    static func key(_ section: String, _ subsection: String?, _ name: String) -> String {
        subsection.map { "\(section) \"\($0)\".\(name)" } ?? "\(section).\(name)"
    }

    /// The effective single value, or nil when unset or empty. A bare name is refused: no
    /// setting read here is a boolean. Never puts the value in a message.
    func string(_ section: String, _ name: String, subsection: String? = nil) throws -> ConnectSetting? {
        let key = Self.key(section, subsection, name)
        if let found = environment.lookup(section: section, subsection: subsection, name: name) {
            return ConnectSetting(key: key, value: found.value, origin: .environment(variable: found.variable))
        }
        guard let entry = document.value(section: section, subsection: subsection, name: name) else { return nil }
        guard let text = entry.text else {
            throw LockstepError(.failure, "\(document.path):\(entry.line): \(key) has no value; write `\(entry.name) = VALUE`")
        }
        if text.isEmpty { return nil }
        return ConnectSetting(key: key, value: text, origin: .file(path: document.path, line: entry.line))
    }

    /// Like `string`, for a path: it must be absolute, and comes back normalized.
    func path(_ section: String, _ name: String, subsection: String? = nil) throws -> ConnectSetting? {
        guard var setting = try string(section, name, subsection: subsection) else { return nil }
        try Self.requireAbsolute(setting)
        setting.value = LexicalPath.normalize(setting.value)
        return setting
    }

    static func requireAbsolute(_ setting: ConnectSetting) throws {
        guard LexicalPath.isAbsolute(setting.value) else {
            throw LockstepError(.failure, "\(setting.origin.location): \(setting.key) is the relative path \"\(setting.value)\"; write it as an absolute path (lockstep cannot tell what Connect resolves it against)")
        }
    }

    /// Every value of a multi-valued key: the file's (after a bare-name reset), then the
    /// override's comma-separated items (trimmed, empty ones dropped).
    func list(_ section: String, _ name: String) -> [ConnectSetting] {
        let key = Self.key(section, nil, name)
        var found = document.values(section: section, name: name).compactMap { entry -> ConnectSetting? in
            guard let text = entry.text, !text.isEmpty else { return nil }
            return ConnectSetting(key: key, value: text, origin: .file(path: document.path, line: entry.line))
        }
        if let override = environment.lookup(section: section, name: name) {
            for item in override.value.split(separator: ",") {
                let text = String(item).trimmingGcfgBlanks()
                if !text.isEmpty {
                    found.append(ConnectSetting(key: key, value: text, origin: .environment(variable: override.variable)))
                }
            }
        }
        return found
    }

    /// The names a section has in the file or the environment, each once (compared as the
    /// environment compares them: uppercase, dashes as underscores).
    func names(_ section: String) -> [String] {
        var names = document.names(section: section)
        func folded(_ name: String) -> String { name.uppercased().replacingOccurrences(of: "-", with: "_") }
        for key in environment.keys(section: section) where !names.contains(where: { folded($0) == key }) {
            names.append(key)
        }
        return names
    }

    func referencedPaths() throws -> [ReferencedPath] {
        var found: [ReferencedPath] = []
        func add(_ setting: ConnectSetting?, _ kind: ReferencedPath.Kind, _ purpose: String) {
            guard let setting else { return }
            found.append(ReferencedPath(path: setting.value, kind: kind, purpose: purpose, setting: setting))
        }
        /// A generically found value counts only when it is an absolute local path, not a URL.
        func addIfLocalPath(_ setting: ConnectSetting, _ purpose: String) {
            guard LexicalPath.isAbsolute(setting.value), !setting.value.contains("://") else { return }
            var setting = setting
            setting.value = LexicalPath.normalize(setting.value)
            add(setting, .file, purpose)
        }

        add(try path("HTTPS", "Certificate"), .file, "TLS certificate")
        add(try path("HTTPS", "Key"), .file, "TLS private key")

        var ldapSubsections: [String?] = []
        if document.hasSection("LDAP") || environment.lookup(section: "LDAP", name: "TLSCACertificate") != nil {
            ldapSubsections.append(nil)
        }
        for sub in document.subsections(of: "LDAP") + environment.subsections(section: "LDAP", name: "TLSCACertificate")
            where !ldapSubsections.contains(sub) {
            ldapSubsections.append(sub)
        }
        for sub in ldapSubsections {
            add(try path("LDAP", "TLSCACertificate", subsection: sub), .file, "LDAP CA certificate")
        }

        // SAML: certificate, key and metadata settings whose value is a local path (the IdP
        // metadata may also be a URL, which is not a file to back up).
        for name in names("SAML") where Self.looksLikeFileKey(name, ["certificate", "cert", "key", "path", "file", "metadata"]) {
            if let setting = try string("SAML", name) { addIfLocalPath(setting, "SAML certificate or metadata") }
        }

        add(try path("OAuth2", "ClientSecretFile"), .file, "OAuth2 client secret file")

        // Launcher: cluster definitions, profiles, templates, certificates (possibly repeated);
        // the scratch path is working space, not configuration.
        for name in names("Launcher")
            where Self.looksLikeFileKey(name, ["definition", "config", "profile", "file", "certificate", "cert", "key", "template"])
            && !name.lowercased().contains("scratch") {
            for setting in list("Launcher", name) { addIfLocalPath(setting, "Launcher configuration") }
        }

        add(try path("Server", "LandingDir"), .directory, "custom landing page")
        add(try path("Metrics", "DataPath"), .directory, "metrics data (kept per node)")
        return found
    }

    static func looksLikeFileKey(_ name: String, _ hints: [String]) -> Bool {
        let lowered = name.lowercased()
        return !lowered.hasSuffix("url") && hints.contains { lowered.contains($0) }
    }
}
