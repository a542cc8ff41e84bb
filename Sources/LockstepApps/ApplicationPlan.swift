package import LockstepCore

/// What an application backup would do, and what looks wrong before it does: `lockstep plan`.
/// Built from the configuration's capture set and a probe of the host; it changes nothing.
package struct ApplicationPlan: Sendable, Encodable {
    package struct Capture: Sendable, Encodable, Equatable {
        package var path: String
        package var kind: String
        package var optional: Bool
        package var reasons: [String]
        package var coveredBy: String?

        enum CodingKeys: String, CodingKey { case path, kind, optional, reasons, coveredBy = "covered_by" }
    }

    package struct Database: Sendable, Encodable, Equatable {
        package var role: String
        /// The URL with any password replaced by `****`.
        package var url: String
        package var method: String
        package var reasons: [String]
    }

    package var application: String
    package var configPath: String
    package var provider: String
    package var captures: [Capture]
    package var covered: [Capture]
    package var databases: [Database]
    package var service: ServicePlan
    package var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case application, configPath = "config_path", provider, captures, covered, databases, service, warnings
    }

    package init(application: String, configuration: ConnectConfiguration, captureSet: CaptureSet,
                 service: ServicePlan, probe: any HostProbe) {
        self.application = application
        configPath = configuration.configPath
        provider = configuration.provider.rawValue
        self.service = service
        func capture(_ e: CaptureEntry) -> Capture {
            Capture(path: e.path, kind: e.kind.rawValue, optional: e.isOptional, reasons: e.reasons.map(\.description),
                    coveredBy: e.coveredBy)
        }
        captures = captureSet.entries.map(capture)
        covered = captureSet.covered.map(capture)
        databases = captureSet.databases.map { db in
            Database(role: db.role.rawValue, url: db.redactedURL,
                     method: "snapshot exported in the stop window (pg_export_snapshot), pg_dump -Fc --snapshot of it streamed into the backup after the start",
                     reasons: db.reasons.map(\.description))
        }

        var warnings = [String]()
        for entry in captureSet.entries + captureSet.covered where !entry.isOptional {
            if probe.mode(of: entry.path) == nil {
                let why = entry.reasons.first.map { " (\($0))" } ?? ""
                warnings.append("\(entry.path) does not exist\(why)")
            }
        }
        let key = configuration.encryptionKeyFile.value
        if let mode = probe.mode(of: key), mode & 0o777 != 0o600 {
            warnings.append("the encryption key file \(key) has mode \(String(mode & 0o7777, radix: 8)); \(configuration.application.displayName) refuses to start unless it is 0600")
        }
        if configuration.provider == .sqlite, let fs = probe.networkFileSystem(at: configuration.sqliteDir.value) {
            warnings.append("the SQLite directory \(configuration.sqliteDir.value) is on a network file system (\(fs)); SQLite must live on local disk")
        }
        warnings += Self.missingExecutables(configuration, probe: probe)
        self.warnings = warnings
    }

    /// One line per executable the configuration names (Python, Quarto, R) that this host lacks.
    package static func missingExecutables(_ configuration: ConnectConfiguration, probe: any HostProbe) -> [String] {
        (configuration.pythonExecutables + configuration.quartoExecutables + configuration.rExecutables)
            .filter { !probe.isExecutable($0.value) }
            .map { "\($0.key) names \($0.value), which is not an executable on this host (\($0.origin))" }
    }

    /// The plan as text for a terminal.
    package var lines: [String] {
        var out = ["\(application) configuration: \(configPath) (database provider: \(provider))", "", "files captured:"]
        for c in captures {
            out.append("  \(c.path)\(c.kind == "directory" ? "/" : "")\(c.optional ? " (if present)" : "")")
            for r in c.reasons { out.append("      because: \(r)") }
        }
        if !covered.isEmpty {
            out.append("also named by the configuration, captured inside the paths above:")
            for c in covered { out.append("  \(c.path) (in \(c.coveredBy ?? "?"))") }
        }
        out.append("")
        if databases.isEmpty {
            out.append(provider == "sqlite" ? "database: SQLite files, captured with their directory while the service is stopped" : "database: none to dump")
        } else {
            for d in databases { out.append("database (\(d.role)): \(d.url) — \(d.method)") }
        }
        out.append("")
        out.append("service (\(service.summary)):")
        out.append("  stop:   \(service.stop), then wait until `\(service.status)` reports it stopped")
        out.append("  start:  \(service.start), then wait until it reports running")
        out.append("")
        if warnings.isEmpty {
            out.append("no warnings")
        } else {
            out.append("warnings:")
            for w in warnings { out.append("  ! \(w)") }
        }
        return out
    }
}
