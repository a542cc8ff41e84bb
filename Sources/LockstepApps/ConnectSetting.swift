/// One effective, non-secret setting of an application's configuration: its key as the
/// documentation spells it (`Server.DataDir`, `LDAP "corp".TLSCACertificate`), its value, and
/// where the value came from (a line of the file, an environment variable, or a default) so
/// that `plan` and error messages can say why lockstep believes it.
package struct ConnectSetting: Sendable, Equatable, CustomStringConvertible {
    /// Where a setting's value came from.
    package enum Origin: Sendable, Equatable, CustomStringConvertible {
        /// A line of the configuration file.
        case file(path: String, line: Int)
        /// An environment variable (`CONNECT_SERVER_DATADIR`).
        case environment(variable: String)
        /// Not set; the documented default, with how it is derived.
        case defaultValue(String)

        /// Where, for the start of an error message: `PATH:LINE`, `environment variable NAME`
        /// or `default`.
        package var location: String {
            switch self {
            case let .file(path, line): "\(path):\(line)"
            case let .environment(variable): "environment variable \(variable)"
            case .defaultValue: "default"
            }
        }

        package var description: String {
            switch self {
            case let .file(path, line): "\(path) line \(line)"
            case let .environment(variable): "environment variable \(variable)"
            case let .defaultValue(how): how
            }
        }
    }

    package var key: String
    package var value: String
    package var origin: Origin

    package init(key: String, value: String, origin: Origin) {
        self.key = key
        self.value = value
        self.origin = origin
    }

    package var description: String { "\(key) = \(value) (\(origin))" }
}
