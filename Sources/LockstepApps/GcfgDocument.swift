/// A parsed gcfg (git-config style) file: every section header and every variable in file
/// order, with the line each came from. Lookups follow gcfg: section and variable names match
/// without regard to case, subsection names exactly (`nil` is the section without subsection);
/// repeated sections add up; `value` gives the last occurrence (last one wins) and `values`
/// every occurrence in order, where a bare `name` forgets the values before it (gcfg's reset
/// for multi-valued variables such as `Python.Executable`).
///
/// Values may hold secrets, so `description` shows the shape of the document, never a value.
package struct GcfgDocument: Sendable, CustomStringConvertible, CustomReflectable {
    /// A `[Section]` or `[Section "subsection"]` header and the line it is on.
    package struct SectionHeader: Sendable, Equatable {
        package var section: String
        package var subsection: String?
        package var line: Int

        package init(section: String, subsection: String?, line: Int) {
            self.section = section
            self.subsection = subsection
            self.line = line
        }
    }

    /// The file the document was read from, for messages.
    package let path: String
    /// Every section header in file order (a repeated section appears once per header).
    package let headers: [SectionHeader]
    /// Every variable in file order.
    package let entries: [GcfgValue]

    package init(path: String, headers: [SectionHeader], entries: [GcfgValue]) {
        self.path = path
        self.headers = headers
        self.entries = entries
    }

    /// Whether two section or variable names are the same name to gcfg.
    package static func sameName(_ a: String, _ b: String) -> Bool {
        a.lowercased() == b.lowercased()
    }

    /// The last occurrence of the variable (last one wins), blank or not.
    package func value(section: String, subsection: String? = nil, name: String) -> GcfgValue? {
        entries.last { $0.matches(section: section, subsection: subsection, name: name) }
    }

    /// Every occurrence of the variable in file order, starting after the last bare `name`
    /// (which resets a multi-valued variable and is itself not a value).
    package func values(section: String, subsection: String? = nil, name: String) -> [GcfgValue] {
        var found: [GcfgValue] = []
        for entry in entries where entry.matches(section: section, subsection: subsection, name: name) {
            if entry.isBlank { found.removeAll() } else { found.append(entry) }
        }
        return found
    }

    /// Whether the file has a header for the section (and subsection).
    package func hasSection(_ section: String, subsection: String? = nil) -> Bool {
        headers.contains { $0.subsection == subsection && Self.sameName($0.section, section) }
    }

    /// The subsection names used with `section`, in order of first appearance.
    package func subsections(of section: String) -> [String] {
        var seen: [String] = []
        for header in headers where Self.sameName(header.section, section) {
            if let sub = header.subsection, !seen.contains(sub) { seen.append(sub) }
        }
        return seen
    }

    /// The distinct variable names of a section (as first spelt), in order of first appearance.
    package func names(section: String, subsection: String? = nil) -> [String] {
        var seen: [String] = []
        for entry in entries where entry.subsection == subsection && Self.sameName(entry.section, section) {
            if !seen.contains(where: { Self.sameName($0, entry.name) }) { seen.append(entry.name) }
        }
        return seen
    }

    package var description: String {
        "gcfg document \(path): \(headers.count) section headers, \(entries.count) variables"
    }

    package var customMirror: Mirror {
        Mirror(self, children: ["path": path, "headers": headers.count, "entries": entries.count])
    }
}
