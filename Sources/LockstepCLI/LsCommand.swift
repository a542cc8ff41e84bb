import ArgumentParser
import Foundation
import LockstepCore

struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a snapshot's contents with ownership and modes.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Snapshot id, unique prefix, or `latest`.")
    var snapshot: String

    @Argument(help: "Only this path and what is below it.")
    var path: String?

    struct Entry: Encodable {
        var path: String
        var type: String
        var mode: String
        var uid: UInt32
        var gid: UInt32
        var user: String
        var group: String
        var size: UInt64
        var mtime: String
        var linkTarget: String?
        var hardLinks: UInt64

        enum CodingKeys: String, CodingKey {
            case path, type, mode, uid, gid, user, group, size, mtime, linkTarget = "link_target", hardLinks = "links"
        }
    }

    func run() throws {
        try execute {
            let repository = try global.openRepository()
            let (found, root) = try repository.indexedSnapshot(snapshot)
            let filter = path.map { "/" + $0.split(separator: "/").joined(separator: "/") }
            var entries = [Entry]()
            var matched = filter == nil || filter == "/"
            try walk(repository, root, prefix: "") { path, node in
                if let filter, filter != "/" {
                    guard path == filter || path.hasPrefix(filter + "/") else { return filter.hasPrefix(path + "/") }
                    matched = true
                }
                entries.append(Entry(path: path, type: String(node.kind.letter), mode: node.modeString, uid: node.uid, gid: node.gid,
                                     user: node.user, group: node.group, size: node.size,
                                     mtime: Snapshot.formatTime(Date(timeIntervalSince1970: Double(node.mtime.seconds) + Double(node.mtime.nanoseconds) / 1e9)),
                                     linkTarget: node.kind == .symlink ? String(decoding: node.linkTarget, as: UTF8.self) : nil,
                                     hardLinks: node.links))
                return true
            }
            guard matched else { throw LockstepError(.failure, "\(filter ?? "") is not in snapshot \(found.id.short)") }
            if global.json {
                try Console.json(entries)
            } else {
                for e in entries {
                    let owner = "\(e.user.isEmpty ? String(e.uid) : e.user)/\(e.group.isEmpty ? String(e.gid) : e.group)"
                    var line = "\(e.mode) \(owner.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(e.size).leftPadded(12)) \(e.mtime.prefix(19)) \(e.path)"
                    if let t = e.linkTarget { line += " -> \(t)" }
                    Console.out(line)
                }
            }
            return ExitCodes.success
        }
    }

    /// Visits nodes depth-first; the visitor returns whether to descend into a directory.
    private func walk(_ repository: Repository, _ tree: BlobID, prefix: String, _ visit: (String, Node) throws -> Bool) throws {
        for node in try repository.loadTree(tree).nodes {
            let path = prefix + "/" + node.displayName
            if try visit(path, node), node.kind == .directory, let sub = node.subtree {
                try walk(repository, sub, prefix: path, visit)
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
