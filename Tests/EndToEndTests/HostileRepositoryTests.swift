import Foundation
import Testing
import LockstepCore
import LockstepStorage

/// Trees written straight into a repository, as an attacker holding the storage and key could.
@Suite("Hostile repositories cannot write outside the restore target")
struct HostileRepositoryTests {
    private func snapshot(_ tool: Lockstep, root: [Node], subtrees: (Repository) throws -> [[UInt8]: BlobID] = { _ in [:] }) throws {
        let repository = try Repository.open(storage: LocalStorage(path: tool.repo), password: Array("correct horse".utf8))
        try repository.loadIndex()
        let subs = try subtrees(repository)
        var nodes = root
        for i in nodes.indices where nodes[i].kind == .directory && nodes[i].subtree == nil {
            nodes[i].subtree = try subs[nodes[i].name] ?? repository.saveTree(Tree(nodes: [])).id
        }
        let rootID = try repository.saveTree(Tree(nodes: nodes)).id
        try repository.flush()
        _ = try repository.saveSnapshot(Snapshot(time: Date(), host: "evil", paths: ["/"], tags: [], tree: rootID, parent: nil,
                                                 summary: BackupSummary(), program: "test", metadata: [:]))
    }

    private func file(_ name: String, _ repository: Repository, content: String = "pwned") throws -> Node {
        let id = try repository.saveBlob(.data, Data(content.utf8)).id
        return Node(name: Array(name.utf8), kind: .file, mode: 0o644, size: UInt64(content.utf8.count),
                    content: [.blob(id, length: content.utf8.count)])
    }

    @Test("names `..`, `.`, absolute and slashed names are refused")
    func badNames() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let repository = try Repository.open(storage: LocalStorage(path: tool.repo), password: Array("correct horse".utf8))
        var nodes = [Node]()
        for name in ["..", ".", "/etc/x", "../x", "a/../../x", ""] { nodes.append(try file(name, repository)) }
        nodes.append(try file("fine", repository, content: "ok"))
        let rootID = try repository.saveTree(Tree(nodes: nodes)).id
        try repository.flush()
        _ = try repository.saveSnapshot(Snapshot(time: Date(), host: "evil", paths: ["/"], tags: [], tree: rootID, parent: nil,
                                                 summary: BackupSummary(), program: "test", metadata: [:]))

        let target = "\(scratch.path)/box/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let r = try tool.run(["restore", "latest", "--target", target])
        #expect(r.status == 1)
        #expect(r.stderr.contains("refused"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/box") == ["target"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["fine"])
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/x"))
    }

    @Test("a symlink restored earlier is never followed by a later entry of the same name")
    func symlinkThenChild() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let outside = "\(scratch.path)/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try snapshot(tool, root: [
            Node(name: Array("escape".utf8), kind: .symlink, mode: 0o777, linkTarget: Array(outside.utf8)),
            Node(name: Array("escape".utf8), kind: .directory, mode: 0o755),
        ]) { repository in
            [Array("escape".utf8): try repository.saveTree(Tree(nodes: [try self.file("payload", repository)])).id]
        }
        let target = "\(scratch.path)/target"
        let r = try tool.run(["restore", "latest", "--target", target])
        #expect(r.status == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "wrote through a symlink")
    }

    @Test("with --overwrite a symlink already in the target is replaced, not followed")
    func existingSymlinkInTarget() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let outside = "\(scratch.path)/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try snapshot(tool, root: [Node(name: Array("dir".utf8), kind: .directory, mode: 0o755)]) { repository in
            [Array("dir".utf8): try repository.saveTree(Tree(nodes: [try self.file("payload", repository)])).id]
        }
        let target = "\(scratch.path)/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(target)/dir", withDestinationPath: outside)
        let r = try tool.run(["restore", "latest", "--target", target, "--overwrite"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "wrote through a symlink")
        #expect(try String(contentsOfFile: "\(target)/dir/payload", encoding: .utf8) == "pwned")
    }

    @Test("owners map by name when the name exists here, by number otherwise or with --numeric-owner")
    func ownerMapping() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tool = try scratch.repository()
        let repository = try Repository.open(storage: LocalStorage(path: tool.repo), password: Array("correct horse".utf8))
        var known = try file("known", repository)
        (known.uid, known.gid, known.user, known.group) = (4242, 4343, "daemon", "daemon")
        var unknown = try file("unknown", repository)
        (unknown.uid, unknown.gid, unknown.user, unknown.group) = (5151, 5252, "no-such-user-here", "no-such-group")
        let rootID = try repository.saveTree(Tree(nodes: [known, unknown])).id
        try repository.flush()
        _ = try repository.saveSnapshot(Snapshot(time: Date(), host: "h", paths: ["/"], tags: [], tree: rootID, parent: nil,
                                                 summary: BackupSummary(), program: "test", metadata: [:]))
        let byName = "\(scratch.path)/by-name"
        #expect(try tool.run(["restore", "latest", "--target", byName]).status == 0)
        #expect(try sh("stat -c '%u:%g' '\(byName)/known' '\(byName)/unknown'") == "1:1\n5151:5252\n")
        let numeric = "\(scratch.path)/numeric"
        #expect(try tool.run(["restore", "latest", "--target", numeric, "--numeric-owner"]).status == 0)
        #expect(try sh("stat -c '%u:%g' '\(numeric)/known'") == "4242:4343\n")
    }
}
