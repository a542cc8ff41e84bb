import Foundation
import LockstepCore
import LockstepHost
import LockstepTestSupport
import Testing

@Suite("Archiver reading files")
struct ArchiverReadTests {
    struct Silent: ProblemReporter {
        func error(path: String, _ message: String) {}
        func warning(path: String, _ message: String) {}
    }

    @Test("a file four times the read buffer is cut exactly where the chunker cuts it whole")
    func chunksMatchWholeScan() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let parameters = ChunkerFixture.small
        let buffer = Archiver.readBufferSize(parameters)
        let data = pseudoRandomBytes(4 * buffer + 12_345, seed: 77)
        try Data(data).write(to: URL(fileURLWithPath: dir.appending("f")))
        let repository = try Repository.initialize(
            storage: MemoryStorage(), password: testPassword, host: "test-host", now: testNow,
            config: RepositoryConfig(id: "0123456789abcdef", chunker: parameters))
        let archiver = Archiver(repository: repository, fs: LocalFileSystem(), reporter: Silent())
        let (_, snapshot, summary) = try archiver.run(BackupRequest(paths: [dir.path], host: "test-host", program: "test"))
        #expect(summary.errors == 0)
        var tree = try repository.loadTree(try #require(snapshot.treeID))
        var node: Node?
        for name in dir.appending("f").split(separator: "/") {
            node = tree.node(named: Array(name.utf8))
            if let subtree = node?.subtree { tree = try repository.loadTree(subtree) }
        }
        let file = try #require(node)
        let lengths = file.content.map { piece -> Int in
            if case .blob(_, let length) = piece { return length }
            return -1
        }
        let expected = ChunkerFixture.lengths(data, repository.chunker)
        #expect(expected.count > 40)
        #expect(lengths == expected)
    }
}
