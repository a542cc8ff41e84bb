package import Foundation

/// Reads single entries of a snapshot by path, without restoring it.
package struct SnapshotReader: Sendable {
    private let repository: Repository
    private let root: BlobID

    package init(repository: Repository, root: BlobID) {
        self.repository = repository
        self.root = root
    }

    /// The node at an absolute snapshot path (as `ls` shows it), nil when there is none.
    package func node(at path: String) throws -> Node? {
        let components = path.split(separator: "/").filter { !$0.isEmpty && $0 != "." }.map { Array($0.utf8) }
        var tree = try repository.loadTree(root)
        for (i, name) in components.enumerated() {
            guard let node = tree.node(named: name) else { return nil }
            if i == components.count - 1 { return node }
            guard node.kind == .directory, let sub = node.subtree else { return nil }
            tree = try repository.loadTree(sub)
        }
        return nil
    }

    /// The names in the directory at `path`, nil when it is not a directory of the snapshot.
    package func list(_ path: String) throws -> [Node]? {
        guard let dir = try node(at: path), dir.kind == .directory, let sub = dir.subtree else { return nil }
        return try repository.loadTree(sub).nodes
    }

    /// A regular file's content, holes as zeros.
    package func contents(of node: Node) throws -> Data {
        var data = Data()
        data.reserveCapacity(Int(node.size))
        for piece in node.content {
            switch piece {
            case .blob(let id, _): data.append(try repository.loadBlob(id))
            case .hole(let length): data.append(Data(count: length))
            }
        }
        return data
    }
}
