import Foundation
import Testing

@Suite("lockstep plan")
struct PlanTests {
    @Test("plan names what it would capture and what is wrong, changes nothing, and leaks no password")
    func plan() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let data = "\(scratch.path)/data"
        try FileManager.default.createDirectory(atPath: "\(data)/db", withIntermediateDirectories: true)
        try write("\(data)/db/secret.key", "key")
        chmod("\(data)/db/secret.key", 0o644)
        let config = "\(scratch.path)/rstudio-connect.gcfg"
        try write(config, """
            ; a test installation
            [Server]
            DataDir = \(data)   # trailing comment
            [Database]
            Provider = postgres
            [Postgres]
            URL = "postgres://connect:hunter2-in-url@localhost:5432/connect?sslmode=disable"
            [Python]
            Executable = /nonexistent/python3
            """)
        let before = try treeFacts(scratch.path)
        let tool = Lockstep(repo: "\(scratch.path)/no-repo", passwordFile: "/dev/null")
        let r = try tool.run(["plan", "--app-config", config, "--json"], environment: ["CONNECT_POSTGRES_PASSWORD": "env-secret-pw"])
        #expect(r.status == 0, "\(r.stderr)")
        for secret in ["hunter2-in-url", "env-secret-pw"] {
            #expect(!r.stdout.contains(secret) && !r.stderr.contains(secret))
        }
        let plan = try r.json()
        let captures = try #require(plan["captures"] as? [[String: Any]]).compactMap { $0["path"] as? String }
        #expect(captures.contains(data))
        #expect(captures.contains(config))
        let warnings = try #require(plan["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("secret.key") && $0.contains("644") })
        #expect(warnings.contains { $0.contains("/nonexistent/python3") })
        let databases = try #require(plan["databases"] as? [[String: Any]])
        #expect((databases.first?["url"] as? String)?.contains("****") == true)
        #expect(try treeFacts(scratch.path) == before, "plan changed something")

        let text = try tool.run(["plan", "--app-config", config, "--stop-command", "true", "--start-command", "true", "--status-command", "true"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("stop:   true"))

        let bad = "\(scratch.path)/bad.gcfg"
        try write(bad, "[Server]\nDataDir = \"unterminated\n")
        let malformed = try tool.run(["plan", "--app-config", bad])
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("\(bad):2"))
    }
}
