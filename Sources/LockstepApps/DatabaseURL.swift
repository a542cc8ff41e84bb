import Foundation

/// A database connection URL (`Postgres.URL`, `Postgres.InstrumentationURL`) that may embed a
/// password. Everything that prints it — `description`, `debugDescription`, the mirror — shows
/// `redacted`, where the password of the user-info part (`user:secret@`) and the value of any
/// `password=` / `…password=` parameter (URL query or `key=value` connection string) are
/// replaced by `****`. Only `unredacted` gives the URL as written, for handing to `pg_dump`.
package struct DatabaseURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    package let key: String
    package let origin: ConnectSetting.Origin
    /// The URL as configured. Never print it.
    package let unredacted: String

    package init(key: String, unredacted: String, origin: ConnectSetting.Origin) {
        self.key = key
        self.unredacted = unredacted
        self.origin = origin
    }

    /// The URL with every password replaced by `****`.
    package var redacted: String { Self.redact(unredacted) }

    /// Whether the URL carries a password itself (in user info or a parameter).
    package var hasEmbeddedPassword: Bool { Self.redact(unredacted) != unredacted }

    package var description: String { "\(key) = \(redacted) (\(origin))" }
    package var debugDescription: String { description }
    package var customMirror: Mirror { Mirror(self, children: ["key": key, "origin": origin, "url": redacted]) }

    /// `url` with the user-info password and every `…password=` parameter value replaced by
    /// `****`. It errs towards hiding: the user info is taken to end at the last `@` (a password
    /// that was not percent-encoded may hold `/`, `?`, `#` or `@`), and a parameter value runs to
    /// the next `&` or blank.
    package static func redact(_ url: String) -> String {
        var text = url
        if let schemeEnd = text.range(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            if let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                text = String(text[..<colon]) + ":****" + String(text[at...])
            }
        }
        return redactParameters(text)
    }

    /// Replaces the value of every parameter whose name ends in `password` (any case), in a URL
    /// query (`?a=b&password=c`) or a connection string (`host=h password=c`, also quoted
    /// `password='c d'`).
    private static func redactParameters(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        func startsName(_ c: Unicode.Scalar) -> Bool { c == "?" || c == "&" || c == " " || c == "\t" }
        func endsValue(_ c: Unicode.Scalar) -> Bool { c == "&" || c == " " || c == "\t" }
        var out = String.UnicodeScalarView()
        var i = 0
        var nameStart = 0
        while i < scalars.count {
            let c = scalars[i]
            out.append(c)
            i += 1
            if startsName(c) {
                nameStart = i
                continue
            }
            guard c == "=" else { continue }
            let name = String(String.UnicodeScalarView(scalars[nameStart..<(i - 1)])).lowercased()
            nameStart = i
            guard name.hasSuffix("password") else { continue }
            if i < scalars.count, scalars[i] == "'" { // a quoted connection-string value
                i += 1
                while i < scalars.count, scalars[i] != "'" {
                    if scalars[i] == "\\" { i += 1 }
                    i += 1
                }
                i = min(i + 1, scalars.count)
            } else {
                while i < scalars.count, !endsValue(scalars[i]) { i += 1 }
            }
            out.append(contentsOf: "****".unicodeScalars)
        }
        return String(out)
    }
}
