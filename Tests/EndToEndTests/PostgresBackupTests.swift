import Foundation
import Testing

/// Application backups with `Database.Provider = postgres`, against the real PostgreSQL 15 server.
@Suite("Application backups: PostgreSQL")
struct PostgresBackupTests {
    private func configure(_ app: FakeInstallation, url: String, extra: String = "") throws {
        try write(app.config, "[Server]\nDataDir = \(app.data)\n[Database]\nProvider = postgres\n[Postgres]\nURL = \"\(url)\"\n\(extra)")
    }

    private func snapshots(_ tool: Lockstep) throws -> [[String: Any]] {
        let list = try tool.run(["snapshots", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
    }

    @Test("pg_dump streams into the snapshot; versions recorded; the dump restores; no password on a command line")
    func dumpInWindow() throws {
        let f = try Fixture()
        defer { f.remove(databases: [f.db.name + "_copy"]) }
        let (pg, db, scratch, tool, app) = (f.pg, f.db, f.scratch, f.tool, f.app)
        try pg.psql("CREATE TABLE bundles(id serial PRIMARY KEY, path text NOT NULL);"
                    + "INSERT INTO bundles(path) SELECT 'apps/' || g FROM generate_series(1, 5000) g;"
                    + "ALTER TABLE bundles OWNER TO \(db.user);", database: db.name)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: db.password))
        // pg_dump and psql wrappers first in PATH record their arguments and environment.
        var wrappers = [String: String]()
        for program in ["pg_dump", "psql"] {
            wrappers[program] = "echo \"$@\" >> '\(scratch.path)/argv.log'\nenv >> '\(scratch.path)/env.log'\nexec /usr/bin/\(program) \"$@\""
        }
        let path = try f.path(with: wrappers)
        let r = try tool.run(["backup", "--json"] + app.options(), environment: ["PATH": path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.calls == ["stop", "start"])
        let argv = try String(contentsOfFile: "\(scratch.path)/argv.log", encoding: .utf8)
        #expect(argv.contains("--format=custom"))
        #expect(!argv.contains(db.password) && !argv.contains("p%3A%40%2Fw"), "a password reached a command line: \(argv)")
        #expect(!(try String(contentsOfFile: "\(scratch.path)/env.log", encoding: .utf8)).contains(db.password))
        #expect(!r.stdout.contains(db.password) && !r.stderr.contains(db.password))

        let snap = try #require(try snapshots(tool).first)
        let meta = try #require(snap["metadata"] as? [String: String])
        #expect(meta["provider"] == "postgres")
        #expect(meta["consistent"] == "true")
        #expect(meta["pg_dump_version"]?.contains("15.") == true)
        #expect(meta["postgres_main_server_version"]?.hasPrefix("15.") == true)
        #expect(meta["postgres_main_url"]?.contains("****") == true)
        #expect(meta["postgres_main_dump"] == "/.lockstep/postgres/main.pgdump")
        let listing = try tool.run(["snapshots", "--json"])
        #expect(!listing.stdout.contains(db.password))
        let verify = try tool.run(["verify", "latest"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("PostgreSQL main dump: pg_restore --list reads"), "\(verify.stdout)")

        // The dump is a file of the snapshot: restore it and load it into a new database.
        #expect(try f.rowsInRestoredDump("bundles") == "5000\n")
    }

    @Test("the dump runs after the start and holds the database as it was at the stop")
    func dumpAfterStart() throws {
        let f = try Fixture()
        defer { f.remove(databases: [f.db.name + "_copy"]) }
        let (pg, db, scratch, tool, app) = (f.pg, f.db, f.scratch, f.tool, f.app)
        try pg.psql("CREATE TABLE jobs(id serial PRIMARY KEY, state text NOT NULL);"
                    + "INSERT INTO jobs(state) SELECT 'done' FROM generate_series(1, 100);"
                    + "ALTER TABLE jobs OWNER TO \(db.user);", database: db.name)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: db.password))
        // The service writes a row as soon as it runs again; pg_dump notes whether it runs.
        let insert = "PGPASSWORD='\(pg.password)' psql -X -q -h 127.0.0.1 -p \(pg.port) -U postgres -d \(db.name)"
            + " -c \"INSERT INTO jobs(state) VALUES ('after the start')\""
        let path = try f.path(with: ["pg_dump": "case \"$1\" in --version) ;; *) test -e '\(app.running)' && echo running >> '\(scratch.path)/dump.log' || echo stopped >> '\(scratch.path)/dump.log';; esac\nexec /usr/bin/pg_dump \"$@\""])
        let r = try tool.run(["backup", "--json"] + app.options(start: "echo start >> '\(app.log)'; touch '\(app.running)'; \(insert)"),
                             environment: ["PATH": path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.calls == ["stop", "start"])
        #expect(try String(contentsOfFile: "\(scratch.path)/dump.log", encoding: .utf8) == "running\n")
        #expect(try pg.psql("SELECT count(*) FROM jobs", database: db.name) == "101\n")
        let phases = try #require(try r.json()["phase_seconds"] as? [String: Double])
        #expect(phases["postgres_dump"] != nil, "\(phases)")
        let meta = try #require(try snapshots(tool).first?["metadata"] as? [String: String])
        #expect(meta["postgres_snapshot"] == "exported in the window, dumped after the start")

        // The dump holds the 100 rows of the stop moment, not the row written after the start.
        #expect(try f.rowsInRestoredDump("jobs") == "100\n")
    }

    @Test("a table another session locks exclusively: the export gives up after its lock timeout, the service runs again, nothing committed")
    func exportBlockedByLock() throws {
        let f = try Fixture()
        defer { f.remove() }
        let (pg, db, tool, app) = (f.pg, f.db, f.tool, f.app)
        try pg.psql("CREATE TABLE jobs(id int); ALTER TABLE jobs OWNER TO \(db.user);", database: db.name)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: db.password))
        let locker = try BackgroundProgram("/usr/bin/psql", ["-X", "-q", "-h", "127.0.0.1", "-p", pg.port, "-U", "postgres", "-d", db.name,
                                                            "-c", "BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);"],
                                           environment: ["PGPASSWORD": pg.password])
        defer { locker.stop() }
        var tries = 0
        while try pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = '\(db.name)' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "0\n" {
            tries += 1
            try #require(tries < 100, "the session holding the lock did not start")
            usleep(100_000)
        }
        let zero = try tool.run(["backup", "--pg-lock-timeout", "0"] + app.options())
        #expect(zero.status == 1 && zero.stderr.contains("--pg-lock-timeout takes whole seconds"), "\(zero.stderr)")
        #expect(app.calls.isEmpty)
        let r = try tool.run(["backup", "--pg-lock-timeout", "2"] + app.options())
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot export a snapshot") && r.stderr.contains("lock timeout") && r.stderr.contains("for 2 s")
                && r.stderr.contains("--pg-lock-timeout"), "\(r.stderr)")
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        #expect(try snapshots(tool).isEmpty)
    }

    @Test("a wrong database password is refused before the service is stopped, without printing it")
    func wrongPassword() throws {
        let f = try Fixture()
        defer { f.remove() }
        let (pg, db, tool, app) = (f.pg, f.db, f.tool, f.app)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: "x"),
                      extra: "Password = not-the-password-42\n")
        let r = try tool.run(["backup"] + app.options())
        #expect(r.status == 1)
        #expect(r.stderr.contains("nothing was stopped"), "\(r.stderr)")
        #expect(!r.stderr.contains("not-the-password-42"))
        #expect(app.calls.isEmpty)
        #expect(try snapshots(tool).isEmpty)
    }

    @Test("a pg_dump that fails commits nothing and the service runs again")
    func failingDump() throws {
        let f = try Fixture()
        defer { f.remove() }
        let (pg, db, tool, app) = (f.pg, f.db, f.tool, f.app)
        // The role can connect (the preflight passes) but cannot read this table: pg_dump fails.
        try pg.psql("CREATE TABLE secrets(x int); REVOKE ALL ON secrets FROM PUBLIC;", database: db.name)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: db.password))
        let r = try tool.run(["backup"] + app.options())
        #expect(r.status == 1)
        #expect(r.stderr.contains("pg_dump") && r.stderr.contains("nothing was committed"), "\(r.stderr)")
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        #expect(try snapshots(tool).isEmpty)
        #expect(try tool.run(["check"]).status == 0)
    }

    @Test("verify reports a dump that is not one; an in-place restore of it fails while staging and changes nothing")
    func verifyFindsBadDump() throws {
        let f = try Fixture()
        defer { f.remove() }
        let (pg, db, scratch, tool, app) = (f.pg, f.db, f.scratch, f.tool, f.app)
        try configure(app, url: pg.url(database: db.name, user: db.user, password: db.password))
        // A pg_dump that succeeds without writing a dump: the backup cannot tell, verify can.
        let path = try f.path(with: ["pg_dump": "case \"$1\" in --version) exec /usr/bin/pg_dump --version;; esac\necho 'not a dump'"])
        #expect(try tool.run(["backup"] + app.options(), environment: ["PATH": path]).status == 0)
        let verify = try tool.run(["verify", "latest"])
        #expect(verify.status == 1)
        #expect(verify.stderr.contains("pg_restore --list failed"), "\(verify.stderr)")

        // An in-place restore of it fails while staging: nothing changed, nothing left behind.
        try pg.psql("ALTER ROLE \(db.user) CREATEDB;")
        try write(app.log, "")
        try write("\(app.data)/apps/1/bundle.tar.gz", "current")
        let restore = try tool.run(["restore", "latest", "--in-place"] + Array(app.options().dropFirst(2)))
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("pg_restore"), "\(restore.stderr)")
        #expect(app.calls.isEmpty, "the service was touched")
        #expect(try String(contentsOfFile: "\(app.data)/apps/1/bundle.tar.gz", encoding: .utf8) == "current")
        #expect(try sh("ls -a '\(scratch.path)'").contains(".lockstep-") == false, "staging left behind")
        #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '\(db.name)_lockstep_%'") == "0\n")
    }
}

/// One PostgreSQL test's world: a database owned by its own role, a repository, and a fake
/// installation; `configure` points the installation at the database.
private struct Fixture {
    let pg: TestPostgres
    let db: (name: String, user: String, password: String)
    let scratch: Scratch
    let tool: Lockstep
    let app: FakeInstallation

    init() throws {
        pg = try TestPostgres.shared()
        db = try pg.makeDatabase("connect")
        scratch = try Scratch()
        tool = try scratch.repository()
        app = try FakeInstallation(in: scratch)
    }

    /// Drops the database (and `databases`) and the role, removes the scratch directory.
    func remove(databases: [String] = []) {
        pg.drop([db.name] + databases, roles: [db.user])
        scratch.remove()
    }

    /// Restores the latest snapshot, loads its main dump into the new database `<name>_copy` (which
    /// `remove(databases:)` must drop) and counts the rows of `table` there.
    func rowsInRestoredDump(_ table: String) throws -> String {
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", "latest", "--target", out]).status == 0)
        try pg.psql("CREATE DATABASE \(db.name)_copy;")
        try sh("PGPASSWORD='\(pg.password)' pg_restore -h 127.0.0.1 -p \(pg.port) -U postgres --no-owner -d \(db.name)_copy '\(out)/.lockstep/postgres/main.pgdump'")
        return try pg.psql("SELECT count(*) FROM \(table)", database: db.name + "_copy")
    }

    /// A PATH whose first directory holds `scripts` (program name → shell body).
    func path(with scripts: [String: String]) throws -> String {
        let bin = "\(scratch.path)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for (program, body) in scripts {
            try write("\(bin)/\(program)", "#!/bin/sh\n\(body)\n")
            chmod("\(bin)/\(program)", 0o755)
        }
        return "\(bin):" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }
}
