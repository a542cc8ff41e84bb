/// A file or directory an application's configuration points at (a TLS certificate, an LDAP
/// CA bundle, the landing page directory, ...): it belongs in a backup, and its absence is
/// worth a warning in `plan`. `setting` says which key and line named it.
package struct ReferencedPath: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable, Equatable {
        case file
        case directory
    }

    /// The normalized absolute path.
    package var path: String
    package var kind: Kind
    /// What this path is, for people (`TLS certificate`).
    package var purpose: String
    package var setting: ConnectSetting

    package init(path: String, kind: Kind, purpose: String, setting: ConnectSetting) {
        self.path = path
        self.kind = kind
        self.purpose = purpose
        self.setting = setting
    }

    package var description: String { "\(path) (\(purpose); \(setting.key), \(setting.origin))" }
}
