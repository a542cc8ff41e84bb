import Foundation
import LockstepApps
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("Connect capture set")
struct CaptureSetTests {
    static let config = ConnectConfiguration.defaultConfigPath
    static let migration = "/etc/rstudio-connect/rstudio-connect-migration.gcfg"

    @Test("SQLite with the defaults: the data directory holds the database, the SQLite files and the key")
    func sqliteDefaults() throws {
        let set = try captureSet(Fixtures.minimal)
        #expect(set.paths == ["/var/lib/rstudio-connect", Self.config, Self.migration])
        #expect(set.entries.map(\.kind) == [.directory, .file, .file])
        #expect(set.entries.map(\.isOptional) == [false, false, true])
        #expect(set.entries[0].reasons == [CaptureReason(purpose: "variable data directory", setting: "Server.DataDir",
                                                         origin: .defaultValue("default"))])
        #expect(set.covered.map(\.path) == ["/var/lib/rstudio-connect/db", "/var/lib/rstudio-connect/db/secret.key"])
        #expect(set.covered.allSatisfy { $0.coveredBy == "/var/lib/rstudio-connect" })
        #expect(set.covered[0].reasons.map(\.setting) == ["Database.Dir", "SQLite.Dir"])
        #expect(set.databases.isEmpty)
        let text = String(describing: set)
        #expect(text.contains("/var/lib/rstudio-connect (directory): variable data directory (Server.DataDir, default)"))
        #expect(text.contains("\(Self.migration) (file, if present)"))
        #expect(text.contains("inside /var/lib/rstudio-connect"))
    }

    @Test("a customised SQLite.Dir outside the data directory is captured, with its line")
    func sqliteOutside() throws {
        let text = "[Server]\nDataDir = /srv/connect\n\n[SQLite]\nDir = /local/ssd/connect-sqlite/\n"
        let set = try captureSet(text)
        #expect(set.paths == ["/srv/connect", "/local/ssd/connect-sqlite", Self.config, Self.migration])
        let sqlite = try #require(set.entries.first { $0.path == "/local/ssd/connect-sqlite" })
        #expect(sqlite.kind == .directory)
        #expect(sqlite.reasons.map(\.description) == ["SQLite database directory (SQLite.Dir, \(Self.config) line 5)"])
        #expect(set.covered.map(\.path) == ["/srv/connect/db", "/srv/connect/db/secret.key"])
    }

    @Test("a Database.Dir outside the data directory is captured and holds the key file")
    func databaseDirOutside() throws {
        let set = try captureSet("[Database]\nDir = /var/lib/connect-db")
        #expect(set.paths == ["/var/lib/rstudio-connect", "/var/lib/connect-db", Self.config, Self.migration])
        let key = try #require(set.covered.first { $0.path == "/var/lib/connect-db/secret.key" })
        #expect(key.coveredBy == "/var/lib/connect-db")
        #expect(set.covered.map(\.path) == ["/var/lib/rstudio-connect/db", "/var/lib/connect-db/secret.key"])
    }

    @Test("containment is by path component, after normalizing")
    func containment() throws {
        let set = try captureSet("[Server]\nDataDir = /srv/data/\n[SQLite]\nDir = /srv/database\n[Database]\nDir = /srv/data/./x/../db")
        #expect(set.paths == ["/srv/data", "/srv/database", Self.config, Self.migration])
        #expect(set.covered.map(\.path) == ["/srv/data/db", "/srv/data/db/secret.key"])
    }

    @Test("with postgres, the SQLite directory is not captured and the database is dumped")
    func postgresPasswordInURL() throws {
        let text = """
        [Database]
        Provider = postgres
        [SQLite]
        Dir = /opt/unused-sqlite
        [Postgres]
        URL = postgres://connect:Pa55-w0rd@db.internal:5432/connect
        """
        let set = try captureSet(text)
        #expect(set.paths == ["/var/lib/rstudio-connect", Self.config, Self.migration])
        #expect(set.databases.count == 1)
        let database = try #require(set.databases.first)
        #expect(database.role == .main)
        #expect(database.redactedURL == "postgres://connect:****@db.internal:5432/connect")
        #expect(database.unredactedURL == "postgres://connect:Pa55-w0rd@db.internal:5432/connect")
        #expect(database.password == nil)
        #expect(database.reasons == [CaptureReason(purpose: "Connect database", setting: "Postgres.URL",
                                                   origin: .file(path: Self.config, line: 6))])
        #expect(!everyRendering(set).contains("Pa55"))
        #expect(!everyRendering(database).contains("Pa55"))
        #expect(String(describing: set).contains("main database postgres://connect:****@db.internal:5432/connect"))
    }

    @Test("CONNECT_POSTGRES_PASSWORD goes with the main database and is never printed")
    func postgresPasswordFromEnvironment() throws {
        let set = try captureSet("[Database]\nProvider = postgres\n[Postgres]\nURL = postgres://connect@db.internal/connect",
                                 environment: ["CONNECT_POSTGRES_PASSWORD": "Env-Secret-99"])
        let database = try #require(set.databases.first)
        #expect(database.password?.revealed == "Env-Secret-99")
        #expect(database.password?.origin == .environment(variable: "CONNECT_POSTGRES_PASSWORD"))
        #expect(database.redactedURL == "postgres://connect@db.internal/connect")
        #expect(!everyRendering(set).contains("Env-Secret"))
        #expect(String(describing: database).contains("password from Postgres.Password (environment variable CONNECT_POSTGRES_PASSWORD)"))
    }

    @Test("the instrumentation database is dumped too, unless it is the main one")
    func instrumentation() throws {
        let separate = try captureSet("""
        [Database]
        Provider = postgres
        [Postgres]
        URL = postgres://connect:one@db/connect
        InstrumentationURL = postgres://metrics:two@db/metrics
        """)
        #expect(separate.databases.map(\.role) == [.main, .instrumentation])
        #expect(separate.databases.map(\.redactedURL) == ["postgres://connect:****@db/connect", "postgres://metrics:****@db/metrics"])
        let same = try captureSet("""
        [Database]
        Provider = postgres
        [Postgres]
        URL = postgres://connect@db/connect
        InstrumentationURL = postgres://connect@db/connect
        """)
        #expect(same.databases.map(\.role) == [.main])
    }

    @Test("with SQLite, PostgreSQL settings are not dumped")
    func sqliteIgnoresPostgres() throws {
        let set = try captureSet("[Postgres]\nURL = postgres://u:p@db/connect")
        #expect(set.databases.isEmpty)
    }

    @Test("the same path named twice is one entry with both reasons")
    func deduplicates() throws {
        let set = try captureSet("""
        [HTTPS]
        Certificate = /etc/ssl/connect/bundle.pem
        Key = /etc/ssl/connect/bundle.pem
        [LDAP "corp"]
        TLSCACertificate = /etc/ssl/connect//bundle.pem
        """)
        let bundle = try #require(set.entries.first { $0.path == "/etc/ssl/connect/bundle.pem" })
        #expect(set.paths.filter { $0 == bundle.path }.count == 1)
        #expect(bundle.reasons.map(\.setting) == ["HTTPS.Certificate", "HTTPS.Key", "LDAP \"corp\".TLSCACertificate"])
        #expect(bundle.reasons.map(\.purpose) == ["TLS certificate", "TLS private key", "LDAP CA certificate"])
    }

    @Test("referenced files inside a captured directory are listed as covered")
    func coveredReferences() throws {
        let set = try captureSet("""
        [Server]
        LandingDir = /var/lib/rstudio-connect/landing
        [HTTPS]
        Certificate = /etc/rstudio-connect/tls/cert.pem
        [Metrics]
        DataPath = /etc/rstudio-connect/tls
        """)
        #expect(set.paths == ["/var/lib/rstudio-connect", Self.config, Self.migration, "/etc/rstudio-connect/tls"])
        let covered = Dictionary(uniqueKeysWithValues: set.covered.map { ($0.path, $0.coveredBy) })
        #expect(covered["/var/lib/rstudio-connect/landing"] == "/var/lib/rstudio-connect")
        #expect(covered["/etc/rstudio-connect/tls/cert.pem"] == "/etc/rstudio-connect/tls")
    }

    @Test("a configuration file inside the data directory is covered by it")
    func configInsideDataDir() throws {
        let set = try captureSet(Fixtures.minimal, path: "/var/lib/rstudio-connect/etc/connect.gcfg")
        #expect(set.paths == ["/var/lib/rstudio-connect"])
        #expect(set.covered.map(\.path).contains("/var/lib/rstudio-connect/etc/connect-migration.gcfg"))
    }

    @Test("the migration sibling's name", arguments: [
        ("/etc/rstudio-connect/rstudio-connect.gcfg", "/etc/rstudio-connect/rstudio-connect-migration.gcfg"),
        ("/etc/rstudio-pm/rstudio-pm.gcfg", "/etc/rstudio-pm/rstudio-pm-migration.gcfg"),
        ("/opt/connect/connect.conf", "/opt/connect/connect.conf-migration.gcfg"),
        ("/connect.gcfg", "/connect-migration.gcfg"),
    ])
    func migrationName(config: String, expected: String) {
        #expect(CaptureSet.migrationPath(forConfig: config) == expected)
    }

    @Test("a relative configuration path is refused")
    func relativeConfigPath() throws {
        let configuration = try configuration(Fixtures.minimal)
        let message = expectLockstepError(.usage) { _ = try CaptureSet(configuration: configuration, configPath: "connect.gcfg") }
        #expect(message.contains("connect.gcfg"))
    }

    @Test("the production installation: every path once, with why, and both databases")
    func production() throws {
        let set = try captureSet(Fixtures.production, environment: ["CONNECT_POSTGRES_PASSWORD": "env-only-pw"])
        #expect(set.paths == [
            "/srv/connect/data",
            "/var/lib/rstudio-connect-db",
            Self.config,
            Self.migration,
            "/etc/rstudio-connect/keys/secret.key",
            "/etc/ssl/certs/connect.example.org.crt",
            "/etc/ssl/private/connect.example.org.key",
            "/etc/ssl/certs/corp-ca.pem",
            "/etc/ssl/certs/partner-ca.pem",
            "/etc/rstudio-connect/saml/idp-metadata.xml",
            "/etc/rstudio-connect/saml/sp.crt",
            "/etc/rstudio-connect/oauth2-client-secret",
            "/etc/rstudio-connect/launcher/launcher.kubernetes.conf",
            "/etc/rstudio-connect/launcher/launcher.kubernetes.profiles.conf",
            "/var/lib/connect-metrics",
        ])
        #expect(set.covered.map(\.path) == ["/srv/connect/data/landing-page"])
        for entry in set.entries where entry.path != Self.config && entry.path != Self.migration {
            #expect(entry.reasons.allSatisfy { $0.setting != nil && $0.origin != nil }, "\(entry)")
        }
        #expect(set.databases.map(\.role) == [.main, .instrumentation])
        #expect(set.databases[0].password?.revealed == "env-only-pw")
        #expect(set.databases[1].password?.revealed == Fixtures.instrumentationSecret)
        let printed = everyRendering(set)
        for secret in [Fixtures.dbPassword, "s3cr", Fixtures.instrumentationSecret, "env-only-pw"] {
            #expect(!printed.contains(secret), "\(secret) printed")
        }
        #expect(printed.contains("instrumentation database postgres://metrics@db.example.org/connect_metrics"))
    }

    @Test("from a file on disk to the capture set")
    func fromDisk() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let file = dir.appending("rstudio-connect.gcfg")
        try Data("[Server]\nDataDir = \(dir.path)/data\n".utf8).write(to: URL(fileURLWithPath: file))
        let set = try CaptureSet(configuration: ConnectConfiguration.load(path: file, environment: [:]))
        #expect(set.paths == ["\(dir.path)/data", file, dir.appending("rstudio-connect-migration.gcfg")])
    }
}
