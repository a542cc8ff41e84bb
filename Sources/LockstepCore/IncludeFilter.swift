/// Which snapshot paths a partial restore (or its verification) covers: everything at or below
/// an included path, plus the directories leading to one. No includes: everything.
package struct IncludeFilter: Sendable {
    private let includes: [[[UInt8]]]

    package init(_ paths: [String]) {
        includes = paths.map { path in
            path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.map { Array($0.utf8) }
        }
    }

    /// Whether the entry at `components` is restored, and whether (being a directory on the way
    /// to an included path) it must be entered.
    package func decide(_ components: [[UInt8]]) -> (selected: Bool, leads: Bool) {
        if includes.isEmpty { return (true, false) }
        var leads = false
        for inc in includes {
            if components.count >= inc.count, Array(components.prefix(inc.count)) == inc { return (true, false) }
            if components.count < inc.count, Array(inc.prefix(components.count)) == components { leads = true }
        }
        return (false, leads)
    }

    /// Whether an entry of this kind at `components` is visited at all.
    package func visits(_ components: [[UInt8]], kind: NodeKind) -> Bool {
        let (selected, leads) = decide(components)
        return selected || (leads && kind == .directory)
    }
}
