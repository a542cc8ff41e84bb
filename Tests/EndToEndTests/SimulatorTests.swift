import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Connect simulator (Tests/Simulator/connect_simulator.py): a service that keeps writing
/// bundle files and the database rows that reference them, and refuses a wrong key as Connect does.
struct Simulator {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Simulator/connect_simulator.py").path
    let data: String

    /// Debian's python3: the postgres provider needs its python3-psycopg2.
    func command(_ verb: String, _ extra: String = "") -> String { "/usr/bin/python3 '\(Self.script)' \(verb) --data '\(data)' \(extra)" }

    /// A simulator initialised under `scratch`, with a Connect configuration naming it, started.
    static func running(in scratch: Scratch) throws -> (sim: Simulator, config: String) {
        let sim = Simulator(data: "\(scratch.path)/data")
        try sh(sim.command("init"))
        let config = "\(scratch.path)/rstudio-connect.gcfg"
        try write(config, "[Server]\nDataDir = \(sim.data)\n[Database]\nProvider = sqlite\n")
        try sh(sim.command("start", "--interval-ms 5"))
        return (sim, config)
    }

    /// lockstep's service options driving this simulator.
    var serviceOptions: [String] {
        ["--stop-command", command("stop"), "--start-command", command("start", "--interval-ms 5"),
         "--status-command", command("status"), "--service-timeout", "30"]
    }

    /// Kills the daemon by the pid it wrote, whatever state the test left it in.
    func kill() {
        if let pid = try? String(contentsOfFile: "\(data)/simulator.pid", encoding: .utf8),
           let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
            Glibc.kill(number, SIGKILL)
        }
    }
}

@Suite("Application backups of a running Connect simulator")
struct SimulatorTests {
    @Test("backups taken while the simulator works restore consistent every time, and it runs again after each")
    func consistentEveryTime() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let (sim, config) = try Simulator.running(in: scratch)
        defer { sim.kill() }
        let options = ["--app-config", config] + sim.serviceOptions
        var ids = [String]()
        for round in 0..<3 {
            usleep(300_000)  // let it write between backups
            let r = try tool.run(["backup", "--json"] + options)
            #expect(r.status == 0, "round \(round): \(r.stderr)")
            #expect(try r.json()["consistent"] as? Bool == true)
            ids.append(try #require(try r.json()["snapshot_id"] as? String))
            #expect((try r.json()["files_unmodified"] as? Int ?? 0) + (try r.json()["files_new"] as? Int ?? 0) > 0)
            #expect(try sh(sim.command("status") + " >/dev/null && echo up") == "up\n", "the simulator is not running again")
        }
        for id in ids {
            let out = "\(scratch.path)/restore-\(id.prefix(8))"
            let r = try tool.run(["restore", id, "--target", out, "--verify"])
            #expect(r.status == 0, "\(r.stderr)")
            let check = Simulator(data: out + sim.data)
            let result = try sh(check.command("check") + " 2>&1; true")
            #expect(result.contains("consistent:") && !result.contains("inconsistent"), "snapshot \(id.prefix(8)): \(result)")
        }
        try sh(sim.command("stop", "--wait"))
    }

    @Test("PostgreSQL variant: backups while it works hold files and dump of one moment; restored in place, it starts")
    func postgresVariant() throws {
        let pg = try TestPostgres.shared()
        let db = try pg.makeDatabase("sim")
        try pg.psql("ALTER ROLE \(db.user) CREATEDB;")
        var databases = [db.name, db.name + "_copy"]
        defer { pg.drop(databases, roles: [db.user]) }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let sim = Simulator(data: "\(scratch.path)/data")
        let url = pg.url(database: db.name, user: db.user, password: db.password)
        try sh(sim.command("init", "--provider postgres --db-url '\(url)'"))
        defer { sim.kill() }
        let config = "\(scratch.path)/rstudio-connect.gcfg"
        try write(config, "[Server]\nDataDir = \(sim.data)\n[Database]\nProvider = postgres\n[Postgres]\nURL = \"\(url)\"\n")
        try sh(sim.command("start", "--interval-ms 5"))
        let options = ["--app-config", config] + sim.serviceOptions
        var ids = [String]()
        for round in 0..<2 {
            usleep(300_000)
            let r = try tool.run(["backup", "--json"] + options)
            #expect(r.status == 0, "round \(round): \(r.stderr)")
            #expect(try r.json()["consistent"] as? Bool == true)
            ids.append(try #require(try r.json()["snapshot_id"] as? String))
            #expect(try sh(sim.command("status") + " >/dev/null && echo up") == "up\n")
        }
        // The files and the dump of the last snapshot agree: load the dump into a copy and check.
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", ids[1], "--target", out]).status == 0)
        try pg.psql("CREATE DATABASE \(db.name)_copy;")
        try sh("PGPASSWORD='\(pg.password)' pg_restore -h 127.0.0.1 -p \(pg.port) -U postgres --no-owner -d \(db.name)_copy '\(out)/.lockstep/postgres/main.pgdump'")
        let copyURL = "postgres://postgres:\(pg.password)@127.0.0.1:\(pg.port)/\(db.name)_copy"
        let check = try sh(Simulator(data: out + sim.data).command("check", "--provider postgres --db-url '\(copyURL)'") + " 2>&1; true")
        #expect(check.contains("consistent:") && !check.contains("inconsistent"), "\(check)")

        // In place, back to the first snapshot: files and database switched, the simulator starts.
        let r = try tool.run(["restore", ids[0], "--in-place"] + sim.serviceOptions)
        #expect(r.status == 0, "\(r.stderr)")
        databases.append("\(db.name)_before_\(ids[0].prefix(8))")
        #expect(try sh(sim.command("status") + " >/dev/null && echo up") == "up\n")
        try sh(sim.command("stop", "--wait"))
        let after = try sh(sim.command("check") + " 2>&1; true")
        #expect(after.contains("consistent:") && !after.contains("inconsistent"), "\(after)")
    }
}
