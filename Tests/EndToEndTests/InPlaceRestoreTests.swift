import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `restore SNAPSHOT --in-place`: staged beside the live paths, switched in the stop window,
/// verified, the service started; refused before anything changes when the host lacks what the
/// snapshot needs.
@Suite("In-place restores of application snapshots")
struct InPlaceRestoreTests {
    @Test("the running simulator is restored to an exact mirror of a snapshot and starts; the safety snapshot undoes it")
    func simulatorMirror() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let (sim, config) = try Simulator.running(in: scratch)
        defer { sim.kill() }
        let backup = try tool.run(["backup", "--json", "--app-config", config] + sim.serviceOptions)
        #expect(backup.status == 0, "\(backup.stderr)")
        let id = try #require(try backup.json()["snapshot_id"] as? String)
        usleep(500_000)  // the simulator drifts: new bundles, deleted bundles, new rows
        try write("\(sim.data)/not-in-snapshot.txt", "stray")

        let r = try tool.run(["restore", id, "--in-place"] + sim.serviceOptions)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try sh(sim.command("status") + " >/dev/null && echo up") == "up\n", "the simulator is not running after the restore")
        #expect(r.stdout.contains("to undo: lockstep restore"))
        #expect(try sh("ls -a '\(scratch.path)'").contains(".lockstep-") == false, "staging or old paths left behind")

        // Exact mirror: what is on disk now (the simulator stopped) equals a plain restore of the snapshot.
        try sh(sim.command("stop", "--wait"))
        let reference = "\(scratch.path)/reference"
        #expect(try tool.run(["restore", id, "--target", reference]).status == 0)
        var live = try treeFacts(sim.data), expected = try treeFacts(reference + sim.data)
        // The simulator's own run since the restore: its log lines, database files (and their
        // directory) and bundles move; the rest must be exactly the snapshot.
        for key in Array(live.keys) + Array(expected.keys) where key.hasPrefix("logs") || key.hasPrefix("db/connect.db") || key.hasPrefix("apps") || key == "" || key == "db" {
            live.removeValue(forKey: key)
            expected.removeValue(forKey: key)
        }
        #expect(live == expected)
        #expect(live["not-in-snapshot.txt"] == nil)
        let check = try sh(sim.command("check") + " 2>&1; true")
        #expect(check.contains("consistent:") && !check.contains("inconsistent"), "\(check)")
    }

    @Test("a snapshot owned by a user this host lacks is refused before anything changes; --map-user restores it")
    func missingUserRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let user = "lsu\(UInt16.random(in: 1000...9999))"
        try sh("useradd --no-create-home --uid \(Int.random(in: 42000...42999)) \(user) && chown -R \(user): '\(app.data)/apps'")
        defer { _ = try? sh("userdel \(user) 2>/dev/null; true") }
        sleep(2)
        #expect(try tool.run(["backup"] + app.options()).status == 0)
        try write(app.log, "")
        try sh("userdel \(user)")
        try write("\(app.data)/apps/1/bundle.tar.gz", "changed")
        let before = try treeFacts(app.data)
        let refused = try tool.run(["restore", "latest", "--in-place"] + Array(app.options().dropFirst(2)))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("user \(user)") && refused.stderr.contains("--map-user"), "\(refused.stderr)")
        #expect(app.calls.isEmpty, "the service was touched")
        #expect(try treeFacts(app.data) == before)

        let mapped = try tool.run(["restore", "latest", "--in-place", "--map-user", "\(user)=daemon", "--map-group", "\(user)=daemon"]
                                  + Array(app.options().dropFirst(2)))
        #expect(mapped.status == 0, "\(mapped.stderr)")
        #expect(app.calls == ["stop", "start"])
        #expect(try String(contentsOfFile: "\(app.data)/apps/1/bundle.tar.gz", encoding: .utf8) == "bundle")
        #expect(try sh("stat -c %U '\(app.data)/apps/1/bundle.tar.gz'") == "daemon\n")
    }

    @Test("an inconsistent (--live) snapshot is refused in place without --force")
    func inconsistentRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        #expect(try tool.run(["backup", "--no-stop", "--live"] + app.options()).status == 0)
        let r = try tool.run(["restore", "latest", "--in-place"] + Array(app.options().dropFirst(2)))
        #expect(r.status == 1)
        #expect(r.stderr.contains("--force"), "\(r.stderr)")
        #expect(app.calls.isEmpty)
        let forced = try tool.run(["restore", "latest", "--in-place", "--force", "--no-safety-snapshot"] + Array(app.options().dropFirst(2)))
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("forced past"))
    }

    @Test("PostgreSQL: restored into a new database and switched in; the old one kept; the service started")
    func postgresInPlace() throws {
        let pg = try TestPostgres.shared()
        let db = try pg.makeDatabase("connect")
        try pg.psql("ALTER ROLE \(db.user) CREATEDB;")
        let suffix = db.name.split(separator: "_").last!
        defer { pg.drop([db.name, "\(db.name)_before_\(suffix)"] + ["\(db.name)_lockstep_x"], roles: [db.user]) }
        try pg.psql("CREATE TABLE bundles(id int PRIMARY KEY, path text); INSERT INTO bundles SELECT g, 'apps/' || g FROM generate_series(1, 100) g;"
                    + "ALTER TABLE bundles OWNER TO \(db.user);", database: db.name)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        try write(app.config, "[Server]\nDataDir = \(app.data)\n[Database]\nProvider = postgres\n[Postgres]\nURL = \"\(pg.url(database: db.name, user: db.user, password: db.password))\"\n")
        let backup = try tool.run(["backup", "--json"] + app.options())
        #expect(backup.status == 0, "\(backup.stderr)")
        let id = try #require(try backup.json()["snapshot_id"] as? String)
        try write(app.log, "")
        try pg.psql("DELETE FROM bundles WHERE id > 10;", database: db.name)

        let r = try tool.run(["restore", id, "--in-place"] + Array(app.options().dropFirst(2)))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains(db.password) && !r.stderr.contains(db.password))
        #expect(try pg.psql("SELECT count(*) FROM bundles", database: db.name) == "100\n")
        let old = "\(db.name)_before_\(id.prefix(8))"
        #expect(try pg.psql("SELECT count(*) FROM bundles", database: old) == "10\n")
        pg.drop([old])
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        // The safety snapshot holds the state before, database dump included.
        let list = try tool.run(["snapshots", "--json"])
        let snaps = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        let safety = try #require(snaps.last)
        #expect((safety["metadata"] as? [String: String])?["safety_before_restore_of"] == id)
        #expect((safety["tags"] as? [String]) == ["safety"])
    }
}
