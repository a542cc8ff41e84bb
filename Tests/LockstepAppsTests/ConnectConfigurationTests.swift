import Foundation
import LockstepApps
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("Connect configuration")
struct ConnectConfigurationTests {
    static let path = ConnectConfiguration.defaultConfigPath

    func fileOrigin(_ marker: String, in text: String = Fixtures.production) -> ConnectSetting.Origin {
        .file(path: Self.path, line: line(of: marker, in: text))
    }

    @Test("an empty configuration gets the documented defaults")
    func defaults() throws {
        let config = try configuration(Fixtures.minimal)
        #expect(config.provider == .sqlite)
        #expect(config.providerSetting.origin == .defaultValue("default"))
        #expect(config.dataDir.value == "/var/lib/rstudio-connect")
        #expect(config.dataDir.origin == .defaultValue("default"))
        #expect(config.databaseDir.value == "/var/lib/rstudio-connect/db")
        #expect(config.sqliteDir.value == "/var/lib/rstudio-connect/db")
        #expect(config.encryptionKeyFile.value == "/var/lib/rstudio-connect/db/secret.key")
        #expect(config.postgresURL == nil && config.postgresPassword == nil)
        #expect(config.instrumentationURL == nil && config.instrumentationPassword == nil)
        #expect(config.pythonExecutables.isEmpty && config.quartoExecutables.isEmpty && config.rExecutables.isEmpty)
        #expect(config.referencedPaths.isEmpty)
        #expect(config.configPath == Self.path)
        #expect(try configuration("").dataDir.value == "/var/lib/rstudio-connect")
    }

    @Test("defaults follow a customised data directory and database directory")
    func derivedDefaults() throws {
        let config = try configuration("[Server]\nDataDir = /srv/connect//data/\n[Database]\nDir = /srv/connect-db")
        #expect(config.dataDir.value == "/srv/connect/data")
        #expect(config.dataDir.origin == .file(path: Self.path, line: 2))
        #expect(config.sqliteDir.value == "/srv/connect/data/db")
        #expect(config.sqliteDir.origin == .defaultValue("default: Server.DataDir/db"))
        #expect(config.databaseDir.value == "/srv/connect-db")
        #expect(config.encryptionKeyFile.value == "/srv/connect-db/secret.key")
        #expect(config.encryptionKeyFile.origin == .defaultValue("default: Database.Dir/secret.key"))
    }

    @Test("an empty value counts as unset; provider names ignore case")
    func emptyAndCase() throws {
        let config = try configuration("[Server]\nDataDir =\n[Database]\nProvider = SQLite\n[SQLite]\nDir = \"\"")
        #expect(config.dataDir.value == "/var/lib/rstudio-connect")
        #expect(config.provider == .sqlite)
        #expect(config.sqliteDir.value == "/var/lib/rstudio-connect/db")
        let postgres = try configuration("[Database]\nProvider = Postgres\n[Postgres]\nURL = postgres://db/connect")
        #expect(postgres.provider == .postgres)
    }

    @Test("the production configuration, every setting with its line")
    func production() throws {
        let config = try configuration(Fixtures.production)
        #expect(config.provider == .postgres)
        #expect(config.providerSetting.origin == fileOrigin("Provider = postgres"))
        #expect(config.dataDir == ConnectSetting(key: "Server.DataDir", value: "/srv/connect/data", origin: fileOrigin("DataDir = /srv")))
        #expect(config.databaseDir.value == "/var/lib/rstudio-connect-db")
        #expect(config.sqliteDir.value == "/srv/connect/data/db")
        #expect(config.encryptionKeyFile.value == "/etc/rstudio-connect/keys/secret.key")
        #expect(config.encryptionKeyFile.origin == fileOrigin("EncryptionKeyFile"))

        let url = try #require(config.postgresURL)
        #expect(url.unredacted == "postgres://connect:\(Fixtures.dbPassword)@db.example.org:5432/connect?sslmode=require")
        #expect(url.redacted == "postgres://connect:****@db.example.org:5432/connect?sslmode=require")
        #expect(url.origin == fileOrigin("URL = \"postgres://"))
        #expect(config.instrumentationURL?.unredacted == "postgres://metrics@db.example.org/connect_metrics")
        #expect(config.instrumentationPassword?.revealed == Fixtures.instrumentationSecret)
        #expect(config.postgresPassword == nil)

        #expect(config.pythonExecutables.map(\.value) == [
            "/opt/python/3.10.13/bin/python3", "/opt/python/3.11.9/bin/python3", "/opt/python/3.12.4/bin/python3",
        ])
        #expect(config.pythonExecutables.last?.origin == fileOrigin("3.12.4"))
        #expect(config.quartoExecutables.map(\.value) == ["/opt/quarto/1.4.557/bin/quarto"])
        #expect(config.rExecutables.map(\.value) == ["/opt/R/4.3.3/bin/R", "/opt/R/4.4.1/bin/R"])

        let referenced = config.referencedPaths.map { "\($0.setting.key) \($0.path) \($0.kind.rawValue)" }
        #expect(referenced == [
            "HTTPS.Certificate /etc/ssl/certs/connect.example.org.crt file",
            "HTTPS.Key /etc/ssl/private/connect.example.org.key file",
            "LDAP \"Corporate Directory\".TLSCACertificate /etc/ssl/certs/corp-ca.pem file",
            "LDAP \"Partner Directory\".TLSCACertificate /etc/ssl/certs/partner-ca.pem file",
            "SAML.IdPMetaDataPath /etc/rstudio-connect/saml/idp-metadata.xml file",
            "SAML.SPEncryptionCertificate /etc/rstudio-connect/saml/sp.crt file",
            "OAuth2.ClientSecretFile /etc/rstudio-connect/oauth2-client-secret file",
            "Launcher.ClusterDefinitions /etc/rstudio-connect/launcher/launcher.kubernetes.conf file",
            "Launcher.KubernetesProfilesConfig /etc/rstudio-connect/launcher/launcher.kubernetes.profiles.conf file",
            "Server.LandingDir /srv/connect/data/landing-page directory",
            "Metrics.DataPath /var/lib/connect-metrics directory",
        ])
        for path in config.referencedPaths {
            guard case let .file(_, line) = path.setting.origin else { Issue.record("\(path) not from the file"); continue }
            #expect(Fixtures.production.split(separator: "\n", omittingEmptySubsequences: false)[line - 1].contains(path.path))
        }
    }

    @Test("the configuration never prints a password")
    func noSecretsPrinted() throws {
        let config = try configuration(Fixtures.production,
                                       environment: ["CONNECT_POSTGRES_PASSWORD": "env-pass-1234"])
        let printed = everyRendering(config)
        for secret in [Fixtures.dbPassword, "s3cr", Fixtures.instrumentationSecret, "env-pass-1234"] {
            #expect(!printed.contains(secret), "\(secret) printed")
        }
        #expect(String(describing: config).contains("postgres://connect:****@db.example.org"))
        #expect(String(describing: config).contains("Postgres.Password = **** (environment variable CONNECT_POSTGRES_PASSWORD)"))
    }

    @Test("CONNECT_<SECTION>_<KEY> overrides the file and moves the derived defaults")
    func environmentOverrides() throws {
        let config = try configuration(Fixtures.production, environment: [
            "CONNECT_SERVER_DATADIR": "/mnt/shared/connect",
            "CONNECT_DATABASE_DIR": "",                      // empty: unset, the file's value stays
            "CONNECT_POSTGRES_PASSWORD": "from-env",
            "CONNECT_HTTPS_KEY": "/etc/ssl/private/rotated.key",
            "RSTUDIO_CONNECT_SERVER_DATADIR": "/not/ours",
            "PATH": "/usr/bin",
        ])
        #expect(config.dataDir.value == "/mnt/shared/connect")
        #expect(config.dataDir.origin == .environment(variable: "CONNECT_SERVER_DATADIR"))
        #expect(config.sqliteDir.value == "/mnt/shared/connect/db")
        #expect(config.databaseDir.value == "/var/lib/rstudio-connect-db")
        #expect(config.postgresPassword?.revealed == "from-env")
        #expect(config.postgresPassword?.origin == .environment(variable: "CONNECT_POSTGRES_PASSWORD"))
        #expect(config.referencedPaths.first { $0.setting.key == "HTTPS.Key" }?.path == "/etc/ssl/private/rotated.key")
    }

    @Test("environment names match section and key without regard to case; uppercase wins a tie")
    func environmentCase() throws {
        #expect(try configuration("", environment: ["connect_server_datadir": "/lower"]).dataDir.value == "/lower")
        #expect(try configuration("", environment: ["Connect_Sqlite_Dir": "/mixed"]).sqliteDir.value == "/mixed")
        let tie = try configuration("", environment: ["connect_server_datadir": "/lower", "CONNECT_SERVER_DATADIR": "/upper"])
        #expect(tie.dataDir.value == "/upper")
        let provider = try configuration("", environment: [
            "CONNECT_DATABASE_PROVIDER": "postgres", "CONNECT_POSTGRES_URL": "postgres://u:pw@db/connect",
        ])
        #expect(provider.provider == .postgres)
        #expect(provider.postgresURL?.origin == .environment(variable: "CONNECT_POSTGRES_URL"))
    }

    @Test("multi-valued keys: environment items come after the file's")
    func environmentLists() throws {
        let config = try configuration("[Python]\nExecutable = /opt/python/3.11/bin/python3", environment: [
            "CONNECT_PYTHON_EXECUTABLE": "/opt/python/3.12/bin/python3, /opt/python/3.13/bin/python3,",
            "CONNECT_QUARTO_EXECUTABLE": "/usr/local/bin/quarto",
        ])
        #expect(config.pythonExecutables.map(\.value) == [
            "/opt/python/3.11/bin/python3", "/opt/python/3.12/bin/python3", "/opt/python/3.13/bin/python3",
        ])
        #expect(config.pythonExecutables[1].origin == .environment(variable: "CONNECT_PYTHON_EXECUTABLE"))
        #expect(config.quartoExecutables.map(\.value) == ["/usr/local/bin/quarto"])
    }

    @Test("subsection overrides (CONNECT_LDAP_<name>_TLSCACERTIFICATE) and keys only the environment sets")
    func environmentSubsectionsAndGenericKeys() throws {
        let config = try configuration("[LDAP \"corp\"]\nTLSCACertificate = /etc/ca/corp.pem\n[LDAP \"Corp\"]\nServerAddress = x", environment: [
            "CONNECT_LDAP_corp_TLSCACERTIFICATE": "/etc/ca/corp-2024.pem",
            "CONNECT_LDAP_partner_TLSCACERTIFICATE": "/etc/ca/partner.pem",
            "CONNECT_SAML_IDPMETADATAPATH": "/etc/saml/idp.xml",
            "CONNECT_SAML_IDPMETADATAURL": "https://idp.example.org/meta",
            "CONNECT_LAUNCHER_CLUSTERDEFINITIONS": "/etc/launcher/a.conf,/etc/launcher/b.conf",
            "CONNECT_OAUTH2_CLIENTSECRETFILE": "/etc/oauth2.secret",
        ])
        #expect(config.referencedPaths.map { "\($0.setting.key)=\($0.path)" } == [
            "LDAP \"corp\".TLSCACertificate=/etc/ca/corp-2024.pem",
            "LDAP \"partner\".TLSCACertificate=/etc/ca/partner.pem",
            "SAML.IDPMETADATAPATH=/etc/saml/idp.xml",
            "OAuth2.ClientSecretFile=/etc/oauth2.secret",
            "Launcher.CLUSTERDEFINITIONS=/etc/launcher/a.conf",
            "Launcher.CLUSTERDEFINITIONS=/etc/launcher/b.conf",
        ])
    }

    @Test("generic SAML and Launcher keys: URLs, relative values and scratch space are not files")
    func genericKeys() throws {
        let config = try configuration("""
        [SAML]
        IdPMetaDataURL = https://idp.example.org/metadata
        IdPMetaDataPath = https://idp.example.org/also-a-url
        SPSigningKey = /etc/saml/../saml/sp.key
        IdPAttributeProfile = default
        [Launcher]
        ScratchPath = /var/lib/launcher-scratch
        ClusterDefinitions = /etc/launcher/k8s.conf
        ClusterDefinitions = /etc/launcher/local.conf
        KubernetesProfilesConfig = profiles.conf
        """)
        #expect(config.referencedPaths.map(\.path) == ["/etc/saml/sp.key", "/etc/launcher/k8s.conf", "/etc/launcher/local.conf"])
    }

    /// (file text, line the error must name, words the message must contain)
    static let invalid: [(String, Int, String)] = [
        ("[Database]\nProvider = mysql", 2, "Database.Provider is \"mysql\"; Connect knows sqlite and postgres"),
        ("[Server]\n[Database]\n  Provider = postgres ; no URL", 3, "Postgres.URL is not set"),
        ("[Server]\nDataDir = relative/dir", 2, "Server.DataDir is the relative path \"relative/dir\""),
        ("[Server]\nDataDir", 2, "Server.DataDir has no value"),
        ("[Postgres]\nURL\n[Database]\nProvider = postgres", 2, "Postgres.URL has no value"),
        ("[SQLite]\nDir = ~/connect", 2, "SQLite.Dir is the relative path"),
        ("[HTTPS]\nCertificate = certs/connect.pem", 2, "HTTPS.Certificate is the relative path"),
        ("\n[LDAP \"corp\"]\nTLSCACertificate = ca.pem", 3, "LDAP \"corp\".TLSCACertificate is the relative path"),
        ("[Server]\nLandingDir = landing", 2, "Server.LandingDir is the relative path"),
    ]

    @Test("values Connect would refuse name the file and line", arguments: invalid)
    func invalidValues(text: String, line: Int, what: String) {
        let message = expectLockstepError { _ = try configuration(text) }
        #expect(message.hasPrefix("\(Self.path):\(line): "), "\(message)")
        #expect(message.contains(what), "\(message)")
    }

    @Test("values from the environment that Connect would refuse name the variable")
    func invalidEnvironment() {
        let provider = expectLockstepError { _ = try configuration("", environment: ["CONNECT_DATABASE_PROVIDER": "oracle"]) }
        #expect(provider.hasPrefix("environment variable CONNECT_DATABASE_PROVIDER: Database.Provider is \"oracle\""))
        let noURL = expectLockstepError { _ = try configuration("", environment: ["CONNECT_DATABASE_PROVIDER": "postgres"]) }
        #expect(noURL.contains("CONNECT_POSTGRES_URL"))
        let relative = expectLockstepError { _ = try configuration("", environment: ["CONNECT_HTTPS_CERTIFICATE": "x.pem"]) }
        #expect(relative.hasPrefix("environment variable CONNECT_HTTPS_CERTIFICATE: HTTPS.Certificate is the relative path"))
    }

    @Test("a bare Postgres.Password is refused without printing anything secret")
    func barePassword() {
        let message = expectLockstepError {
            _ = try configuration("[Postgres]\nURL = postgres://u:topsecret@db/c\nPassword\n[Database]\nProvider = postgres")
        }
        #expect(message.hasPrefix("\(Self.path):3: Postgres.Password has no value"))
        #expect(!message.contains("topsecret"))
    }

    @Test("load reads the file from disk with the given environment")
    func load() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let file = dir.appending("rstudio-connect.gcfg")
        try Data(Fixtures.production.utf8).write(to: URL(fileURLWithPath: file))
        let config = try ConnectConfiguration.load(path: file, environment: ["CONNECT_SERVER_DATADIR": "/elsewhere"])
        #expect(config.configPath == file)
        #expect(config.dataDir.value == "/elsewhere")
        #expect(config.providerSetting.origin == .file(path: file, line: line(of: "Provider = postgres", in: Fixtures.production)))
    }
}
