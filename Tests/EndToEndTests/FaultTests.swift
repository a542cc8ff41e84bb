import Foundation
import Testing
import LockstepCore
import LockstepStorage
#if canImport(Glibc)
import Glibc
#endif

@Suite("Bad input and faults")
struct FaultTests {
    @Test("wrong password exits 12, a missing repository 10, init twice is refused")
    func exitCodes() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        try write("\(scratch.path)/wrong", "not the password")
        let wrong = try tool.run(["snapshots"], environment: ["LOCKSTEP_PASSWORD_FILE": "\(scratch.path)/wrong"])
        #expect(wrong.status == 12)
        #expect(wrong.stderr.contains("wrong password"))
        #expect(!wrong.stderr.contains("not the password"))

        let missing = try tool.run(["snapshots"], environment: ["LOCKSTEP_REPOSITORY": "\(scratch.path)/nothing-here"])
        #expect(missing.status == 10)
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/nothing-here"))

        let before = try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/repo/keys")
        let again = try tool.run(["init"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/repo/keys") == before)

        let unknown = try tool.run(["restore", "ffff", "--target", "\(scratch.path)/o"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.split(separator: "\n").count == 1)
    }

    @Test("restore into a non-empty directory is refused without --overwrite")
    func nonEmptyTarget() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/src", withIntermediateDirectories: true)
        try write("\(scratch.path)/src/a", "new content")
        #expect(try tool.run(["backup", "\(scratch.path)/src"]).status == 0)
        let out = "\(scratch.path)/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try write("\(out)/precious", "keep me")
        let refused = try tool.run(["restore", "latest", "--target", out])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--overwrite"))
        #expect(try String(contentsOfFile: "\(out)/precious", encoding: .utf8) == "keep me")
        #expect(try tool.run(["restore", "latest", "--target", out, "--overwrite", "--verify"]).status == 0)
    }

    @Test("a flipped byte in a pack is found by check --read-data and by restore, naming the file")
    func damagedPack() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try pseudoRandom(2 << 20, seed: 11).write(to: URL(fileURLWithPath: "\(src)/victim.bin"))
        let backup = try tool.run(["backup", "--json", src])
        #expect(backup.status == 0)
        // A second snapshot of the same tree shares its trees and blobs: it must be named too.
        let again = try tool.run(["backup", "--json", src])
        let secondID = try #require(try again.json()["snapshot_id"] as? String)
        #expect(try tool.run(["check"]).status == 0)

        // The data pack is the biggest file under data/: flip a byte in the middle of it.
        let packs = try sh("find '\(scratch.path)/repo/data' -type f -printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2").trimmingCharacters(in: .whitespacesAndNewlines)
        let handle = try #require(FileHandle(forUpdatingAtPath: packs))
        try handle.seek(toOffset: 1 << 20)
        let byte = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: 1 << 20)
        try handle.write(contentsOf: Data([byte[0] ^ 0x40]))
        try handle.close()

        #expect(try tool.run(["check"]).status == 0, "structure is still intact")
        let check = try tool.run(["check", "--read-data"])
        #expect(check.status == 1)
        #expect(check.stderr.contains("victim.bin"))
        let snapshotID = try #require(try backup.json()["snapshot_id"] as? String)
        #expect(check.stderr.contains(String(snapshotID.prefix(8))))
        #expect(check.stderr.contains(String(secondID.prefix(8))))

        let out = "\(scratch.path)/out"
        let restore = try tool.run(["restore", "latest", "--target", out])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("victim.bin"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)\(src)/victim.bin"), "a damaged file was left looking complete")
    }

    @Test("a hard link to a file that cannot be restored is not left behind half-written")
    func damagedHardLink() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try pseudoRandom(6 << 20, seed: 21).write(to: URL(fileURLWithPath: "\(src)/a"))
        try sh("ln '\(src)/a' '\(src)/b'")
        #expect(try tool.run(["backup", src]).status == 0)
        let pack = try sh("find '\(scratch.path)/repo/data' -type f -printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2").trimmingCharacters(in: .whitespacesAndNewlines)
        try sh("printf 'XXXX' | dd of='\(pack)' bs=1 seek=3000000 conv=notrunc status=none")
        let out = "\(scratch.path)/out"
        let r = try tool.run(["restore", "latest", "--target", out])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(src)/b"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(out)\(src)/a"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)\(src)/b"))
    }

    @Test("a restore by an unprivileged user keeps every file, with a warning that owners are not restored")
    func unprivilegedRestore() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try write("\(src)/owned-by-daemon", "data")
        try sh("chown daemon:daemon '\(src)/owned-by-daemon' && chmod 0640 '\(src)/owned-by-daemon'")
        #expect(try tool.run(["backup", src]).status == 0)
        let out = "\(scratch.path)/out"
        try sh("mkdir '\(out)' && chown nobody '\(out)' && chmod 0755 '\(scratch.path)' && chown -R nobody '\(scratch.path)/repo' && chmod 0644 '\(scratch.path)/password'")
        let r = try tool.run(["restore", "latest", "--target", out, "--overwrite"], asUser: "nobody")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("owners are not restored"))
        #expect(try String(contentsOfFile: "\(out)\(src)/owned-by-daemon", encoding: .utf8) == "data")
        #expect(try sh("stat -c '%a %U' '\(out)\(src)/owned-by-daemon'") == "640 nobody\n")
    }

    @Test("an unreadable file is reported and counted, the rest is backed up, exit 3")
    func unreadableFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try write("\(src)/readable", "ok")
        try write("\(src)/secret", "root only")
        try sh("chmod 0600 '\(src)/secret' && chmod 0644 '\(src)/readable' && chmod 0755 '\(src)' '\(scratch.path)' && chown -R nobody '\(scratch.path)/repo' && chmod 0644 '\(scratch.path)/password'")
        let r = try tool.run(["backup", "--json", src], asUser: "nobody")
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("\(src)/secret"))
        #expect(try r.json()["errors"] as? Int == 1)
        let ls = try tool.run(["ls", "latest"])
        #expect(ls.stdout.contains("\(src)/readable"))
        #expect(!ls.stdout.contains("\(src)/secret"))
    }

    @Test("a file that keeps changing while read is stored with a warning and counted")
    func changingFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try pseudoRandom(32 << 20, seed: 5).write(to: URL(fileURLWithPath: "\(src)/busy.db"))
        // Bounded: it stops by itself.
        let writer = try BackgroundProgram("/bin/bash", ["-c", "for i in $(seq 1 100000); do printf x | dd of='\(src)/busy.db' bs=1 seek=4096 conv=notrunc status=none; done"])
        defer { writer.stop() }
        let r = try tool.run(["backup", "--json", "--workers", "1", src])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try r.json()["changed_while_read"] as? Int == 1)
        #expect(r.stderr.contains("changed while it was read"))
    }

    @Test("another process's exclusive lock makes commands exit 11 naming the holder")
    func locked() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let repository = try Repository.open(storage: LocalStorage(path: tool.repo), password: Array("correct horse".utf8))
        let lock = try RepositoryLock.acquire(repository, exclusive: true, host: "elsewhere", now: Date())
        let r = try tool.run(["check"])
        #expect(r.status == 11)
        #expect(r.stderr.contains("pid \(getpid()) on elsewhere"))
        lock.release()
        #expect(try tool.run(["check"]).status == 0)
    }
}
