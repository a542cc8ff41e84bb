import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A Connect-shaped installation whose "service" is a state file driven by shell commands that
/// also log every call, so tests see exactly what lockstep did to the service.
struct FakeInstallation {
    let root: String
    var data: String { "\(root)/data" }
    var config: String { "\(root)/rstudio-connect.gcfg" }
    var log: String { "\(root)/service.log" }
    var running: String { "\(root)/running" }

    init(in scratch: Scratch) throws {
        root = scratch.path
        try FileManager.default.createDirectory(atPath: "\(data)/db", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(data)/apps/1", withIntermediateDirectories: true)
        try write("\(data)/db/secret.key", "0123456789abcdef")
        chmod("\(data)/db/secret.key", 0o600)
        try write("\(data)/apps/1/bundle.tar.gz", "bundle")
        try sh("sqlite3 '\(data)/db/connect.db' 'create table bundles(id integer primary key, path text); insert into bundles(path) values (\"apps/1\");'")
        try write(config, "[Server]\nDataDir = \(data)\n")
        try write(running, "")
        try write(log, "")
    }

    /// The service options; `stop`/`start` replace the default behaviour of the commands.
    func options(stop: String? = nil, start: String? = nil) -> [String] {
        ["--app-config", config,
         "--stop-command", stop ?? "echo stop >> '\(log)'; rm -f '\(running)'",
         "--start-command", start ?? "echo start >> '\(log)'; touch '\(running)'",
         "--status-command", "test -e '\(running)'",
         "--service-timeout", "3"]
    }

    var calls: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    var isRunning: Bool { FileManager.default.fileExists(atPath: running) }
}

@Suite("Application backups: the stop window")
struct ApplicationBackupTests {
    private func snapshotCount(_ tool: Lockstep) throws -> Int {
        let list = try tool.run(["snapshots", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]).count
    }

    @Test("stop, capture while stopped, start; the snapshot records consistency, downtime and the key fingerprint")
    func stopWindow() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        sleep(2)  // older than the racy second, so the window can trust the pre-pass
        let r = try tool.run(["backup", "--json"] + app.options())
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        let out = try r.json()
        #expect(out["consistent"] as? Bool == true)
        #expect((out["downtime_seconds"] as? Double ?? -1) >= 0)

        let list = try tool.run(["snapshots", "--json"])
        let snap = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]).first
        let meta = try #require(snap?["metadata"] as? [String: String])
        #expect(meta["application"] == "connect")
        #expect(meta["consistent"] == "true")
        #expect(meta["provider"] == "sqlite")
        #expect(meta["sqlite_integrity"] == "connect.db: ok")
        #expect(meta["key_sha256"]?.count == 64)
        #expect(meta["downtime_seconds"] != nil)
        // Nothing changed between the pre-pass and the window: the window read no file.
        #expect(meta["window_files_read"] == "0")
        #expect(meta["pre_pass_seconds"] != nil)
        let text = try tool.run(["snapshots"])
        #expect(text.stdout.contains("yes"))

        let ls = try tool.run(["ls", "latest"])
        #expect(ls.stdout.contains("\(app.data)/db/secret.key"))
        // The counts are the window's own, not added to the pre-pass's.
        #expect(out["directories"] as? Int == ls.stdout.split(separator: "\n").filter { $0.hasPrefix("d") }.count)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(try tool.run(["ls", "latest", "--json"]).stdout.utf8)) as? [[String: Any]])
        let fileBytes = entries.filter { $0["type"] as? String == "-" }.compactMap { $0["size"] as? Int }.reduce(0, +)
        #expect(out["total_bytes"] as? Int == fileBytes)
        // A second backup (pre-pass against the first snapshot) counts the same tree the same.
        let second = try tool.run(["backup", "--json"] + app.options()).json()
        #expect(second["total_bytes"] as? Int == fileBytes)
        #expect(second["files_unmodified"] as? Int == out["files_new"] as? Int)
        #expect(ls.stdout.contains(app.config))
    }

    @Test("--no-stop refuses while the service runs; --live takes a snapshot marked inconsistent")
    func noStop() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let refused = try tool.run(["backup", "--no-stop"] + app.options())
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("still running"))
        #expect(try snapshotCount(tool) == 0)
        #expect(app.calls.isEmpty)

        let live = try tool.run(["backup", "--no-stop", "--live", "--json"] + app.options())
        #expect(live.status == 0)
        #expect(try live.json()["consistent"] as? Bool == false)
        #expect(try tool.run(["snapshots"]).stdout.contains("NO"))
        #expect(app.calls.isEmpty, "--no-stop touched the service")
    }

    @Test("a service that does not stop in time: nothing captured, started again, exit 1")
    func stopTimeout() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let r = try tool.run(["backup"] + app.options(stop: "echo stop >> '\(app.log)'"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("did not stop in time"))
        #expect(app.calls == ["stop", "start"])
        #expect(try snapshotCount(tool) == 0)
    }

    @Test("a stop command that hangs is killed with its process group; the service is started again")
    func hangingStopCommand() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let started = Date()
        var options = app.options(stop: "echo stop >> '\(app.log)'; sleep 97.5")
        options[options.firstIndex(of: "--service-timeout")! + 1] = "2"
        let r = try tool.run(["backup"] + options)
        #expect(r.status == 1)
        #expect(r.stderr.contains("was killed"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        #expect(try sh("pgrep -f 'slee[p] 97.5' || true").isEmpty, "the hung command's children were left running")
    }

    @Test("a service that cannot be started again: exit 20, loud, the complete snapshot kept")
    func cannotStart() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let r = try tool.run(["backup"] + app.options(start: "echo start >> '\(app.log)'; exit 1"))
        #expect(r.status == 20)
        #expect(r.stderr.contains("THE SERVICE IS DOWN"))
        #expect(r.stderr.contains("the backup itself is complete: snapshot"))
        #expect(try snapshotCount(tool) == 1)

        // With --json, stdout still says what was committed, for the monitoring that pages.
        let j = try tool.run(["backup", "--json"] + app.options(start: "exit 1"))
        #expect(j.status == 20)
        let out = try j.json()
        #expect(out["service_started"] as? Bool == false)
        let id = try #require(out["snapshot_id"] as? String)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(try tool.run(["snapshots", "--json"]).stdout.utf8)) as? [[String: Any]])
        #expect(list.contains { ($0["id"] as? String) == id })
        #expect((out["error"] as? String)?.contains("THE SERVICE IS DOWN") == true)
    }

    @Test("a signal to lockstep inside the window: the service is started again and nothing is committed",
          arguments: ["TERM", "INT", "HUP"])
    func signalInWindow(_ signal: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        // The stop command signals lockstep itself (its parent): a signal inside the window.
        let r = try tool.run(["backup"] + app.options(stop: "echo stop >> '\(app.log)'; rm -f '\(app.running)'; kill -\(signal) $PPID"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("SIG\(signal)"))
        #expect(app.calls == ["stop", "start"])
        #expect(app.isRunning)
        #expect(try snapshotCount(tool) == 0)
    }

    @Test("the service lockstep starts does not inherit an ignored or blocked SIGTERM")
    func startedServiceHearsSIGTERM() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        let masks = "\(scratch.path)/masks"
        // The shell reads its own status itself: a child (grep) could catch it inside `wait`,
        // where dash blocks every signal around sigsuspend.
        let start = "while IFS= read -r l; do case \"$l\" in SigIgn*|SigBlk*) echo \"$l\";; esac; done < /proc/$$/status > '\(masks)'; touch '\(app.running)'"
        let r = try tool.run(["backup"] + app.options(start: start))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: masks, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let hex = try #require(line.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) })
            #expect(hex & (1 << (UInt64(SIGTERM) - 1)) == 0, "\(line): SIGTERM is ignored or blocked in the started service")
        }
    }

    @Test("a data directory that does not exist stops nothing")
    func missingDataDir() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        try FileManager.default.removeItem(atPath: app.data)
        let r = try tool.run(["backup"] + app.options())
        #expect(r.status == 1)
        #expect(r.stderr.contains("does not exist"))
        #expect(app.calls.isEmpty)
    }
}

@Suite("lockstep verify")
struct VerifyTests {
    @Test("a consistent application snapshot verifies: config, captured paths, key 0600 and fingerprint, SQLite integrity")
    func verifies() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        #expect(try tool.run(["backup"] + app.options()).status == 0)
        let r = try tool.run(["verify", "latest", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let checked = try #require(try r.json()["checked"] as? [String])
        #expect(checked.contains { $0.contains("integrity_check ok") })
        #expect(checked.contains { $0.contains("mode 0600") })
    }

    @Test("problems are listed and exit 1", arguments: ["live", "key-mode", "corrupt-db", "paths-snapshot"])
    func problems(_ fault: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)
        var args = ["backup"] + app.options()
        var expected = ""
        switch fault {
        case "live":
            args = ["backup", "--no-stop", "--live"] + app.options()
            expected = "taken while"
        case "key-mode":
            chmod("\(app.data)/db/secret.key", 0o644)
            expected = "0600"
        case "corrupt-db":
            try sh("for i in $(seq 1 300); do sqlite3 '\(app.data)/db/connect.db' \"insert into bundles(path) values ('apps/$i/some/long/path/to/make/pages')\"; done")
            // Pages 2-4 overwritten with 0xFF: no valid b-tree page header survives.
            try sh("head -c 12288 /dev/zero | tr '\\0' '\\377' | dd of='\(app.data)/db/connect.db' bs=1 seek=4096 conv=notrunc status=none")
            expected = "integrity_check"
        default:
            args = ["backup", app.data]
            expected = "not an application snapshot"
        }
        let backup = try tool.run(args)
        if fault == "corrupt-db" {
            // Committed (it is what the host holds), but the administrator is told, exit 1.
            #expect(backup.status == 1)
            #expect(backup.stderr.contains("failed integrity_check"))
        } else {
            #expect(backup.status == 0, "\(backup.stderr)")
        }
        let r = try tool.run(["verify", "latest"])
        #expect(r.status == 1)
        #expect(r.stderr.contains(expected), "\(r.stderr)")
    }
}
