import LockstepCore

/// The Posit server applications lockstep knows: the same shape (a gcfg configuration, a data
/// directory, SQLite or PostgreSQL, a key file), different paths and names.
package enum ApplicationKind: String, Sendable, CaseIterable {
    case connect
    case packageManager = "package-manager"

    /// The name in messages.
    package var displayName: String {
        switch self {
        case .connect: "Connect"
        case .packageManager: "Package Manager"
        }
    }

    package var defaultConfigPath: String {
        switch self {
        case .connect: "/etc/rstudio-connect/rstudio-connect.gcfg"
        case .packageManager: "/etc/rstudio-pm/rstudio-pm.gcfg"
        }
    }

    package var defaultDataDir: String {
        switch self {
        case .connect: "/var/lib/rstudio-connect"
        case .packageManager: "/var/lib/rstudio-pm"
        }
    }

    /// The systemd unit.
    package var defaultService: String {
        switch self {
        case .connect: "rstudio-connect"
        case .packageManager: "rstudio-pm"
        }
    }

    /// Environment overrides are `<PREFIX>_<SECTION>_<KEY>`.
    package var environmentPrefix: String {
        switch self {
        case .connect: "CONNECT"
        case .packageManager: "PACKAGEMANAGER"
        }
    }

    /// The key file when the configuration names none: Connect's `Database.Dir/secret.key`,
    /// Package Manager's `rstudio-pm.key` in its data directory.
    package func defaultKeyFile(dataDir: String, databaseDir: String) -> (path: String, origin: String) {
        switch self {
        case .connect: (LexicalPath.join(databaseDir, "secret.key"), "default: Database.Dir/secret.key")
        case .packageManager: (LexicalPath.join(dataDir, "rstudio-pm.key"), "default: Server.DataDir/rstudio-pm.key")
        }
    }

    /// The `[Postgres]` keys of the second database: Connect's instrumentation, Package
    /// Manager's usage data.
    package var secondDatabaseKeys: (url: String, password: String) {
        switch self {
        case .connect: ("InstrumentationURL", "InstrumentationPassword")
        case .packageManager: ("UsageDataURL", "UsageDataPassword")
        }
    }

    package init(option: String) throws {
        guard let kind = ApplicationKind(rawValue: option) else {
            throw LockstepError(.usage, "application \"\(option)\" is not known; use --app connect or --app package-manager")
        }
        self = kind
    }
}
