import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `--app package-manager`: Posit Package Manager's paths and names, the same procedure.
@Suite("Application backups: Package Manager")
struct PackageManagerTests {
    @Test("plan, backup, verify and restore --in-place of a Package Manager installation")
    func wholeFlow() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let root = scratch.path
        let data = "\(root)/var/lib/rstudio-pm", config = "\(root)/etc/rstudio-pm/rstudio-pm.gcfg"
        try FileManager.default.createDirectory(atPath: "\(data)/db", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/etc/rstudio-pm", withIntermediateDirectories: true)
        try write("\(data)/rstudio-pm.key", "pm-key")
        chmod("\(data)/rstudio-pm.key", 0o600)
        try sh("sqlite3 '\(data)/db/rstudio-pm.db' 'create table sources(id integer primary key, name text); insert into sources(name) values (\"cran\");'")
        try write("\(data)/packages.txt", "ggplot2\n")
        try write(config, "[Server]\nDataDir = \(data)\n")
        let running = "\(root)/running"
        try write(running, "")
        let service = ["--app", "package-manager", "--stop-command", "rm -f '\(running)'", "--start-command", "touch '\(running)'",
                       "--status-command", "test -e '\(running)'", "--service-timeout", "5"]

        let plan = try tool.run(["plan", "--app-config", config] + service.dropLast(2))
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("\(data)/rstudio-pm.key") || plan.stdout.contains(data), "\(plan.stdout)")
        #expect(plan.stdout.contains("Package Manager"))

        let backup = try tool.run(["backup", "--json", "--app-config", config] + service)
        #expect(backup.status == 0, "\(backup.stderr)")
        let list = try tool.run(["snapshots", "--json"])
        let meta = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.first?["metadata"] as? [String: String])
        #expect(meta["application"] == "package-manager")
        #expect(meta["key_sha256"]?.count == 64, "the key file rstudio-pm.key was not fingerprinted")
        #expect(meta["sqlite_integrity"] == "rstudio-pm.db: ok")

        let verify = try tool.run(["verify", "latest"])
        #expect(verify.status == 0, "\(verify.stderr)")

        try write("\(data)/packages.txt", "changed\n")
        try write("\(data)/stray", "x")
        let restore = try tool.run(["restore", "latest", "--in-place"] + service)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try String(contentsOfFile: "\(data)/packages.txt", encoding: .utf8) == "ggplot2\n")
        #expect(!FileManager.default.fileExists(atPath: "\(data)/stray"))
        #expect(FileManager.default.fileExists(atPath: running))
    }

    @Test("an unknown --app is a usage error naming the known ones")
    func unknownApp() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let r = try tool.run(["plan", "--app", "workbench"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("package-manager"), "\(r.stderr)")
    }
}
