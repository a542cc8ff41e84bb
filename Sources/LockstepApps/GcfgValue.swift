/// One `name = value` line (or a bare `name`) of a gcfg file, as read: the section, subsection
/// and variable name as spelt in the file, the value after unquoting and unescaping, and the
/// 1-based line the variable starts on. `text` is `nil` for a bare name, which gcfg reads as
/// boolean true for a single-valued setting and as "forget the earlier values" for a
/// multi-valued one. The text may be a secret (a password): callers keep it out of messages.
package struct GcfgValue: Sendable, Equatable {
    package var section: String
    package var subsection: String?
    package var name: String
    package var text: String?
    package var line: Int

    package init(section: String, subsection: String?, name: String, text: String?, line: Int) {
        self.section = section
        self.subsection = subsection
        self.name = name
        self.text = text
        self.line = line
    }

    /// A bare `name` without `=`.
    package var isBlank: Bool { text == nil }

    /// The value read as gcfg reads booleans: a bare name, `true`/`yes`/`on`/`1` are true,
    /// `false`/`no`/`off`/`0` are false (any case, surrounding blanks ignored), anything else nil.
    package var bool: Bool? {
        guard let text else { return true }
        switch text.trimmingGcfgBlanks().lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: return nil
        }
    }

    /// Whether this value belongs to `section`/`subsection` and is called `name`: section and
    /// variable names compare without regard to case, subsection names exactly.
    package func matches(section: String, subsection: String?, name: String) -> Bool {
        self.subsection == subsection && GcfgDocument.sameName(self.section, section)
            && GcfgDocument.sameName(self.name, name)
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingGcfgBlanks() -> String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
