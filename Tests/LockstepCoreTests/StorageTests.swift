import Foundation
import LockstepCore
import LockstepStorage
import LockstepTestSupport
import Testing

/// The storages the conformance suite runs against.
enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case memory, local

    var description: String { rawValue }

    /// A fresh, empty storage; `dir` holds a local one.
    func make(in dir: TempDirectory, _ name: String = "repo") -> any Storage {
        switch self {
        case .memory: MemoryStorage()
        case .local: LocalStorage(path: dir.appending(name))
        }
    }
}

@Suite("Storage conformance")
struct StorageConformanceTests {
    @Test("every backend passes every check", arguments: Backend.allCases, StorageConformance.Check.allCases)
    func conformance(_ backend: Backend, _ check: StorageConformance.Check) throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try check.run(on: backend.make(in: dir))
    }

    @Test("the whole suite through run(_:), over FaultyStorage with no faults armed")
    func wholeSuiteThroughDecorator() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var n = 0
        try StorageConformance.run {
            n += 1
            return FaultyStorage(n % 2 == 0 ? MemoryStorage() : LocalStorage(path: dir.appending("repo\(n)")))
        }
        #expect(n == StorageConformance.Check.allCases.count)
    }

    @Test("a storage that breaks the contract fails the suite")
    func suiteCatchesViolations() throws {
        #expect(throws: ConformanceFailure.self) { try StorageConformance.run { ForgetfulStorage() } }
    }
}

@Suite("LocalStorage layout")
struct LocalStorageTests {
    @Test("data objects live in folders named by their first two hex digits; no temporary files remain")
    func layout() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let root = dir.appending("repo")
        let storage = LocalStorage(path: root)
        let data = pseudoRandomData(1000, seed: 1)
        let id = storageID(of: data)
        try storage.save(Handle(.data, id.hex), data)
        try storage.save(Handle(.index, id.hex), data)
        try storage.save(.config, Data("{}".utf8))
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: "\(root)/data/\(id.hex.prefix(2))/\(id.hex)"))
        #expect(fm.fileExists(atPath: "\(root)/index/\(id.hex)"))
        #expect(fm.fileExists(atPath: "\(root)/config"))
        let everything = try #require(fm.subpaths(atPath: root))
        #expect(everything.filter { $0.contains(".tmp") }.isEmpty)
        #expect(try storage.list(.data) == [id.hex])
        #expect(storage.location == root)
    }

    @Test("packs of several O_DIRECT buffers and a padded tail read back whole; on tmpfs (no O_DIRECT) through the page cache",
          arguments: ["/tmp", "/dev/shm"])
    func directPacks(_ base: String) throws {
        let dir = try TempDirectory(in: base)
        defer { dir.remove() }
        let repository = try makeRepository(LocalStorage(path: dir.appending("repo")), packSize: 1 << 20)
        let blobs = (0..<40).map { pseudoRandomData(50_000 + $0 * 1_003, seed: UInt64($0)) }  // 2.4 MB, incompressible
        let ids = try blobs.map { try repository.saveBlob(.data, $0).id }
        try repository.flush()
        let reopened = try Repository.open(storage: LocalStorage(path: dir.appending("repo")), password: testPassword)
        try reopened.loadIndex()
        for (id, blob) in zip(ids, blobs) { #expect(try reopened.loadBlob(id) == blob) }
    }

    @Test("a missing repository folder lists nothing and does not exist")
    func missingRoot() throws {
        let storage = LocalStorage(path: "/nonexistent/lockstep/\(UInt64.random(in: 0...UInt64.max))")
        #expect(try !storage.exists())
        for kind in ObjectKind.allCases { #expect(try storage.list(kind).isEmpty) }
    }

    @Test("a repository works end to end over LocalStorage")
    func repository() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let storage = LocalStorage(path: dir.appending("repo"))
        let repo = try makeRepository(storage)
        let data = pseudoRandomData(100_000, seed: 4)
        let id = try repo.saveBlob(.data, data).id
        try repo.flush()
        let reopened = try Repository.open(storage: LocalStorage(path: dir.appending("repo")), password: testPassword)
        try reopened.loadIndex()
        #expect(try reopened.loadBlob(id) == data)
    }
}

/// Breaks the contract on purpose: `remove` of a missing object succeeds quietly.
final class ForgetfulStorage: Storage {
    let inner = MemoryStorage()
    var location: String { "forgetful:" }
    func save(_ handle: Handle, _ data: Data) throws { try inner.save(handle, data) }
    func load(_ handle: Handle, offset: Int, length: Int?) throws -> Data { try inner.load(handle, offset: offset, length: length) }
    func size(_ handle: Handle) throws -> Int { try inner.size(handle) }
    func list(_ kind: ObjectKind) throws -> [String] { try inner.list(kind) }
    func remove(_ handle: Handle) throws { try? inner.remove(handle) }
    func exists() throws -> Bool { try inner.exists() }
}
