/// A PostgreSQL database a Connect backup dumps in the stop window: Connect's main database
/// (`Postgres.URL`) or its separate instrumentation database (`Postgres.InstrumentationURL`),
/// with the password setting that goes with it. It prints only the redacted URL; the URL as
/// configured is `unredactedURL` and the password `password?.revealed`, for `pg_dump` alone.
package struct PostgresDatabase: Sendable, Equatable, CustomStringConvertible {
    package enum Role: String, Sendable, Equatable {
        case main
        case instrumentation
    }

    package var role: Role
    package var url: DatabaseURL
    /// `Postgres.Password` / `Postgres.InstrumentationPassword`, when set (it takes the place
    /// of a password in the URL).
    package var password: ConnectSecret?
    package var reasons: [CaptureReason]

    package init(role: Role, url: DatabaseURL, password: ConnectSecret?, reasons: [CaptureReason]) {
        self.role = role
        self.url = url
        self.password = password
        self.reasons = reasons
    }

    /// The URL with any password shown as `****`.
    package var redactedURL: String { url.redacted }
    /// The URL as configured, password included. Never print it.
    package var unredactedURL: String { url.unredacted }

    package var description: String {
        var text = "\(role.rawValue) database \(redactedURL): " + reasons.map(\.description).joined(separator: "; ")
        if let password { text += "; password from \(password.key) (\(password.origin))" }
        return text
    }
}
