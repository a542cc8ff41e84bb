/// Absolute paths compared by their text, never by the file system: `normalize` folds repeated
/// and trailing slashes, `.` and `..` (a `..` above `/` stays at `/`), and `contains` tells
/// whether one normalized path is the other or lies beneath it, component by component (so
/// `/srv/data` does not contain `/srv/database`). Symbolic links are not resolved.
package enum LexicalPath {
    /// Whether `path` starts with `/`.
    package static func isAbsolute(_ path: String) -> Bool { path.hasPrefix("/") }

    /// The normalized form of an absolute path; a relative path is returned unchanged.
    package static func normalize(_ path: String) -> String {
        guard isAbsolute(path) else { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Whether normalized `outer` is `inner` or one of its ancestors.
    package static func contains(_ outer: String, _ inner: String) -> Bool {
        if outer == inner || outer == "/" { return true }
        return inner.hasPrefix(outer + "/")
    }

    /// `path` with its last component removed (`/` for a top-level entry).
    package static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let head = path[..<slash]
        return head.isEmpty ? "/" : String(head)
    }

    /// The last component of `path`.
    package static func lastComponent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `path` joined with a relative `component`.
    package static func join(_ path: String, _ component: String) -> String {
        path.hasSuffix("/") ? path + component : path + "/" + component
    }
}
