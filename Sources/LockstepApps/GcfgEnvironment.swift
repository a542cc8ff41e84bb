import Foundation

/// Environment-variable overrides for gcfg settings, as Posit's products read them
/// (`PREFIX_SECTION_KEY`, `PREFIX_SECTION_subsection_KEY`; dashes in names become underscores).
/// Section and key match without regard to case, the subsection exactly. When several
/// variables differ only by case, the all-uppercase spelling wins, else the first in sorted
/// order, so the choice never depends on dictionary order. An empty value counts as unset.
///
/// The environment is given, never read from the process, so tests and callers decide it.
package struct GcfgEnvironment: Sendable {
    /// `CONNECT` for Posit Connect.
    package let prefix: String
    private let variables: [(name: String, upper: String, value: String)]

    package init(prefix: String, environment: [String: String]) {
        self.prefix = prefix
        let head = prefix.uppercased() + "_"
        variables = environment
            .filter { $0.key.uppercased().hasPrefix(head) && !$0.value.isEmpty }
            .map { (name: $0.key, upper: $0.key.uppercased(), value: $0.value) }
            .sorted { ($0.upper, $0.name == $0.upper ? 0 : 1, $0.name) < ($1.upper, $1.name == $1.upper ? 0 : 1, $1.name) }
    }

    private static func part(_ name: String) -> String {
        name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The canonical variable name for a setting (`CONNECT_POSTGRES_PASSWORD`).
    package func variableName(section: String, subsection: String? = nil, name: String) -> String {
        let middle = subsection.map { "_" + $0 } ?? ""
        return "\(prefix.uppercased())_\(Self.part(section))\(middle)_\(Self.part(name))"
    }

    /// The override for a setting: the variable's actual name and its value.
    package func lookup(section: String, subsection: String? = nil, name: String) -> (variable: String, value: String)? {
        let head = "\(prefix.uppercased())_\(Self.part(section))_"
        let tail = "_" + Self.part(name)
        for variable in variables where variable.upper.hasPrefix(head) && variable.upper.hasSuffix(tail) {
            let middleCount = variable.name.count - head.count - tail.count + 1
            guard middleCount >= 0 else { continue }
            let middle = String(variable.name.dropFirst(head.count).dropLast(tail.count))
            if let subsection {
                if middle == subsection { return (variable.name, variable.value) }
            } else if middleCount == 0 {
                return (variable.name, variable.value)
            }
        }
        return nil
    }

    /// Subsection names the environment sets `name` for in `section` (`CONNECT_LDAP_corp_TLSCACERTIFICATE`
    /// gives `corp`), in sorted order.
    package func subsections(section: String, name: String) -> [String] {
        let head = "\(prefix.uppercased())_\(Self.part(section))_"
        let tail = "_" + Self.part(name)
        var found: [String] = []
        for variable in variables where variable.upper.hasPrefix(head) && variable.upper.hasSuffix(tail)
            && variable.name.count > head.count + tail.count {
            let middle = String(variable.name.dropFirst(head.count).dropLast(tail.count))
            if !found.contains(middle) { found.append(middle) }
        }
        return found
    }

    /// The key parts of every variable for `section` (`CONNECT_SAML_IDPMETADATAPATH` gives
    /// `IDPMETADATAPATH`), for sections whose keys are not known in advance; sorted.
    package func keys(section: String) -> [String] {
        let head = "\(prefix.uppercased())_\(Self.part(section))_"
        var found: [String] = []
        for variable in variables where variable.upper.hasPrefix(head) && variable.upper.count > head.count {
            let key = String(variable.upper.dropFirst(head.count))
            if !found.contains(key) { found.append(key) }
        }
        return found
    }
}
