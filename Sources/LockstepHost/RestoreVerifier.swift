import Foundation
package import LockstepCore

/// Re-reads what a restore wrote and compares it with the snapshot: kind, mode, owner, size,
/// modification time, symlink target, xattrs and every content piece (by re-hashing it).
package struct RestoreVerifier {
    private let repository: Repository
    private let fs = LocalFileSystem()
    private let owners = OwnerMap()

    package init(repository: Repository) { self.repository = repository }

    /// Problems found, one line each; empty when the restore matches.
    package func run(tree root: BlobID, options: RestoreOptions) throws -> [String] {
        var problems = [String]()
        let includes = IncludeFilter(options.include)
        try compare(root, target: Array(options.target.utf8), components: [], includes: includes, options: options,
                    problems: &problems)
        return problems
    }

    private func compare(_ treeID: BlobID, target: [UInt8], components: [[UInt8]], includes: IncludeFilter,
                         options: RestoreOptions, problems: inout [String]) throws {
        let tree = try repository.loadTree(treeID)
        var seenLinks = Set<String>()
        for node in tree.nodes {
            let childComponents = components + [node.name]
            // Names restore refused were never written (and must not be followed here either).
            guard Restorer.isSafeName(node.name), includes.visits(childComponents, kind: node.kind) else { continue }
            let path = childComponents.reduce(target) { $0.appendingPathComponent($1) }
            let shown = "/" + childComponents.map(\.pathString).joined(separator: "/")
            guard let status = try? fs.status(path) else {
                problems.append("\(shown): missing")
                continue
            }
            if status.type.nodeKind != node.kind { problems.append("\(shown): is \(status.type), expected \(node.kind)"); continue }
            if status.mode != node.mode { problems.append("\(shown): mode \(String(status.mode, radix: 8)), expected \(String(node.mode, radix: 8))") }
            let (uid, gid) = owners.owner(of: node, options: options)
            if status.uid != uid || status.gid != gid { problems.append("\(shown): owner \(status.uid):\(status.gid), expected \(uid):\(gid)") }
            if status.mtime != node.mtime { problems.append("\(shown): modification time differs") }
            if node.kind == .symlink, (try? fs.readLink(path)) != node.linkTarget { problems.append("\(shown): symlink target differs") }
            if node.kind == .characterDevice || node.kind == .blockDevice, status.rdev != node.rdev { problems.append("\(shown): device number differs") }
            if node.kind != .symlink, (try? fs.extendedAttributes(path)) != node.xattrs { problems.append("\(shown): extended attributes differ") }
            switch node.kind {
            case .directory:
                if let sub = node.subtree {
                    try compare(sub, target: target, components: childComponents, includes: includes, options: options, problems: &problems)
                }
            case .file:
                if node.links > 1 {
                    let key = "\(status.device):\(status.inode)"
                    if !seenLinks.insert(key).inserted { continue }
                }
                if UInt64(status.size) != node.size { problems.append("\(shown): size \(status.size), expected \(node.size)"); continue }
                if let problem = Self.compareContent(node, path: path, fs: fs, repository: repository) { problems.append("\(shown): \(problem)") }
            default:
                break
            }
        }
    }

    /// Nil when the file at `path` holds `node`'s content: every blob piece re-hashed, every hole
    /// piece zeros (only its data regions are read). Otherwise what differs.
    package static func compareContent(_ node: Node, path: [UInt8], fs: LocalFileSystem, repository: Repository) -> String? {
        guard let file = try? fs.open(path) else { return "cannot be opened" }
        defer { file.close() }
        let hasHoles = node.content.contains { if case .hole = $0 { true } else { false } }
        guard let regions = hasHoles ? try? file.dataRegions(size: Int64(node.size)) : [] else { return "cannot be read" }
        let size = max(node.content.lazy.compactMap { if case .blob(_, let length) = $0 { length } else { nil } }.max() ?? 0, 1 << 20)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        for piece in node.content {
            let length = piece.length
            switch piece {
            case .hole:
                for region in regions where region.overlaps(offset..<(offset + Int64(length))) {
                    var start = max(region.lowerBound, offset)
                    let end = min(region.upperBound, offset + Int64(length))
                    while start < end {
                        let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(end - start, Int64(1 << 20)))])
                        guard let n = try? file.read(into: part, at: start), n == part.count, !part.contains(where: { $0 != 0 }) else {
                            return "content differs at offset \(start)"
                        }
                        start += Int64(part.count)
                    }
                }
            case .blob(let id, _):
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
                guard let n = try? file.read(into: part, at: offset), n == length,
                      repository.keys.blobID(of: UnsafeRawBufferPointer(part)) == id else {
                    return "content differs at offset \(offset)"
                }
            }
            offset += Int64(length)
        }
        return nil
    }
}
