import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `restore --in-place` as a delta: only what differs from the snapshot is written; the rest
/// keeps its inode; a failure in the window puts back the exact state before.
@Suite("In-place restores write only what differs")
struct InPlaceRestoreDeltaTests {
    /// A data directory with every kind of entry plus plain files, backed up; returns the
    /// snapshot's facts (from a plain restore) and the inodes before any drift.
    private func installation(_ scratch: Scratch, _ tool: Lockstep) throws -> (app: FakeInstallation, expected: [String: String]) {
        let app = try FakeInstallation(in: scratch)
        try makeEverythingTree(at: "\(app.data)/every")
        try FileManager.default.removeItem(atPath: "\(app.data)/every/sock")  // never stored
        try FileManager.default.createDirectory(atPath: "\(app.data)/files/deep", withIntermediateDirectories: true)
        for name in ["a", "b", "c", "d", "e", "f", "g", "deep/h"] {
            try write("\(app.data)/files/\(name)", "content of \(name)\n")
        }
        try FileManager.default.createDirectory(atPath: "\(app.data)/files/will-be-file/x", withIntermediateDirectories: true)
        try write("\(app.data)/files/will-be-file/x/y", "y")
        try write("\(app.data)/files/linked", "two names")
        try sh("ln '\(app.data)/files/linked' '\(app.data)/files/deep/linked-too'")
        sleep(2)  // older than the racy second
        let backup = try tool.run(["backup"] + app.options())
        #expect(backup.status == 0, "\(backup.stderr)")
        try write(app.log, "")
        let reference = "\(scratch.path)/reference"
        #expect(try tool.run(["restore", "latest", "--target", reference]).status == 0)
        let expected = try comparableFacts(reference + app.data)
        try FileManager.default.removeItem(atPath: reference)
        return (app, expected)
    }

    private func withInstallation(_ body: (Scratch, Lockstep, FakeInstallation, [String: String]) throws -> Void) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let (app, expected) = try installation(scratch, tool)
        try body(scratch, tool, app, expected)
    }

    /// Drift of every kind the delta handles.
    private func drift(_ data: String) throws {
        try sh("""
            cd '\(data)'
            printf 'CONTENT of a\\n' > files/a && touch -d '2020-01-01' files/a    # same size, new content, new mtime
            chmod 0600 files/b                                                     # mode only
            touch -d '2021-02-02' files/g                                          # mtime only, same content
            printf 'stray' > files/extra && mkdir -p files/new-dir/sub && printf x > files/new-dir/sub/z
            rm files/c                                                             # deleted
            rm files/d && mkdir files/d && printf 'in d' > files/d/inner           # file -> directory
            rm -r files/will-be-file && printf 'now a file' > files/will-be-file   # directory -> file
            ln -sfn somewhere/else every/rel-link                                  # symlink retargeted
            cp --remove-destination every/dir/small.txt every/hard-a               # a hard link broken
            setfattr -n user.added -v 1 files/e                                    # an xattr added
            """)
    }

    private func inodes(_ root: String) throws -> [String: String] {
        var out = [String: String]()
        for line in try sh("cd '\(root)' && find . -mindepth 1 -printf '%P %i\\n'").split(separator: "\n") {
            let parts = line.split(separator: " ")
            out[String(parts[0])] = String(parts[1])
        }
        return out
    }

    @Test("drift is undone by rewriting only what differs: unchanged files keep their inode, hard links come back linked")
    func deltaMirror() throws {
        try withInstallation { scratch, tool, app, expected in
            try drift(app.data)
            let before = try inodes(app.data)

            let r = try tool.run(["restore", "latest", "--in-place", "--json"] + Array(app.options().dropFirst(2)))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(app.calls == ["stop", "start"])
            #expect(try comparableFacts(app.data) == expected)
            #expect(try sh("ls -a '\(scratch.path)'").contains(".lockstep-") == false, "staging or old paths left behind")

            let after = try inodes(app.data)
            // Kept: not rewritten (metadata fixes included).
            for kept in ["files/linked", "files/deep/linked-too", "files/b", "files/e", "files/f", "files/g", "files/deep/h", "every/dir/big.bin", "every/sparse",
                         "every/dir/sub/twin.bin", "every/fifo", "db/connect.db", "db/secret.key", "apps/1/bundle.tar.gz"] {
                #expect(after[kept] != nil && after[kept] == before[kept], "\(kept) was rewritten")
            }
            // Rewritten or created.
            for written in ["files/a", "files/d", "files/will-be-file", "every/rel-link", "every/hard-a"] {
                #expect(after[written] != before[written], "\(written) was not rewritten")
            }
            #expect(after["files/c"] != nil && after["files/extra"] == nil && after["files/new-dir"] == nil)
            #expect(after["every/hard-a"] == after["every/dir/small.txt"] && after["every/hard-a"] == after["every/dir/sub/hard-b"])

            let summary = try #require(try r.json()["summary"] as? [String: Any])
            let files = try #require(summary["files_rewritten"] as? Int)
            #expect(files >= 6 && files <= 10, "\(summary)")  // a, c, d/…, will-be-file, and the three names of small.txt
            #expect(summary["entries_removed"] as? Int == 2, "\(summary)")  // extra, new-dir (d and will-be-file are replaced)
            #expect((summary["kept_unchanged"] as? Int ?? 0) > 10, "\(summary)")
            #expect((summary["metadata_fixed"] as? Int ?? 0) >= 3, "\(summary)")  // b, e, g (and directories)
            #expect((summary["bytes_written"] as? Int ?? 0) < 1 << 20, "\(summary)")
            let phases = try #require(summary["phase_seconds"] as? [String: Double], "\(summary)")
            #expect(Set(phases.keys) == ["plan", "stage", "safety_snapshot", "refresh", "switch", "verify", "cleanup"], "\(phases)")
            #expect(phases.values.allSatisfy { $0 >= 0 } && (summary["downtime_seconds"] as? Double ?? 0) >= phases["refresh"]!, "\(phases)")
        }
    }

    @Test("what the service writes after the first comparison, before it stops, is caught by the second one")
    func driftDuringStop() throws {
        try withInstallation { scratch, tool, app, expected in
            try drift(app.data)
            let d = app.data
            // The stop command writes: a file changed, one deleted, one added, a hard link broken
            // (its names, kept by the first comparison, are all staged again in the window).
            let stop = "echo stop >> '\(app.log)'; rm -f '\(app.running)'; printf 'late change' > '\(d)/files/f'; rm '\(d)/files/deep/h';"
                + " printf late > '\(d)/files/late-extra'; cp --remove-destination '\(d)/files/deep/linked-too' '\(d)/files/linked'"
            let r = try tool.run(["restore", "latest", "--in-place", "--no-safety-snapshot"] + Array(app.options(stop: stop).dropFirst(2)))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try comparableFacts(app.data) == expected)
            for names in [["every/hard-a", "every/dir/small.txt", "every/dir/sub/hard-b"], ["files/linked", "files/deep/linked-too"]] {
                let links = try sh("cd '\(d)' && stat -c %i \(names.joined(separator: " ")) | sort -u | wc -l")
                #expect(links == "1\n", "\(names) are not one inode")
            }
        }
    }

    @Test("a live path missing entirely is restored whole")
    func missingPath() throws {
        try withInstallation { scratch, tool, app, expected in
            try FileManager.default.removeItem(atPath: app.data)
            let r = try tool.run(["restore", "latest", "--in-place", "--no-safety-snapshot"] + Array(app.options().dropFirst(2)))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try comparableFacts(app.data) == expected)
        }
    }

    @Test("the verification after the switch compares what it touched: a difference there fails the restore and puts everything back")
    func verificationFailureRollsBack() throws {
        try withInstallation { scratch, tool, app, _ in
            try drift(app.data)
            let before = try treeFacts(app.data)
            let inodesBefore = try inodes(app.data)
            // files/b only needs its mode fixed; between the switch and the verification its mode moves again.
            let r = try tool.run(["restore", "latest", "--in-place"] + Array(app.options().dropFirst(2)),
                                 environment: ["LOCKSTEP_TEST_HOOK": "before-verify:chmod 0640 '\(app.data)/files/b'"])
            #expect(r.status == 1)
            #expect(r.stderr.contains("files/b: metadata differs") && r.stderr.contains("put back"), "\(r.stderr)")
            #expect(app.calls == ["stop", "start"])
            #expect(app.isRunning)
            #expect(try treeFacts(app.data) == before)
            #expect(try inodes(app.data) == inodesBefore)
            #expect(try sh("ls -a '\(scratch.path)'").contains(".lockstep-") == false, "staging or old paths left behind")
        }
    }

    @Test("a failure in the window puts back the exact state before the restore, metadata included")
    func failureRollsBack() throws {
        try withInstallation { scratch, tool, app, _ in
            try drift(app.data)
            // Metadata is fixed after every rename: an immutable file whose mode differs fails then.
            try sh("chmod 0606 '\(app.data)/files/f' && chattr +i '\(app.data)/files/f'")
            defer { _ = try? sh("chattr -i '\(app.data)/files/f'") }
            let before = try treeFacts(app.data)
            let inodesBefore = try inodes(app.data)

            let r = try tool.run(["restore", "latest", "--in-place"] + Array(app.options().dropFirst(2)))
            #expect(r.status == 1)
            #expect(r.stderr.contains("files/f") && r.stderr.contains("put back"), "\(r.stderr)")
            #expect(app.calls == ["stop", "start"])
            #expect(app.isRunning)
            #expect(try treeFacts(app.data) == before)
            #expect(try inodes(app.data) == inodesBefore)
            #expect(try sh("ls -a '\(scratch.path)'").contains(".lockstep-") == false, "staging or old paths left behind")
        }
    }
}
