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

    func command(_ verb: String, _ extra: String = "") -> String { "python3 '\(Self.script)' \(verb) --data '\(data)' \(extra)" }

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
}
