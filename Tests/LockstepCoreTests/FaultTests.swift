import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("FaultyStorage")
struct FaultyStorageTests {
    @Test("the N-th save of a kind fails permanent and stores nothing; other kinds pass")
    func nthSave() throws {
        let base = MemoryStorage()
        let faulty = FaultyStorage(base)
        faulty.failSave(.data, nth: 3)
        try faulty.save(Handle(.index, testID(1).hex), Data("i".utf8))
        try faulty.save(Handle(.data, testID(1).hex), Data("1".utf8))
        try faulty.save(Handle(.data, testID(2).hex), Data("2".utf8))
        let error = #expect(throws: StorageError.self) { try faulty.save(Handle(.data, testID(3).hex), Data("3".utf8)) }
        #expect(error?.kind == .permanent)
        #expect(error?.handle == Handle(.data, testID(3).hex))
        #expect(throws: StorageError.self) { try base.load(Handle(.data, testID(3).hex)) }
        // One-shot: the next save passes.
        try faulty.save(Handle(.data, testID(4).hex), Data("4".utf8))
        #expect(faulty.savedCount(.data) == 3)
        #expect(faulty.failedCount(.data) == 1)
        #expect(faulty.savedCount(.index) == 1)
        #expect(Set(try faulty.list(.data)) == [testID(1).hex, testID(2).hex, testID(4).hex])
    }

    @Test("a repeating fault keeps failing (a disk that stays full) until cleared")
    func repeating() throws {
        let faulty = FaultyStorage(MemoryStorage())
        faulty.failSave(.snapshots, nth: 1, repeating: true, error: .transient, message: "try later")
        for i: UInt8 in 0..<3 {
            let error = #expect(throws: StorageError.self) { try faulty.save(Handle(.snapshots, testID(i).hex), Data([i])) }
            #expect(error?.kind == .transient)
            #expect(error?.message == "try later")
        }
        faulty.clearFaults()
        try faulty.save(Handle(.snapshots, testID(9).hex), Data([9]))
        #expect(faulty.failedCount(.snapshots) == 3)
    }

    @Test("flipByte corrupts loads of one kind (or one object), at a chosen byte")
    func flipByte() throws {
        let faulty = FaultyStorage(MemoryStorage())
        let data = Data([0, 1, 2, 3, 4, 5, 6, 7])
        try faulty.save(Handle(.data, testID(1).hex), data)
        try faulty.save(Handle(.data, testID(2).hex), data)
        try faulty.save(Handle(.index, testID(1).hex), data)
        faulty.flipByte(onLoad: .data, name: testID(1).hex, at: 2)
        #expect(try faulty.load(Handle(.data, testID(1).hex)) == Data([0, 1, 0xfd, 3, 4, 5, 6, 7]))
        #expect(try faulty.load(Handle(.data, testID(1).hex), offset: 4, length: 4) == Data([4, 5, 0xf9, 7]))
        #expect(try faulty.load(Handle(.data, testID(2).hex)) == data)
        #expect(try faulty.load(Handle(.index, testID(1).hex)) == data)
        faulty.clearFaults()
        faulty.flipByte(onLoad: .index)
        #expect(try faulty.load(Handle(.index, testID(1).hex)) == Data([0, 1, 2, 3, 0xfb, 5, 6, 7]))
        #expect(try faulty.load(Handle(.data, testID(1).hex)) == data)
        #expect(faulty.corruptedLoads == 3)
        faulty.clearFaults()
        #expect(try faulty.load(Handle(.index, testID(1).hex)) == data)
    }
}

@Suite("Repository under storage faults")
struct RepositoryFaultTests {
    /// Incompressible blobs of 30 000 bytes: with 64 KiB packs, every third one fills a pack.
    static func blob(_ i: Int) -> Data { pseudoRandomData(30_000, seed: 7000 + UInt64(i)) }

    /// A repository over FaultyStorage(MemoryStorage) holding six flushed blobs in two packs.
    static func flushedRepository() throws -> (base: MemoryStorage, faulty: FaultyStorage, repo: Repository, ids: [BlobID]) {
        let base = MemoryStorage()
        let faulty = FaultyStorage(base)
        let repo = try makeRepository(faulty)
        let ids = try (0..<6).map { try repo.saveBlob(.data, blob($0)).id }
        try repo.flush()
        #expect(base.count(.data) == 2)
        #expect(base.count(.index) == 1)
        return (base, faulty, repo, ids)
    }

    /// Reopens `base` as a new process would and checks the durable state is consistent: every
    /// indexed pack exists, every indexed blob loads, and the blobs flushed earlier are all there.
    static func expectConsistent(_ base: MemoryStorage, flushed: [BlobID], sourceLocation: SourceLocation = #_sourceLocation) throws -> Repository {
        let reopened = try Repository.open(storage: base, password: testPassword)
        try reopened.loadIndex()
        let stored = Set(try base.list(.data))
        for pack in reopened.index.packs {
            #expect(stored.contains(pack.hex), "index names pack \(pack.short), which was never saved", sourceLocation: sourceLocation)
        }
        var ids = [BlobID]()
        reopened.index.forEachBlob { id, _ in ids.append(id) }
        for id in ids {
            #expect(throws: Never.self, "indexed blob \(id.short) does not load", sourceLocation: sourceLocation) {
                _ = try reopened.loadBlob(id)
            }
        }
        for (i, id) in flushed.enumerated() {
            #expect(try reopened.loadBlob(id) == blob(i), sourceLocation: sourceLocation)
        }
        return reopened
    }

    @Test("a data save failing mid-way (full disk): a later save or the flush throws, and every one after; reopening indexes no unsaved pack")
    func dataSaveFailsMidway() throws {
        let (base, faulty, repo, flushed) = try Self.flushedRepository()
        // The next pack saves; the one after it, and every later one, fails. Full packs are
        // saved in the background, so the failure shows at a later save or at the flush.
        faulty.failSave(.data, nth: 2, repeating: true)
        var saved = [Int: BlobID]()
        var thrown: (any Error)?
        for i in 6..<15 {
            do { saved[i] = try repo.saveBlob(.data, Self.blob(i)).id } catch {
                thrown = error
                break
            }
        }
        if thrown == nil {
            do { try repo.flush() } catch { thrown = error }
        }
        let error = try #require(thrown as? StorageError, "no save failed: \(String(describing: thrown))")
        #expect(error.kind == .permanent)
        #expect(error.handle?.kind == .data)
        #expect(faulty.failedCount(.data) >= 1)
        // A blob whose save returned may have been in the failed pack: the repository refuses
        // to go on as if it were durable.
        #expect(throws: StorageError.self) { try repo.saveBlob(.data, Self.blob(30)) }
        #expect(throws: StorageError.self) { try repo.flush() }
        let reopened = try Self.expectConsistent(base, flushed: flushed)
        #expect(saved.count >= 5)
        for i in 9..<12 { #expect(!reopened.hasBlob(repo.keys.blobID(of: Self.blob(i))), "blob \(i) of the failed pack is indexed") }
    }

    @Test("a data save failing in flush: flush throws; the earlier flushed state is intact")
    func flushFails() throws {
        let (base, faulty, repo, flushed) = try Self.flushedRepository()
        faulty.failSave(.data)
        let id = try repo.saveBlob(.data, Self.blob(20)).id
        let error = #expect(throws: StorageError.self) { try repo.flush() }
        #expect(error?.kind == .permanent)
        let reopened = try Self.expectConsistent(base, flushed: flushed)
        #expect(!reopened.hasBlob(id))
        #expect(base.count(.data) == 2)
        #expect(base.count(.index) == 1)
    }

    @Test("an index save failing in flush: flush throws; the packs it would have named stay unindexed")
    func indexSaveFails() throws {
        let (base, faulty, repo, flushed) = try Self.flushedRepository()
        faulty.failSave(.index)
        let id = try repo.saveBlob(.data, Self.blob(30)).id
        #expect(throws: StorageError.self) { try repo.flush() }
        let reopened = try Self.expectConsistent(base, flushed: flushed)
        #expect(!reopened.hasBlob(id))
        #expect(base.count(.index) == 1)
    }

    @Test("a snapshot save failing leaves no snapshot behind")
    func snapshotSaveFails() throws {
        let (base, faulty, repo, _) = try Self.flushedRepository()
        faulty.failSave(.snapshots)
        #expect(throws: StorageError.self) { _ = try repo.saveSnapshot(RepositoryTests.snapshot(0)) }
        #expect(base.count(.snapshots) == 0)
        #expect(try repo.listSnapshots().isEmpty)
    }

    @Test("a byte flipped on the way from storage is .damaged", arguments: [ObjectKind.data, .index, .snapshots])
    func flippedOnLoad(_ kind: ObjectKind) throws {
        let (_, faulty, repo, ids) = try Self.flushedRepository()
        let snapshot = try repo.saveSnapshot(RepositoryTests.snapshot(0))
        faulty.flipByte(onLoad: kind)
        let reopened = try Repository.open(storage: faulty, password: testPassword)
        switch kind {
        case .data:
            try reopened.loadIndex()
            expectLockstepError(.damaged) { _ = try reopened.loadBlob(ids[0]) }
        case .index:
            expectLockstepError(.damaged) { try reopened.loadIndex() }
        default:
            expectLockstepError(.damaged) { _ = try reopened.loadSnapshot(snapshot) }
        }
        #expect(faulty.corruptedLoads >= 1)
    }
}
