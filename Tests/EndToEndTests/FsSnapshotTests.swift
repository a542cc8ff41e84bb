import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Whether the kernel can mount btrfs (the only reason these tests skip).
private let kernelHasBtrfs: Bool = {
    ((try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? "").contains("btrfs")
}()

/// A btrfs file system in a sparse image on a loop device, mounted under the scratch
/// directory, with one subvolume `vol` holding a Connect-shaped data directory. `remove()`
/// unmounts it, detaches the loop device and deletes the image, whatever state it is in.
private struct LoopBtrfs {
    let dir: String
    var image: String { "\(dir)/btrfs.img" }
    var mount: String { "\(dir)/mnt" }
    var volume: String { "\(mount)/vol" }
    var data: String { "\(volume)/connect" }
    var config: String { "\(dir)/rstudio-connect.gcfg" }
    var log: String { "\(dir)/service.log" }
    var running: String { "\(dir)/running" }

    init(in scratch: Scratch) {
        dir = scratch.path + "/btrfs"
    }

    func create() throws {
        try sh("""
            set -e
            mkdir -p '\(mount)'
            truncate -s 512M '\(image)'
            mkfs.btrfs -q '\(image)'
            loop=$(losetup -f --show '\(image)')
            mount "$loop" '\(mount)'
            btrfs subvolume create '\(volume)' >/dev/null
            """)
        try FileManager.default.createDirectory(atPath: "\(data)/db", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(data)/apps/1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(data)/apps/2", withIntermediateDirectories: true)
        try write("\(data)/db/secret.key", "0123456789abcdef")
        chmod("\(data)/db/secret.key", 0o600)
        try write("\(data)/apps/1/bundle.tar.gz", "bundle")
        try pseudoRandom(1 << 20, seed: 7).write(to: URL(fileURLWithPath: "\(data)/apps/2/big.bin"))
        try sh("""
            set -e
            sqlite3 '\(data)/db/connect.db' 'create table bundles(id integer primary key, path text); insert into bundles(path) values ("apps/1");'
            ln '\(data)/apps/2/big.bin' '\(data)/apps/2/big.link'
            ln -s ../1/bundle.tar.gz '\(data)/apps/2/bundle'
            setfattr -n user.lockstep -v tagged '\(data)/apps/1/bundle.tar.gz'
            """)
        try write(config, "[Server]\nDataDir = \(data)\n")
        try write(running, "")
        try write(log, "")
    }

    /// Unmounts, detaches every loop device on the image, removes the directory.
    func remove() {
        _ = try? sh("""
            if mountpoint -q '\(mount)'; then umount '\(mount)' 2>/dev/null || umount -l '\(mount)'; fi
            for l in $(losetup -j '\(image)' -O NAME -n 2>/dev/null); do losetup -d "$l"; done
            rm -rf '\(dir)'
            true
            """)
    }

    /// The service options: stop and start log a timestamp; `onStart` runs right after the start.
    func options(onStart: String = "", stop: String? = nil) -> [String] {
        ["--app-config", config,
         "--stop-command", stop ?? "echo stop $(date +%s.%N) >> '\(log)'; rm -f '\(running)'",
         "--start-command", "echo start $(date +%s.%N) >> '\(log)'; \(onStart) touch '\(running)'",
         "--status-command", "test -e '\(running)'",
         "--service-timeout", "10",
         "--fs-snapshot", "btrfs"]
    }

    var calls: [(String, Double)] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            let parts = $0.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), Double(parts[1]) ?? 0) : nil
        }
    }

    /// Names in the mount's top directory and the subvolume that look like lockstep snapshots.
    var leftovers: [String] {
        [mount, volume].flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(".lockstep-snap-") }
        }
    }

    var subvolumes: [String] {
        ((try? sh("btrfs subvolume list -o '\(mount)'")) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
    }
}

@Suite("backup --fs-snapshot btrfs: a loop-mounted btrfs", .serialized,
       .enabled(if: kernelHasBtrfs, "the kernel has no btrfs (/proc/filesystems)"))
struct FsSnapshotTests {
    private func metadata(_ tool: Lockstep) throws -> [String: String] {
        let list = try tool.run(["snapshots", "--json"])
        let snap = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]).last
        return try #require(snap?["metadata"] as? [String: String])
    }

    /// `treeFacts` without a directory's size and link count, which belong to the file system
    /// (btrfs counts name bytes and one link; ext4 a block and its subdirectories).
    private static func facts(_ root: String) throws -> [String: String] {
        try treeFacts(root).mapValues { value in
            var fields = value.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if fields.first == "directory", fields.count > 9 { fields[6] = "*"; fields[9] = "*" }
            return fields.joined(separator: "|")
        }
    }

    /// A scratch directory, a repository and a loop-mounted btrfs, removed (unmounted, loop
    /// device detached) whatever `body` does.
    private func withVolume(_ body: (Scratch, LoopBtrfs, Lockstep) throws -> Void) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let fs = LoopBtrfs(in: scratch)
        defer { fs.remove() }
        try fs.create()
        try body(scratch, fs, try scratch.repository())
    }

    @Test("stop, snapshot, start, capture from the snapshot: the live paths restore exactly as they were at the stop")
    func backupFromSnapshot() throws { try withVolume { scratch, fs, tool in
        sleep(2)  // older than the racy second, so the second backup can trust the first
        let before = try Self.facts(fs.data)

        // Right after the start, the "service" adds a file and appends to another: neither may
        // reach the backup, which reads the snapshot taken at the stop.
        let onStart = "echo late > '\(fs.data)/late.txt'; echo more >> '\(fs.data)/apps/1/bundle.tar.gz';"
        let r = try tool.run(["backup", "--json"] + fs.options(onStart: onStart))
        #expect(r.status == 0, "\(r.stderr)")
        let out = try r.json()
        #expect(out["consistent"] as? Bool == true)
        let downtime = try #require(out["downtime_seconds"] as? Double)
        let phases = try #require(out["phase_seconds"] as? [String: Double])
        #expect(phases["fs_snapshot"] != nil && phases["snapshot_capture"] != nil)
        #expect(FileManager.default.fileExists(atPath: "\(fs.data)/late.txt"))

        // The service was stopped once, briefly, and runs again.
        let calls = fs.calls
        #expect(calls.map(\.0) == ["stop", "start"])
        if calls.count == 2 {
            #expect(calls[1].1 - calls[0].1 >= 0 && calls[1].1 - calls[0].1 <= downtime + 1)
        }
        #expect(FileManager.default.fileExists(atPath: fs.running))

        // The btrfs snapshot is gone.
        #expect(fs.leftovers.isEmpty, "\(fs.leftovers)")
        #expect(fs.subvolumes == ["vol"], "\(fs.subvolumes)")

        let meta = try metadata(tool)
        #expect(meta["fs_snapshot"] == "btrfs")
        #expect(meta["consistent"] == "true")
        #expect(meta["fs_snapshot_paths"] == fs.data)
        #expect(meta["window_paths"] == fs.config)
        #expect(meta["sqlite_integrity"] == "connect.db: ok")
        #expect(meta["downtime_seconds"] != nil && meta["stop_requested"] != nil && meta["running"] != nil)

        // Recorded under the live paths, and exactly the tree of the stop moment.
        let ls = try tool.run(["ls", "latest"]).stdout
        #expect(ls.contains("\(fs.data)/db/secret.key"))
        #expect(ls.contains(fs.config))
        #expect(!ls.contains("late.txt"))
        #expect(!ls.contains(".lockstep-snap"))
        let target = scratch.path + "/restore"
        let restored = try tool.run(["restore", "latest", "--target", target, "--verify"])
        #expect(restored.status == 0, "\(restored.stderr)")
        let after = try Self.facts(target + fs.data)  // restored on ext4
        #expect(after == before, "\(Set(after.keys).union(before.keys).filter { after[$0] != before[$0] }.sorted().map { "\($0): \(before[$0] ?? "-") vs \(after[$0] ?? "-")" })")
        #expect(try String(contentsOfFile: target + fs.config, encoding: .utf8) == String(contentsOfFile: fs.config, encoding: .utf8))

        // A second backup reads only what the service changed: the snapshot's inode numbers and
        // times match the live files the first one recorded.
        let second = try tool.run(["backup", "--json"] + fs.options()).json()
        #expect(second["files_new"] as? Int == 1)
        #expect(second["files_changed"] as? Int == 1)
        #expect((second["bytes_read"] as? Int ?? .max) < 1000)
        #expect(fs.leftovers.isEmpty)
    } }

    @Test("a data directory that is not on btrfs is refused before anything is stopped")
    func refusesNonBtrfs() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let app = try FakeInstallation(in: scratch)  // on the scratch disk: ext4
        let r = try tool.run(["backup", "--fs-snapshot", "btrfs"] + app.options())
        #expect(r.status == 1)
        #expect(r.stderr.contains("not in a btrfs subvolume") && r.stderr.contains("nothing was stopped"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(app.calls.isEmpty, "the service was touched: \(app.calls)")
        let list = try tool.run(["snapshots", "--json"]).stdout
        #expect(try #require(try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [Any]).isEmpty)

        let wrong = try tool.run(["backup", "--fs-snapshot", "zfs"] + app.options())
        #expect(wrong.status == 1 && wrong.stderr.contains("--fs-snapshot takes btrfs"), "\(wrong.stderr)")
        let noStop = try tool.run(["backup", "--fs-snapshot", "btrfs", "--no-stop"] + app.options())
        #expect(noStop.status == 1 && noStop.stderr.contains("--no-stop"), "\(noStop.stderr)")
        let withPaths = try tool.run(["backup", "--fs-snapshot", "btrfs", app.data])
        #expect(withPaths.status == 1 && withPaths.stderr.contains("application backup"), "\(withPaths.stderr)")
        #expect(app.calls.isEmpty)
    }

    @Test("a signal in the window deletes the snapshot; a leftover of a killed run is removed by the next one")
    func cleanup() throws { try withVolume { _, fs, tool in

        let stop = "echo stop $(date +%s.%N) >> '\(fs.log)'; rm -f '\(fs.running)'; kill -TERM $PPID"
        let r = try tool.run(["backup"] + fs.options(stop: stop))
        #expect(r.status == 1)
        #expect(r.stderr.contains("SIGTERM"), "\(r.stderr)")
        #expect(fs.calls.map(\.0) == ["stop", "start"])
        #expect(FileManager.default.fileExists(atPath: fs.running))
        #expect(fs.leftovers.isEmpty, "\(fs.leftovers)")

        // What a SIGKILLed run leaves: a snapshot named for a process that no longer exists.
        let leftover = "\(fs.mount)/.lockstep-snap-2147483646-deadbeef-vol"
        try sh("btrfs subvolume snapshot -r '\(fs.volume)' '\(leftover)' >/dev/null")
        let next = try tool.run(["backup"] + fs.options())
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("removed \(leftover)"), "\(next.stderr)")
        #expect(fs.leftovers.isEmpty, "\(fs.leftovers)")
        #expect(fs.subvolumes == ["vol"], "\(fs.subvolumes)")
    } }
}
