import Foundation
import LockstepApps
import LockstepCore
import Testing

/// A host where only the listed paths exist, with their modes.
struct FakeHost: HostProbe {
    var modes: [String: UInt32] = [:]
    var executables: Set<String> = []
    var networkPrefixes: [String: String] = [:]

    func mode(of path: String) -> UInt32? { modes[path] ?? modes[path + "/"] }
    func networkFileSystem(at path: String) -> String? {
        networkPrefixes.first { path.hasPrefix($0.key) }?.value
    }
    func isExecutable(_ path: String) -> Bool { executables.contains(path) }
}

@Suite("lockstep plan")
struct ApplicationPlanTests {
    private func plan(_ text: String, host: FakeHost, environment: [String: String] = [:]) throws -> ApplicationPlan {
        let config = try configuration(text, environment: environment)
        return ApplicationPlan(application: "connect", configuration: config, captureSet: try CaptureSet(configuration: config),
                               service: .systemd(unit: "rstudio-connect"), probe: host)
    }

    private var healthyDefaultHost: FakeHost {
        FakeHost(modes: ["/var/lib/rstudio-connect": 0o755, "/var/lib/rstudio-connect/db": 0o700,
                         "/var/lib/rstudio-connect/db/secret.key": 0o600,
                         ConnectConfiguration.defaultConfigPath: 0o644])
    }

    @Test("a healthy default installation: data dir and config captured, SQLite, systemd, no warnings")
    func healthyDefault() throws {
        let p = try plan(Fixtures.minimal, host: healthyDefaultHost)
        #expect(p.captures.map(\.path).contains("/var/lib/rstudio-connect"))
        #expect(p.captures.map(\.path).contains(ConnectConfiguration.defaultConfigPath))
        #expect(p.databases.isEmpty)
        #expect(p.warnings.isEmpty, "\(p.warnings)")
        let text = p.lines.joined(separator: "\n")
        #expect(text.contains("systemctl stop rstudio-connect"))
        #expect(text.contains("systemctl is-active rstudio-connect"))
        #expect(text.contains("no warnings"))
    }

    @Test("warnings: key file not 0600, SQLite on NFS, a missing data dir")
    func warnings() throws {
        var host = healthyDefaultHost
        host.modes["/var/lib/rstudio-connect/db/secret.key"] = 0o644
        host.networkPrefixes["/var/lib/rstudio-connect"] = "nfs"
        var p = try plan(Fixtures.minimal, host: host)
        #expect(p.warnings.contains { $0.contains("secret.key") && $0.contains("0600") })
        #expect(p.warnings.contains { $0.contains("network file system (nfs)") })
        host.modes.removeValue(forKey: "/var/lib/rstudio-connect")
        p = try plan(Fixtures.minimal, host: host)
        #expect(p.warnings.contains { $0.hasPrefix("/var/lib/rstudio-connect does not exist") })
    }

    @Test("PostgreSQL: the URL is shown redacted, missing executables are warned about")
    func postgres() throws {
        let p = try plan(Fixtures.production, host: FakeHost(executables: ["/opt/python/3.11.9/bin/python3"]))
        #expect(!p.databases.isEmpty)
        let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
        let text = p.lines.joined(separator: "\n")
        for rendering in [json, text] {
            #expect(!rendering.contains(Fixtures.dbPassword))
            #expect(!rendering.contains(Fixtures.instrumentationSecret))
        }
        #expect(text.contains("pg_dump -Fc"))
        #expect(p.warnings.contains { $0.contains("/opt/python/3.10.13/bin/python3") && $0.contains("not an executable") })
        #expect(!p.warnings.contains { $0.contains("/opt/python/3.11.9/bin/python3") })
    }

    @Test("service commands replace systemd in the plan")
    func commands() throws {
        let config = try configuration(Fixtures.minimal)
        let p = ApplicationPlan(application: "connect", configuration: config, captureSet: try CaptureSet(configuration: config),
                                service: .commands(stop: "sim stop", start: "sim start", status: "sim status"), probe: healthyDefaultHost)
        let text = p.lines.joined(separator: "\n")
        #expect(text.contains("stop:   sim stop"))
        #expect(!text.contains("systemctl"))
    }
}
