import Foundation
import Testing

@Suite("kill -9 in the middle of a backup")
struct CrashTests {
    @Test("the repository still checks and the earlier snapshot restores", arguments: ["pack-saved:1", "pack-saved:3", "index-saved:1", "before-snapshot:1"])
    func killedBackup(point: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let src = "\(scratch.path)/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try write("\(src)/first", "the first snapshot")
        let first = try tool.run(["backup", "--json", src])
        #expect(first.status == 0)
        let firstID = try #require(try first.json()["snapshot_id"] as? String)

        // Enough new data for several 16 MiB packs and more than one index file.
        for i in 0..<6 { try pseudoRandom(12 << 20, seed: UInt64(40 + i)).write(to: URL(fileURLWithPath: "\(src)/big\(i)")) }
        let crashed = try tool.run(["backup", src], environment: ["LOCKSTEP_CRASH_AT": point])
        #expect(crashed.status == -SIGKILL, "the crash point \(point) was not reached")

        let check = try tool.run(["check", "--read-data"])
        #expect(check.status == 0, "\(check.stderr)")
        let snaps = try #require(try JSONSerialization.jsonObject(with: Data(try tool.run(["snapshots", "--json"]).stdout.utf8)) as? [[String: Any]])
        #expect(snaps.map { $0["id"] as? String } == [firstID])
        let out = "\(scratch.path)/out"
        #expect(try tool.run(["restore", firstID, "--target", out, "--verify"]).status == 0)
        #expect(try String(contentsOfFile: "\(out)\(src)/first", encoding: .utf8) == "the first snapshot")

        // A rerun completes, and a stale lock of the killed process does not stop it.
        let rerun = try tool.run(["backup", "--json", src])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try tool.run(["check", "--read-data"]).status == 0)
    }
}
