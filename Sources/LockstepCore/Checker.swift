import Foundation
import Synchronization

/// What `check` found. `problems` make the repository unhealthy (exit 1); `notes` do not.
package struct CheckReport: Sendable, Codable {
    package var snapshots = 0
    package var trees = 0
    package var blobs = 0
    package var packs = 0
    package var packsRead = 0
    package var bytesRead: Int64 = 0
    package var problems: [String] = []
    package var notes: [String] = []
    /// Snapshot id → paths whose data is damaged or missing.
    package var affected: [String: [String]] = [:]

    package init() {}
    package var healthy: Bool { problems.isEmpty }
}

/// Verifies a repository. Structure: every index file authenticates and decodes, every indexed
/// pack exists and is long enough, every snapshot authenticates, every tree of every snapshot
/// decodes and every blob it refers to is indexed. With `readData`: every pack is read whole, its
/// name matches its SHA-256, its header authenticates, and every blob in it authenticates,
/// decompresses and hashes to its id. Damage is traced to the snapshots and paths it affects.
package struct Checker {
    private let repository: Repository

    package init(repository: Repository) { self.repository = repository }

    package func run(readData: Bool, progress: LiveProgress? = nil) throws -> CheckReport {
        var report = CheckReport()
        let storage = repository.storage
        let keys = repository.keys

        // Index files, one by one, so one damaged file is named rather than fatal.
        var index = MasterIndex()
        for name in try storage.list(.index) {
            do {
                let plain = try keys.open(try storage.load(Handle(.index, name)))
                for pack in try IndexFile.decode(Array(plain)).packs { index.add(pack: pack.id, blobs: pack.blobs) }
            } catch {
                report.problems.append("index file index/\(name) is damaged (\(error)); the blobs it listed are treated as missing")
            }
        }
        report.blobs = index.count

        // Packs: indexed ones must exist and cover their blobs; unindexed ones are harmless leftovers.
        let stored = Set(try storage.list(.data))
        let indexedPacks = index.packs
        report.packs = stored.count
        var packEnds = [UInt32: Int]()
        index.forEachBlob { _, entry in
            packEnds[entry.pack] = max(packEnds[entry.pack] ?? 0, Int(entry.offset) + Int(entry.length))
        }
        var badBlobs = Set<BlobID>()
        var badPacks = Set<UInt32>()
        for (number, pack) in indexedPacks.enumerated() {
            if !stored.contains(pack.hex) {
                report.problems.append("pack \(pack.hex) is indexed but missing from storage")
                badPacks.insert(UInt32(number))
            } else if let size = try? storage.size(Handle(.data, pack.hex)), size < packEnds[UInt32(number)] ?? 0 {
                report.problems.append("pack \(pack.hex) is truncated (\(size) bytes, blobs reach \(packEnds[UInt32(number)] ?? 0))")
                badPacks.insert(UInt32(number))
            }
        }
        let unindexed = stored.subtracting(indexedPacks.map(\.hex))
        if !unindexed.isEmpty {
            report.notes.append("\(unindexed.count) pack(s) are not in any index (left by an interrupted backup); they are unused")
        }

        if readData {
            // Each pack is read once: its name, its header, and every blob the index puts in it.
            var byPack = [UInt32: [(BlobID, IndexEntry)]]()
            index.forEachBlob { id, entry in byPack[entry.pack, default: []].append((id, entry)) }
            for (number, pack) in indexedPacks.enumerated() where !badPacks.contains(UInt32(number)) {
                let bytes: Data
                do { bytes = try storage.load(Handle(.data, pack.hex)) } catch {
                    report.problems.append("pack \(pack.hex) cannot be read: \(error)")
                    badPacks.insert(UInt32(number))
                    continue
                }
                report.packsRead += 1
                report.bytesRead += Int64(bytes.count)
                progress?.bytes.add(Int64(bytes.count), ordering: .relaxed)
                if storageID(of: bytes) != pack {
                    report.problems.append("pack \(pack.hex) is damaged: its content does not match its name")
                }
                if (try? PackBuilder.readHeader(bytes, keys: keys)) == nil {
                    report.problems.append("pack \(pack.hex) has a damaged header")
                }
                for (id, entry) in byPack[UInt32(number)] ?? [] {
                    let start = Int(entry.offset), end = start + Int(entry.length)
                    guard end <= bytes.count,
                          (try? Repository.unpack(sealed: bytes.subdata(in: start..<end), id: id, entry: entry, pack: pack, keys: keys)) != nil
                    else {
                        badBlobs.insert(id)
                        continue
                    }
                }
            }
            if !badBlobs.isEmpty { report.problems.append("\(badBlobs.count) blob(s) are damaged") }
        }
        index.forEachBlob { id, entry in if badPacks.contains(entry.pack) { badBlobs.insert(id) } }

        // Snapshots and their trees; each tree is read once, its damage remembered for every
        // snapshot that shares it.
        var walker = TreeWalker(repository: repository, index: index, badBlobs: badBlobs)
        for name in try storage.list(.snapshots) {
            guard let id = BlobID(hex: name) else {
                report.notes.append("snapshots/\(name) is not a snapshot name; ignored")
                continue
            }
            let snapshot: Snapshot
            do { snapshot = try repository.loadSnapshot(id) } catch {
                report.problems.append("snapshot \(id.short) is damaged: \(error)")
                continue
            }
            report.snapshots += 1
            guard let root = snapshot.treeID else {
                report.problems.append("snapshot \(id.short) has no valid tree id")
                continue
            }
            let affected = walker.affectedPaths(root).map { $0.hasPrefix("/") ? $0 : "/" + $0 }
            if !affected.isEmpty {
                report.affected[id.hex] = affected
                report.problems.append("snapshot \(id.short) is affected: \(affected.count) path(s) cannot be restored intact: "
                    + affected.prefix(10).joined(separator: ", ") + (affected.count > 10 ? ", …" : ""))
            }
        }
        report.trees = walker.treesRead
        return report
    }
}

/// Walks trees once each and remembers, per tree, the paths below it (relative to it) whose
/// listing or data is missing or damaged.
private struct TreeWalker {
    let repository: Repository
    let index: MasterIndex
    let badBlobs: Set<BlobID>
    private var memo: [BlobID: [String]] = [:]
    private(set) var treesRead = 0

    init(repository: Repository, index: MasterIndex, badBlobs: Set<BlobID>) {
        self.repository = repository
        self.index = index
        self.badBlobs = badBlobs
    }

    mutating func affectedPaths(_ treeID: BlobID) -> [String] {
        if let known = memo[treeID] { return known }
        var affected = [String]()
        defer { memo[treeID] = affected }
        guard let (pack, entry) = index.lookup(treeID), !badBlobs.contains(treeID) else {
            affected.append(" (directory listing missing or damaged)")
            return affected
        }
        let tree: Tree
        do {
            let sealed = try repository.storage.load(Handle(.data, pack.hex), offset: Int(entry.offset), length: Int(entry.length))
            tree = try Tree.decode(Array(try Repository.unpack(sealed: sealed, id: treeID, entry: entry, pack: pack, keys: repository.keys)))
        } catch {
            affected.append(" (directory listing: \(error))")
            return affected
        }
        treesRead += 1
        for node in tree.nodes {
            let path = "/" + node.displayName
            switch node.kind {
            case .directory:
                if let sub = node.subtree {
                    affected += affectedPaths(sub).map { path + $0 }
                } else {
                    affected.append(path + " (directory without a tree)")
                }
            case .file:
                let broken = node.content.contains { piece in
                    if case .blob(let id, _) = piece { return !index.contains(id) || badBlobs.contains(id) }
                    return false
                }
                if broken { affected.append(path) }
            default:
                break
            }
        }
        return affected
    }
}
