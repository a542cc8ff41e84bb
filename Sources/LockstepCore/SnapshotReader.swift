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

    /// A file's content as a stream of pieces, one blob in memory at a time (for feeding a
    /// database dump to `pg_restore`).
    package func reader(of node: Node) -> ContentReader {
        ContentReader(repository: repository, pieces: node.content)
    }
}

/// Reads a file's content from the repository front to back.
package final class ContentReader {
    private let repository: Repository
    private let pieces: [ContentPiece]
    private var next = 0
    private var current = Data()
    private var offset = 0

    init(repository: Repository, pieces: [ContentPiece]) {
        self.repository = repository
        self.pieces = pieces
    }

    /// Up to `buffer.count` bytes; 0 at the end.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while offset == current.count {
            guard next < pieces.count else { return 0 }
            switch pieces[next] {
            case .blob(let id, _): current = try repository.loadBlob(id)
            case .hole(let length): current = Data(count: length)
            }
            next += 1
            offset = 0
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}
