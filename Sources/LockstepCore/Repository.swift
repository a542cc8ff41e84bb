package import Foundation
import Synchronization

/// An open repository: storage, config and master keys, the in-memory index, and the pack
/// being filled. Safe to use from many threads; blobs saved from several threads at once are
/// deduplicated against each other.
///
/// Write ordering (see docs/design.md): a pack is saved before any index names it; an index
/// file is saved before any snapshot refers to its blobs; the snapshot is saved last.
package final class Repository: Sendable {
    package let storage: any Storage
    package let config: RepositoryConfig
    package let keys: MasterKeys
    package let chunker: Chunker

    private struct WriterState {
        var index = MasterIndex()
        var inFlight = Set<BlobID>()
        /// Packs being filled, idle, for each blob type (indexed by `BlobType.rawValue`): trees get
        /// packs of their own, so the trees a walk needs are a few contiguous files, read ahead
        /// whole (`prefetchTrees`), not blobs scattered among gigabytes of data. A saving thread
        /// takes one out and appends to it (hash and write) without holding this lock: with the
        /// write under it, the other thread's every `hasBlob` waited on a PI futex, and the
        /// kernel's spinning on it was a tenth of an initial backup's CPU (perf).
        var packs: [[PackWriter]] = [[], []]
        /// Packs taken out of `packs` and being appended to.
        var packsAppending = 0
        var unindexedPacks: [(id: BlobID, blobs: [PackedBlob])] = []
        /// Full packs taken out of `packs` whose save has not finished yet.
        var packsBeingStored = 0
        /// Full packs waiting for the background saver (`storeQueued`), and whether it runs.
        var storeQueue: [PackWriter] = []
        var storing = false
        /// The first failure of a background save. Sticky: a blob whose save returned may have
        /// been in that pack, so every later save and flush of this repository throws it.
        var storeFailure: (any Error)?
    }

    private let state: Mutex<WriterState>
    private let treesPrefetched = Atomic(false)
    /// Packs `prefetch(blobs:)` asked storage to read.
    private let prefetched = Mutex(Set<BlobID>())
    /// Compression contexts of the threads saving blobs, reused (see `ZstdScratch`).
    private let scratchPool = Mutex<[ZstdScratch]>([])
    /// Decompression contexts of the threads loading blobs, reused: `ZSTD_decompress` sets up a
    /// fresh context per call, and a walk loads tens of thousands of small trees.
    private let decompressorPool = Mutex<[ZstdDecompressor]>([])
    /// How many saved packs may wait before an index file names them.
    package static let packsPerIndexFile = 4
    /// How many full packs may wait for the background saver; the thread that fills one more
    /// saves it itself (back-pressure).
    private static let packsQueuedToStore = 2

    private init(storage: any Storage, config: RepositoryConfig, keys: MasterKeys) {
        self.storage = storage
        self.config = config
        self.keys = keys
        self.chunker = Chunker(parameters: config.chunker, gear: keys.gearTable())
        self.state = Mutex(WriterState())
    }

    // MARK: - Creating and opening

    /// Creates a repository: config first, then the key file. Refuses an existing one.
    package static func initialize(storage: any Storage, password: [UInt8]?, host: String, now: Date,
                                   config: RepositoryConfig? = nil) throws -> Repository {
        if try storage.exists() {
            throw LockstepError(.repositoryExists, "a repository already exists at \(storage.location); nothing was changed (use another path, or use the existing repository)")
        }
        let keys = MasterKeys.generate()
        let config = config ?? RepositoryConfig(id: randomHex(16))
        let keyFile = try KeyFile.wrap(keys, password: password, host: host, now: now)
        let keyData = try JSONEncoder().encode(keyFile)
        // Key first: a config is what marks a repository, so it must never exist without a key.
        try storage.save(Handle(.keys, storageID(of: keyData).hex), keyData)
        let configEncoder = JSONEncoder()
        configEncoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try storage.save(.config, try configEncoder.encode(config))
        return Repository(storage: storage, config: config, keys: keys)
    }

    /// Opens a repository with a password (nil: no password given).
    package static func open(storage: any Storage, password: [UInt8]?) throws -> Repository {
        guard try storage.exists() else {
            throw LockstepError(.noRepository, "no repository at \(storage.location) (create one with `lockstep init`, or check --repo / LOCKSTEP_REPOSITORY)")
        }
        let config: RepositoryConfig
        do {
            config = try JSONDecoder().decode(RepositoryConfig.self, from: try storage.load(.config))
        } catch {
            throw LockstepError(.damaged, "the repository config at \(storage.location) does not decode: \(error)")
        }
        guard config.version == RepositoryConfig.currentVersion else {
            throw LockstepError(.failure, "repository format version \(config.version) is not supported by this lockstep (it reads version \(RepositoryConfig.currentVersion)); upgrade lockstep")
        }
        for name in try storage.list(.keys) {
            // A key file that does not decode cannot hold this password's keys; try the others.
            guard let file = try? JSONDecoder().decode(KeyFile.self, from: try storage.load(Handle(.keys, name))) else { continue }
            if let keys = try file.unwrap(password: password) {
                return Repository(storage: storage, config: config, keys: keys)
            }
        }
        if password == nil {
            throw LockstepError(.wrongPassword, "the repository at \(storage.location) is encrypted and no password was given (use --password-file or LOCKSTEP_PASSWORD_FILE)")
        }
        throw LockstepError(.wrongPassword, "wrong password for the repository at \(storage.location) (check --password-file / LOCKSTEP_PASSWORD_FILE)")
    }

    // MARK: - Index

    /// Loads every index file into memory. Returns the number of index files read.
    @discardableResult
    package func loadIndex() throws -> Int {
        let names = try storage.list(.index)
        // Each file is added as soon as it is decoded and then dropped: decoding them all first
        // held every file's blob list at once next to the index being built.
        var builder = MasterIndex.Builder(indexBytes: try names.reduce(0) { $0 + (try storage.size(Handle(.index, $1))) })
        for name in names {
            let sealed = try storage.load(Handle(.index, name))
            let plain: Data
            do { plain = try keys.open(sealed) } catch {
                throw LockstepError(.damaged, "index file index/\(name) does not authenticate (run `lockstep check`)")
            }
            for pack in try IndexFile.decode(Array(plain)).packs { builder.add(pack: pack.id, blobs: pack.blobs) }
        }
        let loaded = builder.build()
        state.withLock { s in
            if s.index.count == 0 && s.index.packs.isEmpty {
                s.index = loaded
            } else {
                loaded.forEachPack { pack, blobs in s.index.add(pack: pack, blobs: blobs) }
            }
        }
        return names.count
    }

    package func lookup(_ id: BlobID) -> (pack: BlobID, entry: IndexEntry)? {
        state.withLock { $0.index.lookup(id) }
    }

    /// Asks storage to start reading the packs holding these blobs, each pack whole and once: a
    /// restore names each file's blobs when it queues the file, and packs hold blobs in the
    /// order a backup walked, so the rest of the pack is what the next files need. The packs
    /// are read from a cold disk in large requests while the workers write the files queued
    /// before, instead of one blocking read per blob.
    package func prefetch(blobs: [BlobID]) {
        for id in blobs {
            guard let (pack, _) = lookup(id), prefetched.withLock({ $0.insert(pack).inserted }) else { continue }
            storage.prefetch(Handle(.data, pack.hex))
        }
    }

    package func hasBlob(_ id: BlobID) -> Bool { state.withLock { $0.index.contains(id) } }

    /// A copy of the index (for check and restore planning).
    package var index: MasterIndex { state.withLock { $0.index } }

    // MARK: - Writing

    package struct SaveResult: Sendable {
        package var id: BlobID
        package var added: Bool
        package var storedBytes: Int
    }

    /// Stores a blob unless the repository already has it. The blob is durable once `flush`
    /// returns (or earlier, when its pack fills).
    package func saveBlob(_ type: BlobType, _ data: Data) throws -> SaveResult {
        let id = keys.blobID(of: data)
        return try saveBlob(type, data, id: id)
    }

    package func saveBlob(_ type: BlobType, _ data: Data, id: BlobID) throws -> SaveResult {
        try data.withUnsafeBytes { try saveBlob(type, bytes: $0, id: id) }
    }

    /// Stores a blob from borrowed bytes (a chunk still in the reader's buffer): compressed with a
    /// pooled context into a reused buffer and sealed from there, so the only allocation per blob
    /// is the sealed copy that goes into the pack.
    package func saveBlob(_ type: BlobType, bytes: UnsafeRawBufferPointer, id: BlobID) throws -> SaveResult {
        let isNew = try state.withLock { s throws -> Bool in
            if let failure = s.storeFailure { throw failure }
            if s.index.contains(id) || s.inFlight.contains(id) { return false }
            s.inFlight.insert(id)
            return true
        }
        guard isNew else { return SaveResult(id: id, added: false, storedBytes: 0) }
        let scratch = scratchPool.withLock { $0.popLast() } ?? ZstdScratch()
        let sealed: Data
        let compressed: Bool
        do {
            defer { scratchPool.withLock { $0.append(scratch) } }
            if let packed = scratch.compress(bytes, level: Int32(config.compressionLevel)) {
                (sealed, compressed) = (try keys.seal(packed), true)
            } else {
                (sealed, compressed) = (try keys.seal(bytes), false)
            }
        } catch {
            state.withLock { _ = $0.inFlight.remove(id) }
            throw error
        }
        let slot = Int(type.rawValue)
        var pack = state.withLock { s in
            s.packsAppending += 1
            return s.packs[slot].popLast() ?? PackWriter()
        }
        do {
            try pack.append(id: id, type: type, sealed: sealed, rawLength: bytes.count, compressed: compressed, storage: storage)
        } catch {
            // The pack file is broken: drop it whole; the capture fails, so nothing refers to it.
            pack.discard()
            state.withLock { s in
                s.packsAppending -= 1
                for b in pack.blobs { s.inFlight.remove(b.id) }
                s.inFlight.remove(id)
            }
            throw error
        }
        let full = pack.count >= config.packSize
        enum Next { case keep, storeHere, queued, startSaver }
        let next = state.withLock { s -> Next in
            s.packsAppending -= 1
            guard full else {
                s.packs[slot].append(pack)
                return .keep
            }
            s.packsBeingStored += 1
            guard s.storeQueue.count < Self.packsQueuedToStore else { return .storeHere }
            s.storeQueue.append(pack)
            if s.storing { return .queued }
            s.storing = true
            return .startSaver
        }
        switch next {
        case .keep, .queued: break
        case .storeHere: try store(pack: &pack)
        case .startSaver: Thread { [self] in self.storeQueued() }.start()
        }
        return SaveResult(id: id, added: true, storedBytes: sealed.count)
    }

    /// The background saver: saves full packs (the pack file's tail, fsync, rename, index) while
    /// the threads that filled them go on reading; a backup's readers spent 2.1 s of 15.5 s
    /// blocked in fsync. Ends when no pack waits.
    private func storeQueued() {
        while true {
            let taken = state.withLock { s -> PackWriter? in
                guard !s.storeQueue.isEmpty else {
                    s.storing = false
                    return nil
                }
                return s.storeQueue.removeFirst()
            }
            guard var pack = taken else { return }
            do { try store(pack: &pack) } catch {
                state.withLock { s in if s.storeFailure == nil { s.storeFailure = error } }
            }
        }
    }

    /// Saves a full pack, then indexes it; every few packs an index file is written. On failure
    /// the pack's blobs are forgotten, so saving them again stores them again.
    private func store(pack: inout PackWriter) throws {
        defer { state.withLock { $0.packsBeingStored -= 1 } }
        let pending = pack.blobs
        let (packID, blobs): (BlobID, [PackedBlob])
        do {
            (packID, blobs) = try pack.finish(keys: keys)
        } catch {
            pack.discard()
            state.withLock { s in for b in pending { s.inFlight.remove(b.id) } }
            throw error
        }
        CrashPoint.pass("pack-saved")
        let toIndex: [(id: BlobID, blobs: [PackedBlob])]? = state.withLock { s in
            s.index.add(pack: packID, blobs: blobs)
            for b in blobs { s.inFlight.remove(b.id) }
            s.unindexedPacks.append((packID, blobs))
            guard s.unindexedPacks.count >= Self.packsPerIndexFile else { return nil }
            defer { s.unindexedPacks.removeAll() }
            return s.unindexedPacks
        }
        if let toIndex { try writeIndex(toIndex) }
    }

    /// Writes an index file; on failure the packs go back to wait for the next one.
    private func writeIndex(_ packs: [(id: BlobID, blobs: [PackedBlob])]) throws {
        do {
            let sealed = try keys.seal(Data(IndexFile(packs: packs).encode()))
            try storage.save(Handle(.index, storageID(of: sealed).hex), sealed)
        } catch {
            state.withLock { $0.unindexedPacks.insert(contentsOf: packs, at: 0) }
            throw error
        }
        CrashPoint.pass("index-saved")
    }

    /// Saves the packs being filled and an index file for every pack not yet indexed.
    /// After it returns, every blob saved before is durable and indexed. Waits for appends in
    /// progress (a pack taken out may hold blobs whose save has returned).
    package func flush() throws {
        while state.withLock({ $0.packsAppending > 0 }) { usleep(1000) }
        let partial = state.withLock { s in
            defer { s.packs = [[], []] }
            let taken = s.packs.joined().filter { !$0.isEmpty }
            s.packsBeingStored += taken.count
            return taken
        }
        for (i, var pack) in partial.enumerated() {
            do { try store(pack: &pack) } catch {
                for rest in partial[(i + 1)...] {
                    rest.discard()
                    state.withLock { s in
                        s.packsBeingStored -= 1
                        for b in rest.blobs { s.inFlight.remove(b.id) }
                    }
                }
                throw error
            }
        }
        // Packs other threads (or the background saver) are still saving must be indexed by
        // this flush too.
        while state.withLock({ $0.packsBeingStored > 0 }) { usleep(1000) }
        let rest = try state.withLock { s throws in
            if let failure = s.storeFailure { throw failure }
            defer { s.unindexedPacks.removeAll() }
            return s.unindexedPacks
        }
        if !rest.isEmpty { try writeIndex(rest) }
    }

    package func saveTree(_ tree: Tree) throws -> SaveResult {
        try saveBlob(.tree, Data(tree.encode()))
    }

    // MARK: - Reading

    /// Loads, authenticates, decompresses and re-hashes a blob; throws `.damaged` naming the pack.
    package func loadBlob(_ id: BlobID) throws -> Data {
        try withPooledDecompressor { try withBlob(id, scratch: $0) { Data($0) } }
    }

    private func withPooledDecompressor<R>(_ body: (ZstdDecompressor) throws -> R) rethrows -> R {
        let decompressor = decompressorPool.withLock { $0.popLast() } ?? ZstdDecompressor()
        defer { decompressorPool.withLock { $0.append(decompressor) } }
        return try body(decompressor)
    }

    /// A blob's sealed bytes as stored, with its index entry and pack.
    private func loadSealed(_ id: BlobID) throws -> (sealed: Data, entry: IndexEntry, pack: BlobID) {
        guard let (pack, entry) = lookup(id) else {
            throw LockstepError(.damaged, "blob \(id.short) is not in the index (run `lockstep check`)")
        }
        return (try storage.load(Handle(.data, pack.hex), offset: Int(entry.offset), length: Int(entry.length)), entry, pack)
    }

    /// A blob's plaintext from its sealed bytes (for `check`, which reads packs whole).
    package static func unpack(sealed: Data, id: BlobID, entry: IndexEntry, pack: BlobID, keys: MasterKeys) throws -> Data {
        try withUnpacked(sealed: sealed, id: id, entry: entry, pack: pack, keys: keys, scratch: ZstdDecompressor()) { Data($0) }
    }

    /// Like `loadBlob`, but lends the plaintext to `body` instead of returning a copy: a
    /// compressed blob is decompressed into `scratch`'s reused buffer (a restore writes blob after
    /// blob without allocating and zero-filling each). The bytes are authenticated and re-hashed
    /// before `body` sees them, and are valid only inside it.
    package func withBlob<R>(_ id: BlobID, scratch: ZstdDecompressor,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (sealed, entry, pack) = try loadSealed(id)
        return try Self.withUnpacked(sealed: sealed, id: id, entry: entry, pack: pack, keys: keys, scratch: scratch, body)
    }

    /// Opens, decompresses (into `scratch`) and re-hashes sealed bytes; throws `.damaged` naming the pack.
    private static func withUnpacked<R>(sealed: Data, id: BlobID, entry: IndexEntry, pack: BlobID, keys: MasterKeys,
                                        scratch: ZstdDecompressor, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        // Built only on a failure: formatting two ids for every blob cost more than checking a tree.
        var damaged: LockstepError { LockstepError(.damaged, "blob \(id.short) in pack \(pack.short) is damaged") }
        guard let plain = try? keys.open(sealed) else { throw damaged }
        return try plain.withUnsafeBytes { plainBytes in
            let data: UnsafeRawBufferPointer
            if entry.compressed {
                guard let out = try? scratch.decompress(plainBytes, rawLength: Int(entry.rawLength)) else { throw damaged }
                data = out
            } else {
                data = plainBytes
            }
            guard data.count == Int(entry.rawLength), keys.blobID(of: data) == id else { throw damaged }
            return try body(data)
        }
    }

    package func loadTree(_ id: BlobID) throws -> Tree {
        prefetchTrees()
        let bytes = try withPooledDecompressor { try withBlob(id, scratch: $0) { Array($0) } }
        do { return try Tree.decode(bytes) } catch {
            throw LockstepError(.damaged, "tree \(id.short) does not decode: \(error)")
        }
    }

    /// Asks storage to read every tree pack ahead, once (the first `loadTree`): a walk of a
    /// snapshot wants nearly all of them, one small random read at a time, and on a cold cache
    /// those reads left a no-change backup or an in-place restore's plan waiting on the disk for
    /// seconds. Packs mixing trees with data (written before trees had packs of their own) are
    /// left alone: reading them is reading the data.
    package func prefetchTrees() {
        guard !treesPrefetched.exchange(true, ordering: .relaxed) else { return }
        for pack in state.withLock({ $0.index.treePacks }) { storage.prefetch(Handle(.data, pack.hex)) }
    }

    // MARK: - Snapshots

    /// Saves a snapshot. Call only after `flush`: everything it refers to must be indexed.
    package func saveSnapshot(_ snapshot: Snapshot) throws -> BlobID {
        let sealed = try keys.seal(try Snapshot.encoder().encode(snapshot))
        let id = storageID(of: sealed)
        try storage.save(Handle(.snapshots, id.hex), sealed)
        return id
    }

    package func loadSnapshot(_ id: BlobID) throws -> Snapshot {
        let sealed = try storage.load(Handle(.snapshots, id.hex))
        guard let plain = try? keys.open(sealed) else {
            throw LockstepError(.damaged, "snapshot \(id.short) does not authenticate")
        }
        return try Snapshot.decoder().decode(Snapshot.self, from: plain)
    }

    /// Every snapshot, oldest first.
    package func listSnapshots() throws -> [StoredSnapshot] {
        var out = [StoredSnapshot]()
        for name in try storage.list(.snapshots) {
            guard let id = BlobID(hex: name) else { continue }
            out.append(StoredSnapshot(id: id, snapshot: try loadSnapshot(id)))
        }
        return out.sorted { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
    }

    /// Resolves `latest`, a full id or a unique prefix; lists the candidates when ambiguous.
    package func findSnapshot(_ reference: String) throws -> StoredSnapshot {
        let all = try listSnapshots()
        if reference == "latest" {
            guard let last = all.last else { throw LockstepError(.failure, "the repository has no snapshots yet (run `lockstep backup` first)") }
            return last
        }
        let matches = reference.isEmpty ? [] : all.filter { $0.id.hex.hasPrefix(reference.lowercased()) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty {
            throw LockstepError(.failure, "no snapshot matches \"\(reference)\" (list them with `lockstep snapshots`)")
        }
        let list = matches.map { "\($0.id.short) \(Snapshot.formatTime($0.snapshot.time))" }.joined(separator: ", ")
        throw LockstepError(.failure, "snapshot id \"\(reference)\" is ambiguous: \(list); give more characters")
    }
}

package func randomHex(_ bytes: Int) -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
}
