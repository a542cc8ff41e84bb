import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Builds a tree with every file type and metadata kind lockstep must preserve.
func makeEverythingTree(at src: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: "\(src)/dir/sub/empty", withIntermediateDirectories: true)
    try write("\(src)/dir/small.txt", "hello lockstep\n")
    _ = fm.createFile(atPath: "\(src)/empty-file", contents: Data())
    try pseudoRandom(9 << 20, seed: 7).write(to: URL(fileURLWithPath: "\(src)/dir/big.bin"))
    // Two files sharing most content: dedup keeps one copy of the common chunks.
    var twin = pseudoRandom(3 << 20, seed: 7)
    twin.append(Data("tail".utf8))
    try twin.write(to: URL(fileURLWithPath: "\(src)/dir/sub/twin.bin"))
    try sh("""
        cd '\(src)'
        ln -s dir/small.txt rel-link
        ln -s /etc/passwd abs-link
        ln -s does/not/exist dangling-link
        ln dir/small.txt hard-a && ln dir/small.txt dir/sub/hard-b
        mkfifo fifo
        mknod chardev c 1 3
        mknod blockdev b 7 200
        truncate -s 64M sparse && printf 'data in the middle' | dd of=sparse bs=1 seek=30000000 conv=notrunc status=none
        truncate -s 10M sparse-tail-hole && printf 'head' | dd of=sparse-tail-hole conv=notrunc status=none
        chown 4242:4343 dir/big.bin
        chown daemon:daemon dir/sub/twin.bin
        chmod 4755 dir/small.txt
        chmod 2775 dir/sub
        chmod 1777 dir/sub/empty
        chmod 0600 empty-file
        chmod 0640 fifo
        setfattr -n user.color -v blue dir/small.txt
        setfattr -n trusted.origin -v test dir/big.bin
        setfattr -n security.label -v lockstep dir/sub/twin.bin
        setfattr -n user.on-dir -v yes dir/sub
        setfacl -m u:nobody:rw,g:daemon:r dir/big.bin
        setfacl -d -m u:nobody:rx dir/sub
        touch -h -d '2001-02-03 04:05:06.123456789' rel-link
        touch -d '1999-12-31 23:59:59.987654321' dir/small.txt
        touch -d '2010-10-10 10:10:10.000000001' dir/sub/empty
        python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('\(src)/sock')"
        """)
}

/// Facts that restore must reproduce; directory sizes are the file system's business.
func comparableFacts(_ root: String) throws -> [String: String] {
    var facts = try treeFacts(root)
    for (path, line) in facts {
        var fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        if fields.first == "directory" { fields[6] = "" }
        facts[path] = fields.joined(separator: "|")
    }
    return facts
}

@Suite("Round trips through a real repository")
struct RoundTripTests {
    @Test("every file type and metadata kind survives backup and restore")
    func everything() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try makeEverythingTree(at: src)

        let backup = try tool.run(["backup", "--json", src])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stderr.contains("socket skipped"))
        let summary = try backup.json()
        #expect(summary["skipped_sockets"] as? Int == 1)
        #expect((summary["snapshot_id"] as? String)?.count == 64)
        for key in ["files_new", "files_changed", "files_unmodified", "bytes_read", "bytes_added", "duration_seconds"] {
            #expect(summary[key] != nil, "backup --json lacks \(key)")
        }

        let target = "\(scratch.path)/out"
        let restore = try tool.run(["restore", "latest", "--target", target, "--verify"])
        #expect(restore.status == 0, "\(restore.stderr)")

        var expected = try comparableFacts(src)
        expected.removeValue(forKey: "sock")
        let restored = try comparableFacts(target + src)
        #expect(expected.count > 15, "the fixture tree is incomplete")
        #expect(restored.count == expected.count)
        for (path, fact) in expected {
            #expect(restored[path] == fact, "\(path) differs")
        }
        // Holes stay holes.
        var st = stat()
        #expect(stat("\(target)\(src)/sparse", &st) == 0)
        #expect(Int(st.st_blocks) * 512 < 1 << 20, "sparse file was restored dense")
        // Hard links are links again.
        var a = stat(), b = stat()
        stat("\(target)\(src)/hard-a", &a)
        stat("\(target)\(src)/dir/sub/hard-b", &b)
        #expect(a.st_ino == b.st_ino && a.st_nlink == 3)
    }

    @Test("a second backup reads only what changed and dedups repeated content")
    func incremental() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for i in 0..<20 { try write("\(src)/f\(i)", "file \(i)\n") }
        let blob = pseudoRandom(6 << 20, seed: 3)
        try blob.write(to: URL(fileURLWithPath: "\(src)/a.bin"))
        try blob.write(to: URL(fileURLWithPath: "\(src)/copy-of-a.bin"))
        sleep(2)  // files written in the second before a backup are "racy" and read again next time

        let first = try tool.run(["backup", "--json", src]).json()
        #expect(first["files_new"] as? Int == 22)
        #expect((first["bytes_added"] as! Int) < 7 << 20, "identical files stored twice")

        try write("\(src)/f3", "changed\n")
        try write("\(src)/new", "new\n")
        let second = try tool.run(["backup", "--json", src]).json()
        #expect(second["files_new"] as? Int == 1)
        #expect(second["files_changed"] as? Int == 1)
        #expect(second["files_unmodified"] as? Int == 21)
        #expect((second["bytes_read"] as! Int) < 100)

        let list = try tool.run(["snapshots", "--json"])
        let snaps = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(snaps.count == 2)
        // The first snapshot still restores as it was.
        let firstID = try #require(first["snapshot_id"] as? String)
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", String(firstID.prefix(10)), "--target", out, "--verify"]).status == 0)
        #expect(try String(contentsOfFile: "\(out)\(src)/f3", encoding: .utf8) == "file 3\n")
        #expect(!FileManager.default.fileExists(atPath: "\(out)\(src)/new"))
    }

    @Test("an xattr set on a file otherwise unchanged since the last backup reaches the next snapshot")
    func xattrOnUnchangedFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try write("\(src)/kept", "same content\n")
        try write("\(src)/tagged", "same content too\n")
        try sh("setfattr -n user.before -v 1 '\(src)/tagged' && touch -d '2020-01-01' '\(src)/kept' '\(src)/tagged'")
        sleep(2)  // the xattr's ctime must not be racy, or the second backup reads it anyway
        #expect(try tool.run(["backup", src]).status == 0)
        try sh("setfattr -n user.after -v 2 '\(src)/tagged' && setfattr -x user.before '\(src)/tagged'")
        let second = try tool.run(["backup", "--json", src]).json()
        #expect(second["files_unmodified"] as? Int == 1)
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", "latest", "--target", out]).status == 0)
        let attrs = try sh("getfattr -d --absolute-names '\(out)\(src)/tagged'")
        #expect(attrs.contains("user.after=\"2\""), "\(attrs)")
        #expect(!attrs.contains("user.before"), "\(attrs)")
    }

    @Test("a directory of 3,000 long names (many getdents64 reads) is listed, backed up and restored whole")
    func thousandsOfNames() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        let names = (0..<3000).map { "entry-\($0)-" + String(repeating: "n", count: 60) }
        for name in names { try write("\(src)/\(name)", name) }
        #expect(try tool.run(["backup", src]).status == 0)
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", "latest", "--target", out]).status == 0)
        let restored = try FileManager.default.contentsOfDirectory(atPath: out + src)
        #expect(restored.sorted() == names.sorted())
        #expect(try String(contentsOfFile: "\(out)\(src)/\(names[2999])", encoding: .utf8) == names[2999])
    }

    @Test("a wide and deep tree walked on several threads restores identical, again after changes")
    func manyDirectories() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        for a in 0..<12 {
            for b in 0..<6 {
                let dir = "\(src)/a\(a)/b\(b)/c/d"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for f in 0..<4 { try write("\(dir)/f\(f)", "\(a)-\(b)-\(f)\n") }
                try write("\(src)/a\(a)/b\(b)/top", "top \(a) \(b)\n")
            }
        }
        sleep(2)
        #expect(try tool.run(["backup", src]).status == 0)
        try write("\(src)/a3/b2/c/d/f1", "changed\n")
        try FileManager.default.removeItem(atPath: "\(src)/a7/b5")
        try FileManager.default.createDirectory(atPath: "\(src)/a11/new/deeper", withIntermediateDirectories: true)
        try write("\(src)/a11/new/deeper/n", "new\n")
        let second = try tool.run(["backup", "--json", src]).json()
        #expect(second["files_new"] as? Int == 1)
        #expect(second["files_changed"] as? Int == 1)
        #expect(second["files_unmodified"] as? Int == 12 * 6 * 5 - 5 - 1)
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", "latest", "--target", out, "--verify"]).status == 0)
        let expected = try comparableFacts(src)
        let restored = try comparableFacts(out + src)
        #expect(restored == expected)
    }

    @Test("a file written in the second before it was read is read again next time (racy timestamps)")
    func racyFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try write("\(src)/just-written", "fresh")
        // Its mtime a minute ahead: racy however long the (debug, loaded) binary takes to start;
        // a write within the second before the read is the same case to the archiver.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(60)],
                                              ofItemAtPath: "\(src)/just-written")
        #expect(try tool.run(["backup", src]).status == 0)
        let second = try tool.run(["backup", "--json", src]).json()
        #expect(second["files_changed"] as? Int == 1, "a racy file was trusted without being read")
        #expect(second["bytes_read"] as? Int == 5)
    }

    @Test("--include restores part of a snapshot; ls shows owners and modes")
    func includeAndLs() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: "\(src)/keep/deep", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(src)/skip", withIntermediateDirectories: true)
        try write("\(src)/keep/deep/x", "x")
        try write("\(src)/skip/y", "y")
        try sh("chown 1001:1002 '\(src)/keep/deep/x' && chmod 0751 '\(src)/keep/deep/x'")
        #expect(try tool.run(["backup", src]).status == 0)

        let out = "\(scratch.path)/out"
        let r = try tool.run(["restore", "latest", "--target", out, "--include", "\(src)/keep", "--verify"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(out)\(src)/keep/deep/x"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)\(src)/skip"))

        let ls = try tool.run(["ls", "latest", "\(src)/keep"])
        #expect(ls.status == 0)
        #expect(ls.stdout.contains("-rwxr-x--x 1001/1002"))
        #expect(!ls.stdout.contains("/skip"))
    }

    @Test("two backups into one repository at the same time both succeed")
    func concurrentBackups() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        for name in ["one", "two"] {
            try FileManager.default.createDirectory(atPath: "\(scratch.path)/\(name)", withIntermediateDirectories: true)
            for i in 0..<5 {
                try pseudoRandom(3 << 20, seed: UInt64(i) + (name == "one" ? 100 : 200)).write(to: URL(fileURLWithPath: "\(scratch.path)/\(name)/f\(i)"))
            }
            // Shared content in both: deduplicated across the two writers.
            try pseudoRandom(2 << 20, seed: 999).write(to: URL(fileURLWithPath: "\(scratch.path)/\(name)/shared"))
        }
        let results = Mutexed<[Lockstep.Result]>([])
        let group = DispatchGroup()
        for name in ["one", "two"] {
            DispatchQueue.global().async(group: group) {
                let r = try! tool.run(["backup", "\(scratch.path)/\(name)"])
                results.set(results.value + [r])
            }
        }
        group.wait()
        for r in results.value { #expect(r.status == 0, "\(r.stderr)") }
        #expect(try tool.run(["check", "--read-data"]).status == 0)
        let list = try tool.run(["snapshots", "--json"])
        let snaps = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(snaps.count == 2)
        for snap in snaps {
            let id = snap["id"] as! String
            let out = "\(scratch.path)/out-\(id.prefix(8))"
            #expect(try tool.run(["restore", id, "--target", out, "--verify"]).status == 0)
        }
    }
}
