import Foundation
import LockstepCore
import LockstepTestSupport
import Synchronization
import Testing

@Suite("Repository over MemoryStorage")
struct RepositoryTests {
    // MARK: Creating and opening

    @Test("initialize, then open with the right password")
    func initializeAndOpen() throws {
        let storage = MemoryStorage()
        let created = try makeRepository(storage)
        #expect(try storage.exists())
        #expect(storage.count(.keys) == 1)
        let opened = try Repository.open(storage: storage, password: testPassword)
        #expect(opened.config == created.config)
        #expect(opened.keys.serialized == created.keys.serialized)
        #expect(opened.config.packSize == 64 << 10)
        #expect(opened.config.version == RepositoryConfig.currentVersion)
    }

    @Test("a wrong or missing password is .wrongPassword, and the message never holds the password")
    func wrongPassword() throws {
        let storage = MemoryStorage()
        try makeRepository(storage)
        let wrong = expectLockstepError(.wrongPassword) {
            _ = try Repository.open(storage: storage, password: Array("Tr0ub4dor&3".utf8))
        }
        #expect(wrong?.message.contains("Tr0ub4dor") == false)
        #expect(wrong?.message.contains("wrong password") == true)
        expectLockstepError(.wrongPassword) { _ = try Repository.open(storage: storage, password: nil) }
        expectLockstepError(.wrongPassword) { _ = try Repository.open(storage: storage, password: []) }
    }

    @Test("opening where there is no repository is .noRepository and creates nothing")
    func noRepository() throws {
        let storage = MemoryStorage()
        expectLockstepError(.noRepository) { _ = try Repository.open(storage: storage, password: testPassword) }
        #expect(storage.handles.isEmpty)
    }

    @Test("initializing twice is .repositoryExists and changes nothing")
    func initializeTwice() throws {
        let storage = MemoryStorage()
        let first = try makeRepository(storage)
        let before = Set(storage.handles)
        expectLockstepError(.repositoryExists) { try makeRepository(storage) }
        expectLockstepError(.repositoryExists) { try makeRepository(storage, password: nil) }
        #expect(Set(storage.handles) == before)
        #expect(try Repository.open(storage: storage, password: testPassword).keys.serialized == first.keys.serialized)
    }

    @Test("a repository without a password opens without one")
    func noPassword() throws {
        let storage = MemoryStorage()
        let created = try makeRepository(storage, password: nil)
        #expect(try Repository.open(storage: storage, password: nil).keys.serialized == created.keys.serialized)
    }

    @Test("a config that does not decode is .damaged; a newer version is refused")
    func badConfig() throws {
        let storage = MemoryStorage()
        try makeRepository(storage)
        storage.overwrite(.config, with: Data("not json".utf8))
        expectLockstepError(.damaged) { _ = try Repository.open(storage: storage, password: testPassword) }
        var config = RepositoryConfig(id: "x")
        config.version = RepositoryConfig.currentVersion + 1
        storage.overwrite(.config, with: try JSONEncoder().encode(config))
        let error = expectLockstepError(.failure) { _ = try Repository.open(storage: storage, password: testPassword) }
        #expect(error?.message.contains("upgrade") == true)
    }

    // MARK: Blobs

    @Test("saveBlob deduplicates: the second save of the same data adds nothing")
    func dedup() throws {
        let repo = try makeRepository()
        let data = pseudoRandomData(10_000, seed: 1)
        let first = try repo.saveBlob(.data, data)
        #expect(first.added)
        #expect(first.storedBytes > 0)
        #expect(first.id == repo.keys.blobID(of: data))
        let second = try repo.saveBlob(.data, data)
        #expect(!second.added)
        #expect(second.storedBytes == 0)
        #expect(second.id == first.id)
        try repo.flush()
        #expect(repo.hasBlob(first.id))
        let third = try repo.saveBlob(.data, data)
        #expect(!third.added)
    }

    @Test("many threads saving the same blob add it once")
    func concurrentDedup() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        let data = pseudoRandomData(30_000, seed: 2)
        let added = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            do {
                if try repo.saveBlob(.data, data).added { added.add(1, ordering: .relaxed) }
                // Distinct blobs too, so packs fill and are stored while others save.
                _ = try repo.saveBlob(.data, pseudoRandomData(20_000, seed: 1000 + UInt64(i)))
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(added.load(ordering: .relaxed) == 1)
        try repo.flush()
        let reopened = try Repository.open(storage: storage, password: testPassword)
        try reopened.loadIndex()
        #expect(try reopened.loadBlob(repo.keys.blobID(of: data)) == data)
        for i in 0..<32 {
            let blob = pseudoRandomData(20_000, seed: 1000 + UInt64(i))
            #expect(try reopened.loadBlob(repo.keys.blobID(of: blob)) == blob)
        }
    }

    @Test("after flush, a newly opened repository loads every blob from its index")
    func flushAndReopen() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        var blobs = [(BlobID, Data)]()
        // Enough to fill several 64 KiB packs and more than one index file's worth of them.
        for i in 0..<40 {
            let data = i % 3 == 0 ? Data(String(repeating: "text \(i) ", count: 3000).utf8)
                                  : pseudoRandomData(20_000 + i, seed: 500 + UInt64(i))
            let result = try repo.saveBlob(i % 5 == 0 ? .tree : .data, data)
            #expect(result.added)
            blobs.append((result.id, data))
        }
        try repo.flush()
        #expect(storage.count(.data) > Repository.packsPerIndexFile)
        #expect(storage.count(.index) >= 2)

        let reopened = try Repository.open(storage: storage, password: testPassword)
        #expect(!reopened.hasBlob(blobs[0].0))
        #expect(try reopened.loadIndex() == storage.count(.index))
        for (id, data) in blobs {
            #expect(reopened.hasBlob(id))
            #expect(try reopened.loadBlob(id) == data)
        }
        // Every pack is indexed and every indexed pack exists.
        #expect(reopened.index.packSet == Set(try storage.list(.data).compactMap(BlobID.init(hex:))))
        #expect(reopened.lookup(blobs[0].0)?.entry.type == .tree)
        #expect(reopened.lookup(blobs[1].0)?.entry.type == .data)
        #expect(reopened.lookup(blobs[0].0)?.entry.compressed == true)
        #expect(reopened.lookup(blobs[1].0)?.entry.compressed == false)
        // Trees and data never share a pack; treePacks names exactly the packs of trees.
        var types = [BlobID: Set<BlobType>]()
        for (id, _) in blobs {
            let found = try #require(reopened.lookup(id))
            types[found.pack, default: []].insert(found.entry.type)
        }
        #expect(types.values.allSatisfy { $0.count == 1 })
        #expect(Set(reopened.index.treePacks) == Set(types.filter { $0.value == [.tree] }.keys))
        #expect(!reopened.index.treePacks.isEmpty)
    }

    @Test("flush with nothing pending writes nothing")
    func emptyFlush() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        try repo.flush()
        #expect(storage.count(.data) == 0 && storage.count(.index) == 0)
        _ = try repo.saveBlob(.data, Data("a".utf8))
        try repo.flush()
        try repo.flush()
        #expect(storage.count(.data) == 1 && storage.count(.index) == 1)
    }

    @Test("trees save and load; a data blob is not a tree")
    func trees() throws {
        let repo = try makeRepository()
        let tree = Tree(nodes: TreeTests.sampleNodes())
        let saved = try repo.saveTree(tree)
        let data = try repo.saveBlob(.data, Data("plain".utf8))
        try repo.flush()
        #expect(try repo.loadTree(saved.id) == tree)
        expectLockstepError(.damaged) { _ = try repo.loadTree(data.id) }
    }

    @Test("withBlob lends the same bytes loadBlob returns, compressed or not; a damaged pack is .damaged")
    func withBlobLends() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        let text = Data(String(repeating: "compressible ", count: 5000).utf8)
        let noise = pseudoRandomData(30_000, seed: 11)
        let ids = [try repo.saveBlob(.data, text).id, try repo.saveBlob(.data, noise).id]
        try repo.flush()
        let scratch = ZstdDecompressor()
        for (id, data) in zip(ids, [text, noise]) {
            #expect(try repo.withBlob(id, scratch: scratch) { Data($0) } == data)
            #expect(try repo.loadBlob(id) == data)
        }
        let pack = try #require(repo.lookup(ids[0])?.pack)
        try storage.tamper(Handle(.data, pack.hex)) { $0[$0.startIndex + 40] ^= 0x10 }
        expectLockstepError(.damaged) { _ = try repo.withBlob(ids[0], scratch: scratch) { $0.count } }
    }

    @Test("loading a blob the index does not hold is .damaged")
    func unknownBlob() throws {
        let repo = try makeRepository()
        expectLockstepError(.damaged) { _ = try repo.loadBlob(testID(9)) }
    }

    @Test("a damaged pack gives .damaged, naming the pack")
    func damagedPack() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        let data = pseudoRandomData(5000, seed: 3)
        let id = try repo.saveBlob(.data, data).id
        try repo.flush()
        let pack = try #require(repo.lookup(id)?.pack)
        try storage.tamper(Handle(.data, pack.hex)) { $0[$0.startIndex + 100] ^= 0x04 }
        let error = expectLockstepError(.damaged) { _ = try repo.loadBlob(id) }
        #expect(error?.message.contains(pack.short) == true)
    }

    @Test("another repository's index files do not authenticate: .damaged")
    func foreignIndex() throws {
        let mine = MemoryStorage()
        let repo = try makeRepository(mine)
        _ = try repo.saveBlob(.data, Data("mine".utf8))
        try repo.flush()
        let theirs = MemoryStorage()
        let other = try makeRepository(theirs)
        for kind: ObjectKind in [.data, .index] {
            for name in try mine.list(kind) { try theirs.save(Handle(kind, name), try mine.load(Handle(kind, name))) }
        }
        expectLockstepError(.damaged) { try other.loadIndex() }
    }

    // MARK: Snapshots

    static func snapshot(_ seconds: Double, host: String = "h", tree: BlobID = testID(7)) -> Snapshot {
        var summary = BackupSummary()
        summary.filesNew = 3
        summary.bytesRead = 12_345
        return Snapshot(time: Date(timeIntervalSince1970: 1_700_000_000 + seconds), host: host, paths: ["/srv/data", "/etc"],
                        tags: ["daily"], tree: tree, parent: nil, summary: summary, program: "lockstep test",
                        metadata: ["consistency": "crash-consistent"])
    }

    @Test("snapshots save, load, list oldest first; latest, full ids and prefixes resolve")
    func snapshots() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        expectLockstepError(.failure) { _ = try repo.findSnapshot("latest") }
        let middle = try repo.saveSnapshot(Self.snapshot(60))
        let newest = try repo.saveSnapshot(Self.snapshot(120, host: "other"))
        let oldest = try repo.saveSnapshot(Self.snapshot(0))

        let loaded = try repo.loadSnapshot(newest)
        #expect(loaded.host == "other")
        #expect(loaded.paths == ["/srv/data", "/etc"])
        #expect(loaded.tags == ["daily"])
        #expect(loaded.treeID == testID(7))
        #expect(loaded.parent == nil)
        #expect(loaded.summary == Self.snapshot(120).summary)
        #expect(loaded.metadata == ["consistency": "crash-consistent"])
        #expect(loaded.time == Date(timeIntervalSince1970: 1_700_000_120))

        let reopened = try Repository.open(storage: storage, password: testPassword)
        #expect(try reopened.listSnapshots().map(\.id) == [oldest, middle, newest])
        #expect(try reopened.findSnapshot("latest").id == newest)
        for id in [oldest, middle, newest] {
            #expect(try reopened.findSnapshot(id.hex).id == id)
            #expect(try reopened.findSnapshot(id.hex.uppercased()).id == id)
            let unique = try #require((1...64).lazy.map { String(id.hex.prefix($0)) }.first { prefix in
                [oldest, middle, newest].filter { $0.hex.hasPrefix(prefix) }.count == 1
            })
            #expect(try reopened.findSnapshot(unique).id == id)
        }
        let unused = try #require((0..<256).lazy.map { String(format: "%02x", $0) }.first { prefix in
            ![oldest, middle, newest].contains { $0.hex.hasPrefix(prefix) }
        })
        expectLockstepError(.failure) { _ = try reopened.findSnapshot(unused) }
        expectLockstepError(.failure) { _ = try reopened.findSnapshot("not-hex") }
    }

    @Test("an ambiguous prefix is an error that lists every candidate")
    func ambiguousPrefix() throws {
        let repo = try makeRepository()
        // 17 snapshots: two of them must share their first hex digit.
        var ids = [BlobID]()
        for i in 0..<17 { ids.append(try repo.saveSnapshot(Self.snapshot(Double(i)))) }
        let byDigit = Dictionary(grouping: ids) { String($0.hex.prefix(1)) }
        let (digit, candidates) = try #require(byDigit.first { $0.value.count >= 2 })
        let error = expectLockstepError(.failure) { _ = try repo.findSnapshot(digit) }
        #expect(error?.message.contains("ambiguous") == true)
        for id in candidates {
            #expect(error?.message.contains(id.short) == true, "\(id.short) not listed in: \(error?.message ?? "")")
        }
        for id in ids where !candidates.contains(id) {
            #expect(error?.message.contains(id.short) == false)
        }
    }

    @Test("a snapshot that does not authenticate is .damaged")
    func damagedSnapshot() throws {
        let storage = MemoryStorage()
        let repo = try makeRepository(storage)
        let id = try repo.saveSnapshot(Self.snapshot(0))
        try storage.tamper(Handle(.snapshots, id.hex)) { $0[$0.startIndex + 30] ^= 1 }
        expectLockstepError(.damaged) { _ = try repo.loadSnapshot(id) }
    }
}
